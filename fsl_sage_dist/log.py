"""The package's one logger, set up once per process by `setup_logging`.

Rank 0 (the server) and the command line log progress at INFO; client hosts log only warnings
and errors unless `runtime.verbose`. Every line from a client host says which rank wrote it,
since ranks share one terminal under torchrun and the built-in launcher. INFO goes to stdout
(a run's output), warnings and errors to stderr as `error: ...` and `warning: ...`.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("fsl_sage_dist")


class _StandardStream(logging.StreamHandler):
    """Writes to whatever sys.stdout or sys.stderr is when a line is logged (so redirections
    made after setup, e.g. by a test's capture, see the line)."""

    def __init__(self, name: str) -> None:
        self.name_of_stream = name
        super().__init__()

    @property
    def stream(self):  # noqa: ANN201 - a text stream
        return getattr(sys, self.name_of_stream)

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - StreamHandler sets it; we look it up
        pass


class _Format(logging.Formatter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"{self.prefix}{level}{record.getMessage()}"


def setup_logging(rank: int = 0, verbose: bool = False) -> None:
    """Configure `logger` for this process: the server or the command line (rank 0), or client
    host `rank`. Safe to call again (a restarted rank, tests): it replaces the handlers."""
    out, err = _StandardStream("stdout"), _StandardStream("stderr")
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(_Format(f"[rank {rank}] " if rank else ""))
    logger.handlers = [out, err]
    logger.setLevel(logging.INFO if rank == 0 or verbose else logging.WARNING)
    logger.propagate = False


setup_logging()  # the command line's; a rank reconfigures once it knows its rank
