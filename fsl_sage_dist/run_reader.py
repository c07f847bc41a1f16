"""Reading a RUN_DIR back from its contract files only (DESIGN.md section 6): no torch, so it
works anywhere the files are copied to.

    runs, messages = load_runs([Path("runs/fedavg"), Path("runs/fsl_sage")])

A run whose metrics.jsonl has a bad line is skipped whole (see `compare`), its message naming
the file and line; what `rundir.records.read_metrics` accepts, and what it only warns about, is
said there.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsl_sage_dist.rundir import layout
from fsl_sage_dist.rundir.records import RunError, read_metrics
from fsl_sage_dist.units import MIB


@dataclass
class Run:
    label: str
    path: Path
    planned_rounds: int | None
    records: list[dict[str, Any]]
    dataset: str | None = None

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
    def client_peak_mib(self) -> float | None:
        """The largest client peak of the run's memory accounting (`memory` of each record);
        None for a run without it (written before the memory meter) or with no valid number."""
        peaks = [
            r["memory"].get("client_peak_bytes")
            for r in self.records
            if isinstance(r.get("memory"), dict)
        ]
        valid = [p for p in peaks if type(p) is int and p >= 0]
        return max(valid) / MIB if valid else None

    @property
    def s_per_round(self) -> float:
        return sum(r["round_s"] for r in self.records) / len(self.records)

    @property
    def has_timeline(self) -> bool:
        """The run was configured with a network profile: its rows carry `cum_sim_s`."""
        return all(isinstance(r.get("cum_sim_s"), (int, float)) for r in self.records)

    def sim_s_to_target(self, target: float) -> float | None:
        """Simulated seconds (`cum_sim_s`) at the end of the first evaluated round with test
        accuracy >= target; None if no round reached it or the run has no timeline."""
        if not self.has_timeline:
            return None
        return next((r["cum_sim_s"] for r in self.evaluated if r["test_acc"] >= target), None)

    def mib_to_target(self, target: float, kind: str = "payload") -> float | None:
        """Cumulative `kind` ("payload" or "wire") MiB at the end of the first evaluated round
        with test accuracy >= target; None if no round reached it."""
        for record in self.evaluated:
            if record["test_acc"] >= target:
                return record[f"cum_{kind}_bytes"] / MIB
        return None


def read_config(run_dir: Path, warnings: list[str]) -> dict[str, Any]:
    """config.toml as a dict; only some columns need it, so a problem is a warning."""
    path = run_dir / layout.CONFIG
    try:
        return tomllib.loads(path.read_bytes().decode())
    except OSError as err:
        reason = err.strerror
    except UnicodeDecodeError as err:
        reason = f"not UTF-8 text ({err.reason})"
    except tomllib.TOMLDecodeError as err:
        reason = f"not valid TOML ({err})"
    warnings.append(f"{path}: {reason}; the planned rounds and dataset are not shown")
    return {}


def _planned_rounds(config: dict[str, Any]) -> int | None:
    rounds = config.get("rounds")
    return rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else None


def _dataset(config: dict[str, Any]) -> str | None:
    data = config.get("data")
    return data.get("name") if isinstance(data, dict) else None


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
            records = read_metrics(run_dir / layout.METRICS, messages)
        except RunError as err:
            messages.append(f"skipping run {label}: {err}")
            runs.append(None)
            continue
        config = read_config(run_dir, messages)
        runs.append(Run(label, run_dir, _planned_rounds(config), records, _dataset(config)))
    datasets = {run.label: run.dataset for run in runs if run and run.dataset}
    if len(set(datasets.values())) > 1:
        messages.append(
            "these runs are on different datasets ("
            + ", ".join(f"{label}: {name}" for label, name in datasets.items())
            + "); their accuracies and "
            "bytes are not comparable"
        )
    return runs, messages
