"""The files a run leaves in RUN_DIR (the contract of DESIGN.md section 6), written by rank 0.

`metrics.jsonl` gets one line per round, flushed and fsynced as soon as the round ends, so a
crash later never loses a finished round. `Progress` prints the server's line per round.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

MIB = 1024 * 1024
TIMING_FIELDS = ("round_s", "host_busy_s", "host_cpu_s")
"""Per-round fields measured in seconds: the only ones that differ between identical runs."""


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class MetricsLog:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_after(self, round_: int) -> None:
        """On resume: keep rounds 0..round_ (those the checkpoint covers), drop later lines."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        # lines past the checkpoint are never parsed: the last may be half-written
        self.records = [json.loads(line) for line in lines[:round_ + 1]]
        if [r["round"] for r in self.records] != list(range(round_ + 1)):
            raise RuntimeError(f"{self.path} lacks rounds the checkpoint covers (0..{round_}); "
                               "it was edited or belongs to another run")
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        os.replace(tmp, self.path)


def summarize(records: list[dict[str, Any]], world_size: int, num_clients: int,
              peak_rss_mib: list[float]) -> dict[str, Any]:
    accs = [r["test_acc"] for r in records if r["test_acc"] is not None]
    last = records[-1]
    return {
        "algorithm": last["algorithm"],
        "rounds": len(records),
        "final_test_acc": last["test_acc"],
        "best_test_acc": max(accs) if accs else None,
        "total_payload_bytes": last["cum_payload_bytes"],
        "total_wire_bytes": last["cum_wire_bytes"],
        "mean_round_s": sum(r["round_s"] for r in records) / len(records),
        "world_size": world_size,
        "num_clients": num_clients,
        "peak_rss_mib": peak_rss_mib,
    }


def format_duration(seconds: float) -> str:
    """Compact and fixed-width enough for a progress line: 45s, 12m05s, 3h07m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_line(record: dict[str, Any], rounds: int, eta_s: float | None = None) -> str:
    """Round r/R (1-based for people), accuracy, payload MiB (round and cumulative), time."""
    acc = "   -  " if record["test_acc"] is None else f"{record['test_acc']:.4f}"
    line = (f"round {record['round'] + 1:>4}/{rounds}  test_acc {acc}  "
            f"payload MiB {record['round_payload_bytes'] / MIB:9.2f} "
            f"(cum {record['cum_payload_bytes'] / MIB:10.2f})  {record['round_s']:6.2f} s/round")
    return line if eta_s is None else f"{line}  ETA {format_duration(eta_s)}"


class Progress:
    """The server's per-round progress: on a terminal one line rewritten in place (carriage
    return), in a log file or pipe (SLURM output, tests) one plain line per round.

    The ETA uses wall time since this object was made, so evaluation and the round-end
    reduction count too, and a resumed run estimates from its own rounds only.
    """

    def __init__(self, rounds: int, stream: TextIO | None = None) -> None:
        self.rounds = rounds
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty()
        self.start = time.monotonic()
        self.done = 0

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        left = self.rounds - (record["round"] + 1)
        eta = (time.monotonic() - self.start) / self.done * left
        line = progress_line(record, self.rounds, eta)
        if self.live:
            # Clear to end of line: the previous line may have been longer.
            end = "\n" if left == 0 else ""
            self.stream.write(f"\r{line}\x1b[K{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
