"""RUN_DIR's JSON files and its JSON-lines files (metrics.jsonl, messages.jsonl): one writer and
one reader for each, torch-free.

A JSON-lines file gets one line per round, appended whole and fsynced as soon as the round ends,
so a crash later never loses a finished round and a full disk never leaves half a line; every
other file is replaced atomically (`atomic_write`). No JSON file holds NaN or Infinity: such a
number is written as null and its key listed under `nonfinite` (see `finite_json`).

    records = read_metrics(run_dir / METRICS, warnings)     # compare's view of a finished run

metrics.jsonl must be in order (round 0, 1, 2, ...); `read_metrics` rejects a bad line, its
message naming the file and line. Two things are warnings instead: a last line without its
newline (a crash or a full disk while it was written: the run is read without it) and a test
accuracy that is not a finite number (shown as missing, never as an accuracy).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fsl_sage_dist.atomic_write import append_line, write_atomic

TIMING_FIELDS = ("round_s", "host_busy_s", "host_cpu_s", "sim_round_s", "cum_sim_s")
"""Per-round fields of metrics.jsonl measured in seconds (or simulated from measured ones)."""
MEASURED_MEMORY = "rank_peak_bytes"
"""The one field of a record's `memory` that a process measured (the rest is accounting)."""


def unmeasured(record: dict[str, Any]) -> dict[str, Any]:
    """A metrics.jsonl record without what was measured (seconds, each rank's memory peak):
    what identical runs share exactly, resumed or not, whatever the host layout."""
    kept = {k: v for k, v in record.items() if k not in TIMING_FIELDS}
    if isinstance(kept.get("memory"), dict):
        kept["memory"] = {k: v for k, v in kept["memory"].items() if k != MEASURED_MEMORY}
    return kept


# Keys a reader of metrics.jsonl needs in each record, with the types they must have.
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "round": (int,),
    "algorithm": (str,),
    "test_acc": (int, float, type(None)),
    "cum_payload_bytes": (int,),
    "round_s": (int, float),
}


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


class RecordsError(RuntimeError):
    """A JSON-lines file that cannot back a resume; the message names the file (and line),
    `path` is the file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class JsonLines:
    """A JSON-lines file of one record per round, and the records written or kept so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        append_line(self.path, (finite_json(record) + "\n").encode())
        self.records.append(record)

    def read_covered(self, round_: int) -> list[dict[str, Any]]:
        """The records of rounds 0..round_ (those a checkpoint covers), checked; reads only.
        Lines past them are never parsed: the last may be a crash's half line."""
        left = "RUN_DIR is left as it was"
        try:
            data = self.path.read_bytes() if self.path.exists() else b""
        except OSError as err:  # a folder in its place, no permission: this file, by name
            reason = (err.strerror or str(err)).lower()
            raise RecordsError(
                f"{self.path} cannot be read ({reason}); {left}", self.path
            ) from None
        lines = [line for line in data.splitlines(keepends=True) if line.endswith(b"\n")]
        records = []
        for lineno, line in enumerate(lines[: round_ + 1], start=1):
            where = f"{self.path}, line {lineno}"
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as err:
                raise RecordsError(
                    f"{where} is not valid JSON ({err}); {left}", self.path
                ) from None
            if not isinstance(record, dict) or record.get("round") != lineno - 1:
                raise RecordsError(
                    f"{where} is not round {lineno - 1}: it was edited or "
                    f"belongs to another run; {left}",
                    self.path,
                )
            records.append(record)
        if len(records) < round_ + 1:
            raise RecordsError(
                f"{self.path} holds {len(records)} round(s) but the checkpoint "
                f"covers {round_ + 1}; it was cut or belongs to another run; {left}",
                self.path,
            )
        return records

    def restore(self, records: list[dict[str, Any]]) -> None:
        """On resume, once every rank agreed: keep exactly `records`, drop later lines."""
        self.records = records
        write_atomic(self.path, "".join(finite_json(r) + "\n" for r in records).encode())


class RunError(Exception):
    """A run that cannot be read back; the message names the file (and line)."""


def _check_record(record: Any, expected_round: int) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for key, types in REQUIRED_KEYS.items():
        if key not in record:
            return f"key {key!r} missing"
        if not isinstance(record[key], types) or isinstance(record[key], bool):
            return f"{key}={record[key]!r} has the wrong type"
    if record["round"] != expected_round:
        return f"round {record['round']} where round {expected_round} was expected"
    return None


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # nesting deeper than Python's stack
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def _finite_acc(record: dict[str, Any], where: str, warnings: list[str]) -> None:
    acc = record["test_acc"]
    if isinstance(acc, float) and not math.isfinite(acc):
        warnings.append(f"{where}: test_acc is {acc}; shown as missing")
        record["test_acc"] = None


def read_metrics(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        raise RunError(f"{path}: missing")
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        warnings.append(
            f"{path}, line {len(lines)}: incomplete last line (the run was cut "
            "while writing it); read without it"
        )
        lines.pop()
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(lines, start=1):
        try:
            record = _parse(line)
        except json.JSONDecodeError as err:
            raise RunError(f"{path}, line {lineno}: not valid JSON ({err.msg})") from None
        problem = _check_record(record, len(records))
        if problem:
            raise RunError(f"{path}, line {lineno}: {problem}")
        _finite_acc(record, f"{path}, line {lineno}", warnings)
        records.append(record)
    if not records:
        raise RunError(f"{path}: no rounds recorded yet")
    return records
