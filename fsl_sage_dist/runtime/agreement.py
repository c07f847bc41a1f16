"""What the ranks agree on outside client traffic: one row of integers from every rank.

The config check at start-up and the checkpoint agreement (`rank_checkpoint.py`) each need every
rank to learn what every other rank found. Each rank fills its own row of a zero table and one
SUM over the rank's `Transport` (torch.distributed in a job, the loopback in one process) makes
the whole table on every rank. These are exempt collectives, bookkeeping rather than client
traffic, so they never go through a `Channel` and are not metered.
"""

from __future__ import annotations

import torch

from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.wire.transport import Transport


def gather_rows(row: list[int], info: RankInfo, transport: Transport) -> list[list[int]]:
    """Every rank's `row` of integers, in rank order. Every rank must call this, also one that
    has already failed: that is what keeps the others from waiting for it."""
    table = torch.zeros(info.world_size, len(row), dtype=torch.int64, device=info.comm_device)
    table[info.rank] = torch.tensor(row, dtype=torch.int64)
    transport.all_reduce(table)
    return table.tolist()
