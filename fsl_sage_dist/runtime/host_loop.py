"""HostLoop: a client host's rounds (a `RankLoop`): train its clients, then report to the server."""

from __future__ import annotations

from typing import Any

from .client_host import ClientHostRole
from .process_group import RankInfo
from .round_report import reduce_round


class HostLoop:
    def __init__(self, role: ClientHostRole, info: RankInfo) -> None:
        self.role, self.info = role, info

    def start(self, first_round: int) -> None:
        """Nothing to write: the server owns RUN_DIR's files."""

    def run_round(self, round_: int) -> None:
        reduce_round(self.role.run_round(round_), self.info, self.role.ctx.channel.transport)

    def state_dict(self) -> dict[str, Any]:
        return {"clients": {str(c.id): c.state_dict() for c in self.role.clients},
                "algorithm": self.role.algo.host_state_dict()}

    def load_state_dict(self, state: dict[str, Any], round_: int) -> None:
        for client in self.role.clients:
            client.load_state_dict(state["clients"][str(client.id)])
        self.role.algo.load_host_state_dict(state["algorithm"])

    def finish(self) -> None:
        """Nothing to write: the server owns RUN_DIR's files."""
