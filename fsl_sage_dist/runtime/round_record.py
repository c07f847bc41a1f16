"""A round's two records, assembled in one place (`RoundRecords.assemble`): metrics.jsonl's line
from the reduced round report, the evaluation, the algorithm's notes and the simulated network
time; messages.jsonl's round from the report's message rows and the server's times.

The algorithm's server half is asked for its notes (`ServerSide.notes`) here and nowhere else
in the loop, once per round after the round ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from fsl_sage_dist.config import Config
from fsl_sage_dist.memory import PARTS, total
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.rundir.messages import Message, RoundMessages
from fsl_sage_dist.runtime.round_log import ServerTimes
from fsl_sage_dist.runtime.round_report import RoundReport
from fsl_sage_dist.runtime.server import ServerRole
from fsl_sage_dist.timeline import simulate_round
from fsl_sage_dist.wire import counts_to_bytes, payload_bytes, wire_bytes
from fsl_sage_dist.wire.meter import CATEGORIES, DIRECTIONS


@dataclass
class Evaluation:
    """The server's evaluation at a round's end; all None in rounds not evaluated."""

    acc: float | None = None
    loss: float | None = None
    seconds: float | None = None
    """Of the evaluation itself (decoding excluded), for the message log."""
    slot_error_rate: float | None = None
    """Of greedy decodes (language models with eval.decode_samples > 0)."""


def round_messages(
    round_: int,
    participants: list[int],
    report: RoundReport,
    times: ServerTimes,
    align_s: dict[int, float],
    eval_s: float | None,
) -> RoundMessages:
    """The round as `messages.jsonl` records it."""
    msgs = [
        Message(c, it, CATEGORIES[k], DIRECTIONS[d], n)
        for c, it, k, d, n in report.messages.tolist()
    ]
    client_s = {(int(c), int(it)): (f, u) for c, it, f, u in report.client_compute.tolist()}
    return RoundMessages(
        round_,
        participants,
        msgs,
        client_s,
        dict(times.step_s),
        dict(align_s),
        dict(times.average_s),
        times.round_end_s,
        eval_s,
    )


def _byte_totals(report: RoundReport, prev: dict[str, Any] | None) -> dict[str, Any]:
    by_category = counts_to_bytes(report.byte_counts)
    cum_payload = (prev["cum_payload_bytes"] if prev else 0) + payload_bytes(by_category)
    cum_wire = (prev["cum_wire_bytes"] if prev else 0) + wire_bytes(by_category)
    return {
        "bytes": by_category,
        "round_payload_bytes": payload_bytes(by_category),
        "round_wire_bytes": wire_bytes(by_category),
        "cum_payload_bytes": cum_payload,
        "cum_wire_bytes": cum_wire,
    }


def memory_record(
    report: RoundReport, participants: list[int], server: dict[str, int] | None
) -> dict[str, Any]:
    """metrics.jsonl's `memory`: the round's largest client peak (the lowest id among equal
    ones) with its parts, the server's, and each rank's measured peak (`memory/`)."""
    rows = report.client_memory[participants]
    peaks = rows.sum(dim=1).tolist()
    top = peaks.index(max(peaks))
    return {
        "client_peak_bytes": int(peaks[top]),
        "client_peak_of": participants[top],
        "client_parts": dict(zip(PARTS, rows[top].tolist())),
        "server_peak_bytes": total(server),
        "server_parts": server or dict.fromkeys(PARTS, 0),
        "rank_peak_bytes": [int(b) for b in report.measured_peak_bytes.tolist()],
    }


def _seconds(rows: torch.Tensor) -> list[float]:
    """Per client host (rank 0, the server, left out)."""
    return rows[1:].tolist()


class RoundRecords:
    """Rank 0's assembly of each round's records (`assemble`)."""

    def __init__(self, cfg: Config, role: ServerRole) -> None:
        self.algorithm, self.role, self.network = cfg.algorithm, role, cfg.network
        self.plan = Plan.of(cfg)

    def assemble(
        self,
        round_: int,
        participants: list[int],
        report: RoundReport,
        evaluation: Evaluation,
        round_s: float,
        prev: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], RoundMessages]:
        """metrics.jsonl's record of the round (its keys in this order) and messages.jsonl's;
        `prev` is the previous round's record, which the cumulative sums go on from."""
        notes = self.role.side.notes()
        messages = round_messages(
            round_, participants, report, self.role.times, notes.align_s, evaluation.seconds
        )
        record = {
            "round": round_,
            "algorithm": self.algorithm,
            "test_acc": evaluation.acc,
            "test_loss": evaluation.loss,
            "train_loss": report.train_loss,
            "client_loss": report.client_loss,
            "round_s": round_s,
            **_byte_totals(report, prev),
            "host_busy_s": _seconds(report.busy_s),
            "host_cpu_s": _seconds(report.cpu_s),
            "participants": participants,
            **notes.metrics(),
            **self._simulated(messages, prev),
            "memory": memory_record(report, participants, self.role.memory_peak),
        }
        if self.role.template.objective.perplexity:  # a language model
            loss = evaluation.loss
            record["test_ppl"] = None if loss is None else math.exp(loss)
            record["test_ser"] = None if loss is None else evaluation.slot_error_rate
        return record, messages

    def _simulated(self, messages: RoundMessages, prev: dict[str, Any] | None) -> dict[str, float]:
        """`sim_round_s` and `cum_sim_s` on the configured network profile (`timeline/`)."""
        if not self.network.enabled:
            return {}
        seconds = simulate_round(self.plan, messages, self.network).seconds
        return {
            "sim_round_s": seconds,
            "cum_sim_s": (prev.get("cum_sim_s", 0.0) if prev else 0.0) + seconds,
        }
