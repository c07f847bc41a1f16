"""Where a failing rank writes down why, and how the launcher finds the first real cause.

A rank records its error in `RUN_DIR/ranks/rankR.err` (one summary line, then the full
traceback) *before* it tears down its process group: its peers only see a closed connection
after that, so the cause is on disk before any consequence is. The launcher prints one line:
the earliest recorded cause, a rank killed by a signal, or (when nothing else is known) the
earliest consequence.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch.distributed as dist

from fsl_sage_dist.rundir import layout

CONSEQUENCE = "after a peer failed or stalled"
_GLOO_SOURCE = re.compile(r"\[[^\]\s]*\.(?:cc|cpp|h):\d+\]\s*")  # "[.../pair.cc:561] "


def error_file(run_dir: Path, rank: int) -> Path:
    return run_dir / layout.RANKS / f"rank{rank}.err"


def is_consequence(err: BaseException) -> bool:
    """An error torch.distributed raised because a peer went away or did not answer in time
    (plain RuntimeError or DistError); our own errors are subclasses and name their cause."""
    return type(err) is RuntimeError or isinstance(err, dist.DistError)


def one_line(err: BaseException) -> str:
    """`Type: first line of the message`, without Gloo's source-file references."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {_GLOO_SOURCE.sub('', text)}"


def record_error(run_dir: Path, rank: int, role: str, err: BaseException) -> None:
    """Write this rank's error; never raises (it runs while the rank is already failing)."""
    kind = f" ({CONSEQUENCE})" if is_consequence(err) else ""
    text = f"rank {rank} ({role}){kind}: {one_line(err)}\n\n" + "".join(
        traceback.format_exception(err)
    )
    try:
        path = error_file(run_dir, rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError:
        pass


@dataclass(frozen=True)
class RecordedError:
    rank: int
    summary: str
    path: Path
    written_ns: int

    @property
    def consequence(self) -> bool:
        return f"({CONSEQUENCE})" in self.summary


def recorded_errors(run_dir: Path, ranks: range, since_ns: int) -> list[RecordedError]:
    """The errors ranks wrote since `since_ns` (file mtime), earliest first."""
    found = []
    for rank in ranks:
        path = error_file(run_dir, rank)
        try:
            written = path.stat().st_mtime_ns
            summary = path.read_text(errors="replace").split("\n", 1)[0]
        except OSError:
            continue
        if written >= since_ns:
            found.append(RecordedError(rank, summary, path, written))
    return sorted(found, key=lambda e: e.written_ns)
