"""HostLoop: a client host's rounds (a `RankLoop`): train its clients, then report to the server."""

from __future__ import annotations

from typing import Any

from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.log import logger
from fsl_sage_dist.memory import MeasuredPeak
from fsl_sage_dist.runtime.client_host import ClientHostRole
from fsl_sage_dist.runtime.round_report import reduce_round


class HostLoop:
    def __init__(self, role: ClientHostRole, info: RankInfo) -> None:
        self.role, self.info = role, info
        self.measured = MeasuredPeak(info.device)

    def start(self, first_round: int) -> None:
        """Remove spilled client state that the checkpoint resumed from does not refer to (the
        server owns RUN_DIR's other files)."""
        self.role.ctx.states.remove_unreferenced()

    def run_round(self, round_: int) -> None:
        result = self.role.run_round(round_)
        trained = len(set(result.participants) & self.role.data.keys())
        logger.info(
            f"round {round_ + 1}: {trained} clients trained in {result.wall_s:.2f} s "
            f"({result.cpu_s:.2f} CPU s)"
        )
        reduce_round(result, self.info, self.role.ctx.channel.transport, self.measured)

    def state_dict(self) -> dict[str, Any]:
        """For a checkpoint (once per checkpoint: spilled client state is kept for the last
        two, see `client_store.py`)."""
        return {
            "global": {k: m.state_dict() for k, m in self.role.global_parts.items()},
            "client_states": self.role.ctx.states.state_dict(),
            "algorithm": self.role.side.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], round_: int) -> None:
        for category, module in self.role.global_parts.items():
            module.load_state_dict(state["global"][category])
        self.role.ctx.states.load_state_dict(state["client_states"])
        self.role.side.load_state_dict(state["algorithm"])

    def finish(self) -> None:
        """Nothing to write: the server owns RUN_DIR's files."""
