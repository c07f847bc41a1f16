"""The files a run leaves in RUN_DIR (the contract of DESIGN.md section 6), written by rank 0.

`metrics.jsonl` gets one line per round, appended whole and fsynced as soon as the round ends,
so a crash later never loses a finished round and a full disk never leaves half a line; every
other file is replaced atomically (`atomic_write`). No JSON file holds NaN or Infinity: such a
number is written as null and its key listed under `nonfinite` (see `finite_json`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fsl_sage_dist.atomic_write import append_line, write_atomic

TIMING_FIELDS = ("round_s", "host_busy_s", "host_cpu_s", "sim_round_s", "cum_sim_s")
"""Per-round fields measured in seconds (or simulated from measured ones): the only ones that
differ between identical runs."""


def _nulled(value: Any, key: str, flagged: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        flagged.append(key)
        return None
    if isinstance(value, dict):
        return {k: _nulled(v, f"{key}.{k}" if key else str(k), flagged) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulled(v, f"{key}[{i}]", flagged) for i, v in enumerate(value)]
    return value


def finite_json(data: Any, indent: int | None = None) -> str:
    """JSON text without NaN or Infinity (which JSON does not have): each such number becomes
    null, and a top-level object lists the keys it happened to under "nonfinite"."""
    flagged: list[str] = []
    clean = _nulled(data, "", flagged)
    if flagged and isinstance(clean, dict):
        clean["nonfinite"] = flagged
    return json.dumps(clean, indent=indent, allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    write_atomic(path, (finite_json(data, indent=2) + "\n").encode())


class DivergedError(RuntimeError):
    """A round's training or test loss is not a finite number; going on would only waste time."""


def check_losses_finite(record: dict[str, Any]) -> None:
    """Raise DivergedError naming the round (1-based, as the progress line) and algorithm."""
    bad = [
        f"{key} is {record[key]}"
        for key in ("train_loss", "test_loss")
        if isinstance(record[key], float) and not math.isfinite(record[key])
    ]
    if bad:
        raise DivergedError(
            f"{record['algorithm']} diverged in round {record['round'] + 1}: "
            f"{' and '.join(bad)}; metrics.jsonl (this round's line with null "
            "losses) and the checkpoints before it are kept; lower train.lr "
            "(or fsl.aux_lr)"
        )


class MetricsError(RuntimeError):
    """A JSON-lines file (metrics.jsonl, messages.jsonl) cannot back a resume; the message
    names the file and line, `path` the file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class MetricsLog:
    """A JSON-lines file of one record per round (metrics.jsonl, messages.jsonl)."""

    def __init__(self, run_dir: Path, name: str = "metrics.jsonl") -> None:
        self.path = run_dir / name
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        append_line(self.path, (finite_json(record) + "\n").encode())
        self.records.append(record)

    def read_covered(self, round_: int) -> list[dict[str, Any]]:
        """The records of rounds 0..round_ (those a checkpoint covers), checked; reads only.
        Lines past them are never parsed: the last may be a crash's half line."""
        data = self.path.read_bytes() if self.path.exists() else b""
        lines = [line for line in data.splitlines(keepends=True) if line.endswith(b"\n")]
        records = []
        for lineno, line in enumerate(lines[: round_ + 1], start=1):
            where = f"{self.path}, line {lineno}"
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as err:
                raise MetricsError(
                    f"{where} is not valid JSON ({err}); RUN_DIR is left as it was", self.path
                ) from None
            if not isinstance(record, dict) or record.get("round") != lineno - 1:
                raise MetricsError(
                    f"{where} is not round {lineno - 1}: it was edited or "
                    "belongs to another run; RUN_DIR is left as it was",
                    self.path,
                )
            records.append(record)
        if len(records) < round_ + 1:
            raise MetricsError(
                f"{self.path} holds {len(records)} round(s) but the checkpoint "
                f"covers {round_ + 1}; it was cut or belongs to another run; "
                "RUN_DIR is left as it was",
                self.path,
            )
        return records

    def restore(self, records: list[dict[str, Any]]) -> None:
        """On resume, once every rank agreed: keep exactly `records`, drop later lines."""
        self.records = records
        write_atomic(self.path, "".join(finite_json(r) + "\n" for r in records).encode())


def summarize(
    records: list[dict[str, Any]], world_size: int, num_clients: int, peak_rss_mib: list[float]
) -> dict[str, Any]:
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
