"""The round's message log on its way to the server: every host's metered messages and client
compute times arrive with the round report (`round_report.reduce_round`), the server adds its own
times (`ServerTimes`) and `round_record.round_messages` makes them messages.jsonl's round.

Variable-length rows travel in the report's exempt reduction: each rank fills only its own slot
of a [ranks, longest, columns] table of zeros and a SUM onto the server assembles it. Adding
zeros is exact for integers and floats alike, so the server gets every host's rows bit for bit,
in rank order, each host's in record order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.wire import Transport


@dataclass
class ServerTimes:
    """The server's compute seconds in one round."""

    step_s: dict[tuple[int, int], float] = field(default_factory=dict)
    """(client, iteration) of an upload -> the server's work on it, alignment excluded."""
    average_s: dict[str, float] = field(default_factory=dict)
    """category -> averaging it (the broadcast excluded)."""
    round_end_s: float = 0.0
    """The algorithm's own round end (`server_round_end`)."""


def compute_rows(compute_s: dict[tuple[int, int], tuple[float, float]]) -> torch.Tensor:
    """[n, 4] float64: client, iteration, forward seconds, update seconds."""
    return torch.tensor(
        [[c, it, f, u] for (c, it), (f, u) in sorted(compute_s.items())], dtype=torch.float64
    ).reshape(-1, 4)


def gather_rows(rows: torch.Tensor, info: RankInfo, transport: Transport) -> torch.Tensor:
    """Every rank's [n, k] rows, concatenated in rank order on rank 0 (its own rows elsewhere)."""
    counts = torch.zeros(info.world_size, dtype=torch.int64, device=info.comm_device)
    counts[info.rank] = len(rows)
    transport.all_reduce(counts)  # every rank sizes the table alike
    table = torch.zeros(
        info.world_size, int(counts.max()), rows.shape[1], dtype=rows.dtype, device=info.comm_device
    )
    table[info.rank, : len(rows)] = rows.to(info.comm_device)
    transport.reduce(table)
    if info.rank != 0:
        return rows
    counts, table = counts.cpu(), table.cpu()
    return torch.cat([table[r, : int(n)] for r, n in enumerate(counts)])
