"""The server's rounds: serve, collect the round report, evaluate, and write RUN_DIR's files.

Evaluation runs after the round's reduction, so client hosts start the next round while the
server evaluates.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from fsl_sage_dist.atomic_write import write_atomic
from fsl_sage_dist.config import Config
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.log import logger
from fsl_sage_dist.message_log import MESSAGES_FILE, RoundLog
from fsl_sage_dist.metrics import MetricsLog, check_losses_finite, summarize, write_json
from fsl_sage_dist.models import SplitModel, state_nbytes
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.progress import Progress
from fsl_sage_dist.runtime.round_log import round_log
from fsl_sage_dist.runtime.round_report import RoundReport, reduce_round
from fsl_sage_dist.runtime.server import ServerRole
from fsl_sage_dist.tensorboard import RoundLogger, make_logger
from fsl_sage_dist.timeline import simulate_round
from fsl_sage_dist.wire import counts_to_bytes, payload_bytes, wire_bytes


def round_record(
    cfg: Config,
    round_: int,
    report: RoundReport,
    acc: float | None,
    loss: float | None,
    round_s: float,
    prev: dict | None,
) -> dict[str, Any]:
    by_category = counts_to_bytes(report.byte_counts)
    cum_payload = (prev["cum_payload_bytes"] if prev else 0) + payload_bytes(by_category)
    cum_wire = (prev["cum_wire_bytes"] if prev else 0) + wire_bytes(by_category)
    return {
        "round": round_,
        "algorithm": cfg.algorithm,
        "test_acc": acc,
        "test_loss": loss,
        "train_loss": report.train_loss,
        "client_loss": report.client_loss,
        "round_s": round_s,
        "bytes": by_category,
        "round_payload_bytes": payload_bytes(by_category),
        "round_wire_bytes": wire_bytes(by_category),
        "cum_payload_bytes": cum_payload,
        "cum_wire_bytes": cum_wire,
        "host_busy_s": report.busy_s[1:].tolist(),
        "host_cpu_s": report.cpu_s[1:].tolist(),
    }


def describe_model(cfg: Config, model: SplitModel) -> str:
    cut = "x".join(map(str, model.cut_shape))
    per_sample = 4 * math.prod(model.cut_shape)
    return (
        f"model {cfg.model.name}: smashed activations {cut} per sample ({per_sample} B "
        f"fp32); state bytes client {state_nbytes(model.client):,}, server "
        f"{state_nbytes(model.server):,}, aux {state_nbytes(model.aux):,}"
    )


def describe_partition(path: Path, show: int = 20) -> str:
    """Samples and label histogram per client (the first `show`; all are in partition.json)."""
    summary = json.loads(path.read_text())
    clients = summary["clients"]
    lines = [
        f"partition {summary['scheme']}: {len(clients)} clients, samples "
        f"{min(c['samples'] for c in clients)}..{max(c['samples'] for c in clients)} "
        f"(label histograms in {path})"
    ]
    lines += [
        f"  client {c['client']:>4}: {c['samples']:>6} samples  labels {c['label_histogram']}"
        for c in clients[:show]
    ]
    return "\n".join(lines)


def evaluates(round_: int, rounds: int, every: int) -> bool:
    """Whether round `round_` of `rounds` ends with an evaluation: every `every`-th
    (`eval.every`) and the last."""
    return round_ == rounds - 1 or (round_ + 1) % every == 0


class ServerLoop:
    """Rank 0's rounds (a `RankLoop`): the server's role, then RUN_DIR's files."""

    def __init__(
        self, cfg: Config, role: ServerRole, info: RankInfo, partition: dict[str, Any]
    ) -> None:
        self.cfg, self.info, self.partition = cfg, info, partition
        self.role = role
        self.log = MetricsLog(cfg.run_dir)
        self.messages = MetricsLog(cfg.run_dir, MESSAGES_FILE)
        self.shape = Plan.of(cfg)
        self.tb: RoundLogger | None = None  # opened by `start`, after a possible resume
        self.progress = Progress(cfg.rounds)
        self.peak_rss_mib: list[float] = []

    def start(self, first_round: int) -> None:
        """Called once resuming (if any) succeeded on every rank: only now may RUN_DIR change.
        metrics.jsonl keeps the rounds the checkpoint covers (none on a fresh start, where a
        failed first attempt may have left an empty file)."""
        self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
        self.role.ctx.states.remove_unreferenced()
        write_atomic(self.cfg.run_dir / "config.toml", self.cfg.to_toml().encode())
        write_json(self.cfg.run_dir / "partition.json", self.partition)
        self.log.restore(self.log.records)
        self.messages.restore(self.messages.records)
        self.tb = make_logger(
            self.cfg.run_dir, True, self.cfg.to_toml(), rebuild_from=self.log.records
        )
        self.last_round_end = time.perf_counter()
        self.progress.begin(first_round)
        self.role.on_status = self.progress.status
        if first_round == 0:
            logger.info(describe_model(self.cfg, self.role.template))
            logger.info(describe_partition(self.cfg.run_dir / "partition.json"))

    def run_round(self, round_: int) -> None:
        result = self.role.run_round(round_)
        report = reduce_round(result, self.info, self.role.ctx.channel.transport)
        self.peak_rss_mib = report.peak_rss_mib.tolist()
        acc, loss, eval_s = None, None, None
        if evaluates(round_, self.cfg.rounds, self.cfg.eval.every):
            start = time.perf_counter()
            acc, loss = self.role.evaluate()
            eval_s = time.perf_counter() - start
        log = round_log(
            round_,
            result.participants,
            report.messages,
            report.client_compute,
            self.role.times,
            self.role.side.notes().align_s,
            eval_s,
        )
        # Wall time from the previous round's end to this one's: hosts start a round while the
        # server still evaluates the last, so the server's own loop time would undercount.
        now = time.perf_counter()
        round_s, self.last_round_end = now - self.last_round_end, now
        prev = self.log.records[-1] if self.log.records else None
        record = (
            round_record(self.cfg, round_, report, acc, loss, round_s, prev)
            | {"participants": result.participants}
            | self.role.side.notes().metrics()
            | self._simulated(log, prev)
        )
        if self.role.template.objective.perplexity:  # a language model
            record["test_ppl"] = None if loss is None else math.exp(loss)
            record["test_ser"] = None if loss is None else self.role.slot_error_rate()
        self.messages.append(log.to_json())
        self.log.append(record)
        check_losses_finite(record)
        self.tb.log_round(record)
        self.progress.update(record)

    def _simulated(self, log: RoundLog, prev: dict | None) -> dict[str, float]:
        """`sim_round_s` and `cum_sim_s` on the configured network profile (timeline.py)."""
        if not self.cfg.network.enabled:
            return {}
        seconds = simulate_round(self.shape, log, self.cfg.network).seconds
        return {
            "sim_round_s": seconds,
            "cum_sim_s": (prev.get("cum_sim_s", 0.0) if prev else 0.0) + seconds,
        }

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
        self.log.records = self.log.read_covered(round_)  # written back by `start`
        self.messages.records = self.messages.read_covered(round_)

    def finish(self) -> None:
        self.progress.close()
        self.tb.close()
        final = {
            "client": self.role.global_client.state_dict(),
            "full": self.role.side.eval_model(self.role.global_client).state_dict(),
        }
        buffer = io.BytesIO()
        torch.save(final, buffer)
        write_atomic(self.cfg.run_dir / "final_model.pt", buffer.getvalue())
        summary = summarize(
            self.log.records, self.info.world_size, self.cfg.clients.num, self.peak_rss_mib
        )
        write_json(
            self.cfg.run_dir / "summary.json",
            summary | {"cut_shape": list(self.role.template.cut_shape)},
        )
