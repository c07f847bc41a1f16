"""The server's rounds: serve, collect the round report, evaluate, and record.

Evaluation runs after the round's reduction, so client hosts start the next round while the
server evaluates. Every file of RUN_DIR is the recorder's (`report/recorder.py`), each round's
records are assembled by `round_record.py`.
"""

from __future__ import annotations

import time
from typing import Any

from fsl_sage_dist.config import Config
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.memory import MeasuredPeak
from fsl_sage_dist.report.recorder import Kept, RunRecorder
from fsl_sage_dist.runtime.round_record import Evaluation, RoundRecords
from fsl_sage_dist.runtime.round_report import reduce_round
from fsl_sage_dist.runtime.server import ServerRole


def evaluates(round_: int, rounds: int, every: int) -> bool:
    """Whether round `round_` of `rounds` ends with an evaluation: every `every`-th
    (`eval.every`) and the last."""
    return round_ == rounds - 1 or (round_ + 1) % every == 0


class ServerLoop:
    """Rank 0's rounds (a `RankLoop`): the server's role, then the round's records."""

    def __init__(
        self, cfg: Config, role: ServerRole, info: RankInfo, partition: dict[str, Any]
    ) -> None:
        self.cfg, self.info, self.role = cfg, info, role
        self.records = RoundRecords(cfg, role)
        self.recorder = RunRecorder(cfg, partition, role.template, info.world_size)
        self.kept = Kept()  # what a resumed checkpoint covers: set by `load_state_dict`
        self.peak_rss_mib: list[float] = []
        self.measured = MeasuredPeak(info.device)
        self.last_round_end = time.perf_counter()

    def start(self, first_round: int) -> None:
        """Called once resuming (if any) succeeded on every rank: only now may RUN_DIR change."""
        self.recorder.start(first_round, self.kept)
        self.role.ctx.states.remove_unreferenced()
        self.role.on_status = self.recorder.status
        self.last_round_end = time.perf_counter()

    def run_round(self, round_: int) -> None:
        result = self.role.run_round(round_)
        transport = self.role.ctx.channel.transport
        report = reduce_round(result, self.info, transport, self.measured)
        self.peak_rss_mib = report.peak_rss_mib.tolist()
        evaluation = self._evaluate(round_)
        # Wall time from the previous round's end to this one's: hosts start a round while the
        # server still evaluates the last, so the server's own loop time would undercount.
        now = time.perf_counter()
        round_s, self.last_round_end = now - self.last_round_end, now
        record, messages = self.records.assemble(
            round_, result.participants, report, evaluation, round_s, self.recorder.last
        )
        self.recorder.record(record, messages)

    def _evaluate(self, round_: int) -> Evaluation:
        if not evaluates(round_, self.cfg.rounds, self.cfg.eval.every):
            return Evaluation()
        start = time.perf_counter()
        acc, loss = self.role.evaluate()
        seconds = time.perf_counter() - start
        decoded = self.role.slot_error_rate() if self.role.template.objective.perplexity else None
        return Evaluation(acc, loss, seconds, decoded)

    def state_dict(self) -> dict[str, Any]:
        """For a checkpoint (once per checkpoint: see `client_store.py`)."""
        return {
            "global_client": self.role.global_client.state_dict(),
            "client_states": self.role.ctx.states.state_dict(),
            "algorithm": self.role.side.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], round_: int) -> None:
        self.role.global_client.load_state_dict(state["global_client"])
        self.role.ctx.states.load_state_dict(state["client_states"])
        self.role.side.load_state_dict(state["algorithm"])
        self.kept = self.recorder.read_covered(round_)  # written back by `start`

    def finish(self) -> None:
        final = {
            "client": self.role.global_client.state_dict(),
            "full": self.role.side.eval_model(self.role.global_client).state_dict(),
        }
        self.recorder.finish(final, self.peak_rss_mib)
