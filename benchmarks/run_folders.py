"""Existing run folders: a benchmark reads or continues one only when asked, and says so.

    if claim(run_dir, rounds, args.reuse, reused):   # True: finished, read it, do not start it
        ...
    result["provenance"]["reused"] = reused

A run folder left by an earlier invocation may come from other code or another setting, so a
benchmark that found one and published its figures would republish an old run as new. Without
`--reuse` an existing run is therefore an error that says how to go on; with it, a finished run
is read and an interrupted one continues from its last checkpoint, and each is listed (where it
was, how many rounds it had, when it last wrote a round) in the JSON's provenance.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from provenance import relative


def rounds_done(run_dir: Path) -> int:
    metrics = run_dir / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.is_file() else 0


def holds_run(run_dir: Path) -> bool:
    return run_dir.is_dir() and any(run_dir.iterdir())


def claim(
    run_dir: Path,
    rounds: int,
    reuse: bool,
    reused: list[dict[str, Any]],
    elsewhere: str = "another --out",
) -> bool:
    """Whether `run_dir` already holds the finished run of `rounds` rounds (with `reuse` only).

    An empty or missing folder: False, start the run. An existing run without `reuse`:
    SystemExit naming the folder and the two ways on (`elsewhere`: how the script is given
    another folder). With `reuse`: appended to `reused`."""
    if not holds_run(run_dir):
        return False
    done = rounds_done(run_dir)
    finished = done == rounds and (run_dir / "summary.json").is_file()
    if not reuse:
        action = "read it" if finished else "continue it from its last checkpoint"
        raise SystemExit(
            f"{run_dir} already holds a run ({done} of {rounds} rounds in metrics.jsonl), "
            f"possibly from other code or another setting. Pass --reuse to {action} (it is then "
            f"reported as reused), or give {elsewhere} (or remove the folder) for a fresh run."
        )
    metrics = run_dir / "metrics.jsonl"
    written = (
        datetime.datetime.fromtimestamp(metrics.stat().st_mtime, datetime.UTC).isoformat(
            timespec="seconds"
        )
        if metrics.is_file()
        else None
    )
    reused.append(
        {
            "run": relative(run_dir),
            "rounds_found": done,
            "finished": finished,
            "last_round_written": written,
        }
    )
    return finished
