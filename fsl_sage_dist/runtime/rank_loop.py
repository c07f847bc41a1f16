"""RankLoop: what a rank's round loop offers to whoever drives it.

Both roles implement it (`server_loop.ServerLoop`, `host_loop.HostLoop`); `worker.py` drives one
per process with checkpoints in between, and the in-process baseline drives all of them in one
process (`in_process.py`).
"""

from __future__ import annotations

from typing import Any, Protocol


class RankLoop(Protocol):
    def start(self, first_round: int) -> None:
        """Called once every rank has resumed (or starts fresh): only now may RUN_DIR change."""

    def run_round(self, round_: int) -> None:
        """One round of this rank's role, ending with the round report to the server."""

    def state_dict(self) -> dict[str, Any]:
        """What this rank's checkpoint file holds."""

    def load_state_dict(self, state: dict[str, Any], round_: int) -> None:
        """Resume from `state`, saved after round `round_`."""

    def finish(self) -> None:
        """After the last round."""
