"""One rank started by the built-in launcher: `python -m fsl_sage_dist.runtime.rank_process CFG`.

CFG is the resolved config as JSON, written by the launcher into its private folder; RANK,
WORLD_SIZE and the store file come in the environment (`launcher.py`). The rank dies with the
launcher (even a SIGKILLed one: no orphan keeps a port or a core), leaves Ctrl-C to the
launcher (which stops every rank with SIGTERM), and reports a failure only through
`RUN_DIR/ranks/rankR.err` and its exit status: the launcher prints the one line.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_launcher(launcher_pid: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the launcher's own stop still applies
        return
    if os.getppid() != launcher_pid:  # the launcher died before prctl took effect
        os._exit(1)


def main(config_file: str) -> int:
    launcher_pid = os.getppid()
    _die_with_launcher(launcher_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from fsl_sage_dist.config import config_from_dict
    from fsl_sage_dist.runtime.worker import run_rank

    with open(config_file) as f:
        cfg = config_from_dict(json.load(f))
    try:
        run_rank(cfg)
    except Exception:  # recorded in RUN_DIR/ranks/rankR.err; the launcher prints the cause
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
