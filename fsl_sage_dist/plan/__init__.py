"""What every rank derives from the config alone, without a message: torch-free (numpy at
most), so the dry run and the timeline read the same facts the ranks act on."""

from fsl_sage_dist.plan.spec import SPECS, AlgorithmSpec

__all__ = ["SPECS", "AlgorithmSpec"]
