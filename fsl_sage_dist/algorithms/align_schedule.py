"""Which FSL-SAGE clients align in a round (ALGORITHMS.md Part I, decision 13).

Per client: p, the rounds it took part in before this one, and the round it was last aligned
in. A client taking part in round t is aligned at its first iteration when
- `fsl.align_staleness = "participations"`: p % l == 0, i.e. once per l of its own rounds, so
  its alignment cost stays FSL-SAGE's whatever the sampling; or
- `"rounds"`: it was never aligned, or t - last_aligned >= l, which bounds how far the server
  has moved since its head was fitted.
When every client takes part in every round both are exactly the reference's t % l == 0.

The server and every client host keep one, advance it with the same participants (which every
rank derives alike) and checkpoint it, so they agree without a message.
"""

from __future__ import annotations

from typing import Any


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
