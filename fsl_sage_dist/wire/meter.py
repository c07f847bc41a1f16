"""ByteMeter: every byte that crosses between the server and a client, by category and direction.

The meter counts *logical client traffic*: what a deployment with one process per client would
send. Each record carries the client it belongs to, so per-rank meters can be summed onto the
server exactly (integers, one slot per client), whatever the placement of clients on ranks.

`payload` = everything but labels and control (the paper's reference counting);
`wire` = everything.

Each record is also kept as one message of the round's log (`rundir/messages.py`), tagged with the
local iteration the host last declared for that client (`at`), so the log and the counts come
from the same call and cannot disagree.
"""

from __future__ import annotations

import torch

from fsl_sage_dist.units import NO_ITERATION

CATEGORIES = ("activations", "labels", "cut_grads", "client_model", "aux_model", "control")
DIRECTIONS = ("up", "down")  # up = client -> server, down = server -> client
PAYLOAD_CATEGORIES = ("activations", "cut_grads", "client_model", "aux_model")


class ByteMeter:
    """Per-client byte counts for the current round, plus totals over finished rounds."""

    def __init__(self, num_clients: int) -> None:
        self.num_clients = num_clients
        self._round = zero_counts(num_clients)
        self._iteration: dict[int, int] = {}
        self._messages: list[tuple[int, int, int, int, int]] = []

    def at(self, client: int, iteration: int | None) -> None:
        """The client's next messages belong to this local iteration (None: the round end)."""
        self._iteration[client] = NO_ITERATION if iteration is None else iteration

    def record(self, client: int, direction: str, category: str, nbytes: int) -> None:
        cat, way = CATEGORIES.index(category), DIRECTIONS.index(direction)
        self._round[client, cat, way] += nbytes
        self._messages.append((client, self._iteration.get(client, NO_ITERATION), cat, way, nbytes))

    def take_messages(self) -> torch.Tensor:
        """This round's messages as [messages, 5] int64, in record order: client, iteration,
        category index, direction index, bytes; the next round's log starts empty."""
        messages = torch.tensor(self._messages, dtype=torch.int64).reshape(-1, 5)
        self._messages, self._iteration = [], {}
        return messages

    def round_counts(self) -> torch.Tensor:
        """[clients, categories, directions] int64 counts of this round (a copy)."""
        return self._round.clone()

    def take_round(self) -> torch.Tensor:
        """This round's counts; the meter starts the next round from zero."""
        counts, self._round = self._round, zero_counts(self.num_clients)
        return counts


def zero_counts(num_clients: int) -> torch.Tensor:
    """[clients, categories, directions] int64 zeros: no bytes yet."""
    return torch.zeros(num_clients, len(CATEGORIES), len(DIRECTIONS), dtype=torch.int64)


def counts_to_bytes(counts: torch.Tensor) -> dict[str, dict[str, int]]:
    """Sum a [clients, categories, directions] count tensor over clients: {category: {up, down}}."""
    total = counts.sum(dim=0)
    return {
        cat: {d: int(total[i, j]) for j, d in enumerate(DIRECTIONS)}
        for i, cat in enumerate(CATEGORIES)
    }


def payload_bytes(by_category: dict[str, dict[str, int]]) -> int:
    return sum(sum(by_category[c].values()) for c in PAYLOAD_CATEGORIES)


def wire_bytes(by_category: dict[str, dict[str, int]]) -> int:
    return sum(sum(v.values()) for v in by_category.values())
