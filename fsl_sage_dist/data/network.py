"""A quick reachability probe, so a missing dataset fails before any process is spawned."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse


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
