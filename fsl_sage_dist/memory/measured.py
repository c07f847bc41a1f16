"""What the rank's process really used, beside the accounting: its peak in each round.

On a GPU, `torch.cuda.max_memory_allocated` (reset after each reading); on a CPU, the process's
resident high-water mark (`VmHWM` in /proc/self/status), reset after each reading by writing 5
to /proc/self/clear_refs, where the kernel allows it (Linux 4.0 and later). Where it does not,
a CPU reading is the process's peak so far. The first reading covers start-up too (torch, the
data set, the model built), and the run's peak is the largest reading, kept beside the rounds'.
"""

from __future__ import annotations

import resource
from pathlib import Path

import torch


def resident_peak_bytes() -> int:
    """This process's peak resident memory since start or the last reset. /proc's VmHWM belongs
    to this program alone; getrusage's ru_maxrss (the fallback off Linux) carries over the RSS
    of whatever process forked this one before exec, e.g. a large test runner."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _reset_resident_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # the kernel does not allow it: the next reading is the peak so far


class MeasuredPeak:
    """One per rank: `take()` at each round's end."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.run_rss_bytes = 0
        """The process's resident peak over the run so far (summary.json's `peak_rss_mib`)."""

    def take(self) -> tuple[int, int]:
        """(this round's measured peak bytes, the run's resident peak so far); resets both
        high-water marks for the next round where it can."""
        rss = resident_peak_bytes()
        self.run_rss_bytes = max(self.run_rss_bytes, rss)
        _reset_resident_peak()
        if not self.cuda:
            return rss, self.run_rss_bytes
        peak = torch.cuda.max_memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        return peak, self.run_rss_bytes
