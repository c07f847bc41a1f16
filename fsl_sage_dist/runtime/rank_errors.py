"""Where a failing rank writes down why, and how the launcher finds the first real cause.

A rank records its error in `RUN_DIR/ranks/rankR.err` (one summary line, then the full
traceback) *before* it tears down its process group: its peers only see a closed connection
after that, so the cause is on disk before any consequence is. Under the built-in launcher it
also writes the summary line, and where its traceback is (or why there is none), into the
attempt's own folder (`ERRORS_DIR_ENV`, inside the launcher's private folder): the launcher
reads only that, so a full or read-only RUN_DIR cannot lose the cause and a stale or
future-dated `rankR.err` from an earlier attempt (clock skew, a copied RUN_DIR) is never taken
for this attempt's. A rank that can write neither prints the line on its stderr. The launcher
prints one line: the earliest recorded cause, a rank killed by a signal, or (when nothing else
is known) the earliest consequence.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from fsl_sage_dist.atomic_write import make_dirs, write_atomic
from fsl_sage_dist.errors import PeerError
from fsl_sage_dist.rundir import layout

ERRORS_DIR_ENV = "FSL_SAGE_ERRORS_DIR"
"""The launcher's per-attempt folder for the ranks' one-line error records."""
CONSEQUENCE = "after a peer failed or stalled"
_GLOO_SOURCE = re.compile(r"\[[^\]\s]*\.(?:cc|cpp|h):\d+\]\s*")  # "[.../pair.cc:561] "


def error_file(run_dir: Path, rank: int) -> Path:
    return run_dir / layout.RANKS / f"rank{rank}.err"


def is_consequence(err: BaseException) -> bool:
    """An error that only echoes a peer's: the transport's (a peer went away or did not answer
    in time) or an agreement's report of another rank's failure (`errors.PeerError`)."""
    return isinstance(err, PeerError)


def one_line(err: BaseException) -> str:
    """`Type: first line of the message`, without Gloo's source-file references."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {_GLOO_SOURCE.sub('', text)}"


def _write_traceback(run_dir: Path, rank: int, text: str) -> str:
    """Write RUN_DIR/ranks/rankR.err whole or not at all; says where it is or why not."""
    path = error_file(run_dir, rank)
    try:
        make_dirs(path.parent)
        write_atomic(path, text.encode())
    except OSError as err:
        return f"no traceback: {err}"
    return f"traceback in {path}"


def record_error(run_dir: Path, rank: int, role: str, err: BaseException) -> None:
    """Write this rank's error; never raises (it runs while the rank is already failing)."""
    kind = f" ({CONSEQUENCE})" if is_consequence(err) else ""
    summary = f"rank {rank} ({role}){kind}: {one_line(err)}"
    where = _write_traceback(
        run_dir, rank, f"{summary}\n\n" + "".join(traceback.format_exception(err))
    )
    spare = os.environ.get(ERRORS_DIR_ENV)
    if spare:
        try:
            write_atomic(Path(spare) / f"rank{rank}.err", f"{summary}\n{where}\n".encode())
            return
        except OSError:
            pass
    if spare or where.startswith("no traceback"):
        print(f"{summary} ({where})", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RecordedError:
    rank: int
    summary: str
    where: str
    """"traceback in PATH", or "no traceback: " and why."""
    written_ns: int

    @property
    def consequence(self) -> bool:
        return f"({CONSEQUENCE})" in self.summary


def recorded_errors(folder: Path, ranks: range) -> list[RecordedError]:
    """The errors ranks recorded in this attempt's `folder` (`ERRORS_DIR_ENV`), earliest
    first."""
    found = []
    for rank in ranks:
        path = folder / f"rank{rank}.err"
        try:
            written = path.stat().st_mtime_ns
            summary, where = (path.read_text(errors="replace").split("\n") + ["", ""])[:2]
        except OSError:
            continue
        found.append(RecordedError(rank, summary, where, written))
    return sorted(found, key=lambda e: e.written_ns)
