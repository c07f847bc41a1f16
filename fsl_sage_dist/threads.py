"""Intra-op thread counts of a rank: a fair share of the node's cores, and borrowing them all.

A leaf module (torch only; it takes `runtime.threads_per_rank`, not the config), so both the
runtime (which sets each rank's share) and an algorithm (whose server borrows every core while
its peers wait for it) can use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def set_threads(threads_per_rank: int, local_world: int) -> int:
    """Intra-op threads: `threads_per_rank`, or (0) the cores shared fairly among the node's
    `local_world` ranks."""
    threads = threads_per_rank or max(1, (os.cpu_count() or 1) // local_world)
    torch.set_num_threads(threads)
    return threads


@contextmanager
def borrowed_cores(threads_per_rank: int) -> Iterator[None]:
    """Every core of the node for a stretch in which this rank's peers wait for it (the server
    during synchronous alignment), then the fair share again. Automatic thread counts only
    (`runtime.threads_per_rank` = 0): an explicit count is always kept."""
    fair = torch.get_num_threads()
    if threads_per_rank == 0:
        torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(fair)
