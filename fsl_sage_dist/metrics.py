"""The files a run leaves in RUN_DIR (the contract of DESIGN.md section 6), written by rank 0.

`metrics.jsonl` gets one line per round, flushed and fsynced as soon as the round ends, so a
crash later never loses a finished round.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


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


def progress_line(record: dict[str, Any], rounds: int) -> str:
    acc = "   -  " if record["test_acc"] is None else f"{record['test_acc']:.4f}"
    round_mib = record["round_wire_bytes"] / MIB
    return (f"round {record['round'] + 1:>4}/{rounds}  test_acc {acc}  "
            f"MiB {round_mib:9.2f} (cum {record['cum_wire_bytes'] / MIB:10.2f})  "
            f"{record['round_s']:6.2f} s")
