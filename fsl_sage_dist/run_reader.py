"""Reading a RUN_DIR back from its contract files only (DESIGN.md section 6): no torch, so it
works anywhere the files are copied to.

    runs, messages = load_runs([Path("runs/fedavg"), Path("runs/fsl_sage")])

metrics.jsonl must be complete and in order (round 0, 1, 2, ...); a run with a bad line is
skipped whole (see `compare`), its message naming the file and line.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metrics import MIB

# Keys compare needs in each metrics.jsonl record, with the types they must have.
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "round": (int,), "algorithm": (str,), "test_acc": (int, float, type(None)),
    "cum_payload_bytes": (int,), "round_s": (int, float),
}


class RunError(Exception):
    """A run that cannot be compared; the message names the file (and line)."""


@dataclass
class Run:
    label: str
    path: Path
    planned_rounds: int | None
    records: list[dict[str, Any]]

    @property
    def algorithm(self) -> str:
        return self.records[-1]["algorithm"]

    @property
    def evaluated(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["test_acc"] is not None]

    @property
    def final_acc(self) -> float | None:
        return self.evaluated[-1]["test_acc"] if self.evaluated else None

    @property
    def best_acc(self) -> float | None:
        return max((r["test_acc"] for r in self.evaluated), default=None)

    @property
    def payload_mib(self) -> float:
        return self.records[-1]["cum_payload_bytes"] / MIB

    @property
    def s_per_round(self) -> float:
        return sum(r["round_s"] for r in self.records) / len(self.records)

    def mib_to_target(self, target: float, kind: str = "payload") -> float | None:
        """Cumulative `kind` ("payload" or "wire") MiB at the end of the first evaluated round
        with test accuracy >= target; None if no round reached it."""
        for record in self.evaluated:
            if record["test_acc"] >= target:
                return record[f"cum_{kind}_bytes"] / MIB
        return None


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


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise RunError(f"{path}: missing")
    records: list[dict[str, Any]] = []
    for lineno, text in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise RunError(f"{path}, line {lineno}: not valid JSON ({err.msg})") from None
        problem = _check_record(record, len(records))
        if problem:
            raise RunError(f"{path}, line {lineno}: {problem}")
        records.append(record)
    if not records:
        raise RunError(f"{path}: no rounds recorded yet")
    return records


def read_planned_rounds(run_dir: Path, warnings: list[str]) -> int | None:
    """`rounds` from config.toml; only the "rounds" column needs it, so a problem is a warning."""
    path = run_dir / "config.toml"
    try:
        return tomllib.loads(path.read_text())["rounds"]
    except OSError as err:
        reason = err.strerror
    except tomllib.TOMLDecodeError as err:
        reason = f"not valid TOML ({err})"
    except KeyError:
        reason = "no `rounds` key"
    warnings.append(f"{path}: {reason}; the planned rounds are not shown")
    return None


def labels(run_dirs: list[Path]) -> list[str]:
    """Each run's folder name, or the path as given where two folders share a name."""
    names = [d.name for d in run_dirs]
    return [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs, strict=True)]


def load_runs(run_dirs: list[Path]) -> tuple[list[Run | None], list[str]]:
    """One Run per RUN_DIR (None where it was skipped) and the messages to show."""
    runs: list[Run | None] = []
    messages: list[str] = []
    for label, run_dir in zip(labels(run_dirs), run_dirs, strict=True):
        try:
            records = read_metrics(run_dir / "metrics.jsonl")
        except RunError as err:
            messages.append(f"skipping run {label}: {err}")
            runs.append(None)
            continue
        runs.append(Run(label, run_dir, read_planned_rounds(run_dir, messages), records))
    return runs, messages
