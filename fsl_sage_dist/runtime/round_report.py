"""What every rank reports to the server at the end of a round (`RoundResult`), and their sum
(`RoundReport`), made by one exempt reduction.

Per-client slots (bytes by category and direction, training-loss sums) are filled only by the
rank that hosts or serves that client, so the SUM reduction adds each number to zeros and the
result is exact and independent of the layout. This reduction is bookkeeping, not client
traffic: it is not metered and does not go through the `Channel` (only its transport). The
round's message log (metered messages and client compute times) rides along the same way
(`round_log.gather_rows`), and so does the memory meter's account of each participant (a
per-client slot too) and each rank's measured peak (`memory/`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import torch

from fsl_sage_dist.algorithms.base import StepLoss
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.memory import PARTS, MeasuredPeak
from fsl_sage_dist.runtime.round_log import gather_rows
from fsl_sage_dist.units import MIB
from fsl_sage_dist.wire import Transport


@dataclass
class RoundResult:
    """One rank's round, as its role returns it."""

    losses: list[StepLoss]
    """The training losses computed on this rank."""
    byte_counts: torch.Tensor
    """[clients, categories, directions] int64: the round's meter (zeros on the server)."""
    wall_s: float
    """Wall seconds in the round loop, waits included."""
    cpu_s: float
    """CPU seconds the process used in the round loop (compute)."""
    participants: list[int]
    """The round's sampled clients, ascending."""
    messages: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 5, dtype=torch.int64))
    """[n, 5] int64: the round's metered messages (`ByteMeter.take_messages`; none on the
    server)."""
    client_compute: torch.Tensor = field(
        default_factory=lambda: torch.zeros(0, 4, dtype=torch.float64)
    )
    """[n, 4] float64: this rank's clients' compute times (`round_log.compute_rows`)."""
    memory: dict[Hashable, dict[str, int]] = field(default_factory=dict)
    """Client id -> memory parts at that client's peak this round (`MemoryMeter.take_round`;
    none on the server, which reports its own to its loop)."""


@dataclass
class RoundReport:
    byte_counts: torch.Tensor
    """[clients, categories, directions] int64."""
    loss: torch.Tensor
    """[clients, 4] float64: (sum of per-sample full-model training loss, samples, the same for
    the client's aux-head loss)."""
    busy_s: torch.Tensor
    """[ranks] float64: wall seconds each rank spent in its round loop (waits included)."""
    cpu_s: torch.Tensor
    """[ranks] float64: CPU seconds each rank's process used in its round loop (compute)."""
    peak_rss_mib: torch.Tensor
    """[ranks] float64: each rank's resident peak over the run so far."""
    measured_peak_bytes: torch.Tensor
    """[ranks] float64: each rank's measured peak of this round (`memory/measured.py`)."""
    client_memory: torch.Tensor
    """[clients, parts] int64: each participant's memory parts at its peak (`memory.PARTS`);
    zeros for the others."""
    messages: torch.Tensor
    """Every host's `RoundResult.messages`, in rank order."""
    client_compute: torch.Tensor
    """Every host's `RoundResult.client_compute`, in rank order."""

    def _mean(self, column: int) -> float | None:
        total = self.loss.sum(dim=0)  # ascending client order: fixed, layout-independent
        return float(total[column] / total[column + 1]) if total[column + 1] > 0 else None

    @property
    def train_loss(self) -> float | None:
        """The full model's NLL on the batches it saw (the uploaded ones, for lazy servers)."""
        return self._mean(0)

    @property
    def client_loss(self) -> float | None:
        """Each client's own objective over all its batches: its aux head's NLL where it has
        one, otherwise the full model's NLL (computed for every batch there)."""
        aux = self._mean(2)
        return self.train_loss if aux is None else aux


def reduce_round(
    result: RoundResult, info: RankInfo, transport: Transport, measured: MeasuredPeak
) -> RoundReport | None:
    """Sum every rank's numbers onto rank 0; returns the report there, None elsewhere.
    `measured` is this rank's, read (and reset) here, once per round."""
    loss = torch.zeros(len(result.byte_counts), 4, dtype=torch.float64)
    for step in result.losses:
        column = 2 if step.aux else 0
        loss[step.client, column] += step.loss_sum
        loss[step.client, column + 1] += step.samples
    memory = torch.zeros(len(result.byte_counts), len(PARTS), dtype=torch.int64)
    for client, parts in result.memory.items():
        memory[client] = torch.tensor([parts[p] for p in PARTS])
    round_peak, run_rss = measured.take()
    per_rank = torch.zeros(4, info.world_size, dtype=torch.float64)
    per_rank[:, info.rank] = torch.tensor(
        [result.wall_s, result.cpu_s, run_rss / MIB, round_peak], dtype=torch.float64
    )
    staged = [p.to(info.comm_device) for p in (result.byte_counts, loss, per_rank, memory)]
    for tensor in staged:
        transport.reduce(tensor)
    logged = [
        gather_rows(rows, info, transport) for rows in (result.messages, result.client_compute)
    ]
    if info.rank != 0:
        return None
    counts, loss, per_rank, memory = (t.cpu() for t in staged)
    return RoundReport(counts, loss, *per_rank, memory, *logged)
