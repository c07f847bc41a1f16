"""Where a real dataset's files come from: a root folder on disk or the download host, and the
one error a run raises when neither has them (before any process is spawned)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse


class DatasetNotFoundError(FileNotFoundError):
    """Raised with a message that names every folder searched and how to get the data."""


def default_data_root() -> Path:
    # Expanded per call (not at import) so a changed HOME, e.g. in tests, is honoured.
    return Path("~/.cache/fsl-sage/data").expanduser()


def resolve_root(root: str | Path) -> Path:
    """An explicit root as given (user-expanded), or the default cache folder when empty."""
    return Path(root).expanduser() if str(root) else default_data_root()


def can_reach(url: str, timeout_s: float = 3.0) -> bool:
    """True when a TCP connection to the URL's host and port opens within `timeout_s`.
    FSL_SAGE_OFFLINE=1 in the environment means: never try (air-gapped clusters, tests)."""
    if os.environ.get("FSL_SAGE_OFFLINE") == "1":
        return False
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    finished = threading.Event()
    reached: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
                reached.append(True)
        except OSError:
            reached.append(False)
        finally:
            finished.set()

    # The socket timeout does not cover the DNS lookup, which can hang far longer offline; a
    # daemon thread bounds the whole probe and is abandoned if it overruns.
    threading.Thread(target=probe, daemon=True).start()
    finished.wait(timeout_s)
    return bool(reached) and reached[0]
