"""RunRecorder: the one writer of RUN_DIR, on rank 0. Every file a run leaves (DESIGN.md
section 6) is written here, in the formats of `rundir/`:

    recorder = RunRecorder(cfg, partition, template, world_size)
    kept = recorder.read_covered(round_)   # on resume: reads only, before any rank changes RUN_DIR
    recorder.start(first_round, kept)      # config.toml, partition.json, the logs cut to kept, tb/
    recorder.record(record, messages)      # a round: messages.jsonl, metrics.jsonl, tb/, progress
    recorder.finish(final, peak_rss_mib)   # final_model.pt, summary.json

Nothing is written before `start`: a resume that fails its checks on any rank must leave RUN_DIR
as it was.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch

from fsl_sage_dist.atomic_write import make_dirs, write_atomic
from fsl_sage_dist.config import Config, config_to_dict, to_toml
from fsl_sage_dist.log import logger
from fsl_sage_dist.models import SplitModel
from fsl_sage_dist.report.describe import describe_model, describe_partition
from fsl_sage_dist.report.progress import Progress
from fsl_sage_dist.report.summary import check_losses_finite, summarize
from fsl_sage_dist.report.tensorboard import TensorBoardLogger
from fsl_sage_dist.rundir import layout
from fsl_sage_dist.rundir.messages import RoundMessages
from fsl_sage_dist.rundir.records import JsonLines, write_json


@dataclass
class Kept:
    """The records of metrics.jsonl and messages.jsonl a resumed checkpoint covers (none on a
    fresh start, where a failed first attempt may have left files with lines)."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


class RunRecorder:
    def __init__(
        self, cfg: Config, partition: dict[str, Any], template: SplitModel, world_size: int
    ) -> None:
        self.cfg, self.partition, self.template = cfg, partition, template
        self.world_size = world_size
        self.run_dir = cfg.run_dir
        self.metrics = JsonLines(self.run_dir / layout.METRICS)
        self.messages = JsonLines(self.run_dir / layout.MESSAGES)
        self.progress = Progress(cfg.rounds)
        self.tensorboard: TensorBoardLogger | None = None  # opened by `start`, after a resume

    def read_covered(self, round_: int) -> Kept:
        """The rounds 0..round_ of both JSON-lines files, checked; reads only (`RecordsError`
        names the file that failed)."""
        return Kept(self.metrics.read_covered(round_), self.messages.read_covered(round_))

    @property
    def last(self) -> dict[str, Any] | None:
        """The latest metrics.jsonl record (the cumulative sums go on from it), if any."""
        return self.metrics.records[-1] if self.metrics.records else None

    def start(self, first_round: int, kept: Kept) -> None:
        """Called once resuming (if any) succeeded on every rank: only now may RUN_DIR change.
        The JSON-lines files and tb/ keep exactly the rounds in `kept`."""
        make_dirs(self.run_dir)
        config_text = to_toml(config_to_dict(self.cfg))
        write_atomic(self.run_dir / layout.CONFIG, config_text.encode())
        write_json(self.run_dir / layout.PARTITION, self.partition)
        self.metrics.restore(kept.metrics)
        self.messages.restore(kept.messages)
        self.tensorboard = TensorBoardLogger(
            self.run_dir / layout.TENSORBOARD, config_text, rebuild_from=kept.metrics
        )
        self.progress.begin(first_round)
        if first_round == 0:
            logger.info(describe_model(self.cfg.model.name, self.template))
            logger.info(describe_partition(self.run_dir / layout.PARTITION))

    def status(self, activity: str) -> None:
        """What the server is doing now, for the progress line."""
        self.progress.status(activity)

    def record(self, record: dict[str, Any], messages: RoundMessages) -> None:
        """One finished round: appended to both JSON-lines files before anything can stop the
        run (a diverged round's line is kept), then TensorBoard and the progress line."""
        self.messages.append(messages.to_json())
        self.metrics.append(record)
        check_losses_finite(record)
        self.tensorboard.log_round(record)
        self.progress.update(record)

    def finish(self, final: dict[str, Any], peak_rss_mib: list[float]) -> None:
        """final_model.pt holds `final` (state dicts), summary.json the totals of the run."""
        self.progress.close()
        self.tensorboard.close()
        buffer = io.BytesIO()
        torch.save(final, buffer)
        write_atomic(self.run_dir / layout.FINAL_MODEL, buffer.getvalue())
        records = self.metrics.records
        summary = summarize(records, self.world_size, self.cfg.clients.num, peak_rss_mib)
        write_json(
            self.run_dir / layout.SUMMARY,
            summary | {"cut_shape": list(self.template.cut_shape)},
        )
