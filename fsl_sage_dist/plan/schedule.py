"""The order of a round's steps and uploads, and which FSL-SAGE clients align when.

**Steps and uploads.** Every (client, iteration) of a round runs in one of two orders, which the
server and the client hosts both follow, so the server always knows who speaks next:

- lockstep: iteration by iteration, clients ascending (a host's clients advance together,
  `runtime/client_host.py`);
- whole turns (`AlgorithmSpec.whole_turns`): client by client, each through all its iterations.

The server applies uploads in that order restricted to the upload iterations
(`upload_order`); the timeline replays a round's server steps in the same order.

**Alignment** (ALGORITHMS.md Part I, decision 13). Per client: p, the rounds it took part in
before this one, and the round it was last aligned in. A client taking part in round t is
aligned at its first iteration when
- `fsl.align_staleness = "participations"`: p % l == 0, i.e. once per l of its own rounds, so
  its alignment cost stays FSL-SAGE's whatever the sampling; or
- `"rounds"`: it was never aligned, or t - last_aligned >= l, which bounds how far the server
  has moved since its head was fitted.
When every client takes part in every round both are exactly the reference's t % l == 0.

The server and every client host keep an `AlignSchedule`, advance it with the same participants
(which every rank derives alike) and checkpoint it, so they agree without a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def step_order(
    chosen: Sequence[int], iterations: Callable[[int], int], whole_turns: bool
) -> list[tuple[int, int]]:
    """(client, iteration) of every local step of a round, in the order they are taken;
    `chosen` ascending, `iterations(c)` the local iterations of client c."""
    if whole_turns:
        return [(c, it) for c in chosen for it in range(iterations(c))]
    longest = max(iterations(c) for c in chosen)
    return [(c, it) for it in range(longest) for c in chosen if it < iterations(c)]


def upload_order(
    chosen: Sequence[int],
    iterations: Callable[[int], int],
    uploads_at: Callable[[int], bool],
    whole_turns: bool,
) -> list[tuple[int, int]]:
    """(client, iteration) of every upload of a round, in the order the server applies them."""
    return [(c, it) for c, it in step_order(chosen, iterations, whole_turns) if uploads_at(it)]


class AlignSchedule:
    def __init__(self, interval_rounds: int, staleness: str) -> None:
        self.interval = interval_rounds
        self.staleness = staleness
        self.participations: dict[int, int] = {}
        self.last_aligned: dict[int, int] = {}
        self.aligned: list[int] = []
        """The clients aligned in the current round, ascending."""

    def _due(self, client: int, round_: int) -> bool:
        if self.staleness == "participations":
            return self.participations.get(client, 0) % self.interval == 0
        last = self.last_aligned.get(client)
        return last is None or round_ - last >= self.interval

    def start_round(self, round_: int, participants: list[int]) -> list[int]:
        """Decide this round's alignments, then count the participation."""
        self.aligned = [c for c in sorted(participants) if self._due(c, round_)]
        for client in participants:
            self.participations[client] = self.participations.get(client, 0) + 1
        for client in self.aligned:
            self.last_aligned[client] = round_
        return self.aligned

    def state_dict(self) -> dict[str, Any]:
        return {
            "participations": {str(c): p for c, p in self.participations.items()},
            "last_aligned": {str(c): t for c, t in self.last_aligned.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.participations = {int(c): p for c, p in state["participations"].items()}
        self.last_aligned = {int(c): t for c, t in state["last_aligned"].items()}
