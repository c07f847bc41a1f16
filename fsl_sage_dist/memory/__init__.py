"""The memory meter: what each side holds in a round, by part, beside what the rank measured.

    meter = MemoryMeter()                       # one per rank (the algorithms' Context)
    with meter.phase(client.id, held, inputs=(x, y)):
        ...                                     # forward, update, a server step, a fit
    peaks = meter.take_round()                  # key -> parts at that key's peak

`holdings.py` counts tensors by storage, `saved.py` the activations autograd keeps, `meter.py`
the phases and peaks, `measured.py` the process's own peak, `closed_form.py` the shape-determined
parts of the built-in models without a run (the dry run, the memory benchmark).
"""

from fsl_sage_dist.memory.holdings import PARTS, Holdings
from fsl_sage_dist.memory.measured import MeasuredPeak
from fsl_sage_dist.memory.meter import SERVER, MemoryMeter, total

__all__ = ["PARTS", "SERVER", "Holdings", "MeasuredPeak", "MemoryMeter", "total"]
