"""Start a job: join torchrun's, or launch 1 + launch.client_hosts local ranks ourselves.

The built-in launcher starts one process per rank (`rank_process.py`) and rendezvous them
through a FileStore in a private temporary folder, with Gloo (and NCCL) bound to the loopback
interface: a single-node run opens no port beyond 127.0.0.1, and nothing it reads back from a
store or socket is unpickled. It watches every rank: the first to fail stops the others, and
the launcher prints one line, the first real cause (see `rank_errors.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fsl_sage_dist.config import Config, config_to_dict
from fsl_sage_dist.log import logger
from fsl_sage_dist.runtime.process_group import STORE_FILE_ENV
from fsl_sage_dist.runtime.rank_errors import ERRORS_DIR_ENV, recorded_errors

POLL_S = 0.1
STOP_GRACE_S = 5.0
"""How long a rank may take to exit after SIGTERM before it is killed."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOOPBACK_INTERFACE = "lo"  # Linux's name; Gloo and NCCL bind to this interface's address


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _role(rank: int) -> str:
    return "server" if rank == 0 else "client host"


def _rank_env(cfg: Config, rank: int, folder: Path) -> dict[str, str]:
    world = str(cfg.world_size)
    return dict(
        os.environ,
        RANK=str(rank),
        WORLD_SIZE=world,
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=world,
        GLOO_SOCKET_IFNAME=LOOPBACK_INTERFACE,
        NCCL_SOCKET_IFNAME=LOOPBACK_INTERFACE,
        **{STORE_FILE_ENV: str(folder / "store"), ERRORS_DIR_ENV: str(folder / "errors")},
    )


def _start_ranks(cfg: Config, folder: Path, procs: list[subprocess.Popen]) -> None:
    """Start every rank into `procs`, one by one, so that if a start fails the caller still
    holds (and stops) the ranks already running."""
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config_to_dict(cfg)))
    (folder / "errors").mkdir()
    command = [sys.executable, "-m", "fsl_sage_dist.runtime.rank_process", str(config_file)]
    for rank in range(cfg.world_size):
        procs.append(subprocess.Popen(command, env=_rank_env(cfg, rank, folder)))


def _is_stopped(proc: subprocess.Popen) -> bool:
    """Whether the process is stopped (SIGSTOP/SIGTSTP) or traced: alive but never answering."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every rank still running (SIGCONT wakes a stopped one so it can die), then
    SIGKILL whatever is left after STOP_GRACE_S."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _failed(procs: list[subprocess.Popen]) -> dict[int, int]:
    """Exit codes of the ranks that have exited non-zero."""
    return {rank: code for rank, proc in enumerate(procs) if (code := proc.poll()) not in (None, 0)}


def _watch(
    cfg: Config, procs: list[subprocess.Popen], errors: Path
) -> tuple[dict[int, int], list[int]] | None:
    """Wait until every rank succeeded (None) or one failed: a non-zero exit, or an error
    recorded by a rank still tearing down (its peers may take long to notice). Returns the
    exit codes of the ranks that failed by themselves and the ranks that were stopped (alive,
    not running) at that moment."""
    while not _failed(procs) and not recorded_errors(errors, range(cfg.world_size)):
        if all(proc.poll() == 0 for proc in procs):
            return None
        time.sleep(POLL_S)
    time.sleep(POLL_S)  # a killed rank can close its sockets before it can be reaped
    return _failed(procs), [rank for rank, proc in enumerate(procs) if _is_stopped(proc)]


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _cause(cfg: Config, failed: dict[int, int], stopped: list[int], folder: Path) -> str:
    """The one line that names the first real cause of a failed attempt, from the errors its
    ranks recorded in `folder` (this attempt's own, `rank_errors.py`)."""
    errors = recorded_errors(folder, range(cfg.world_size))
    causes = [e for e in errors if not e.consequence]
    killed = [
        r for r, code in sorted(failed.items()) if code < 0 and r not in {e.rank for e in errors}
    ]
    if stopped:
        names = ", ".join(f"rank {r} ({_role(r)})" for r in stopped)
        waited = [
            e for e in errors if any(f"waiting for rank {r}:" in e.summary for r in stopped)
        ] or errors
        first = f"; {waited[0].summary} ({waited[0].where})" if waited else ""
        return (
            f"{names} stopped responding (process stopped); the others gave up after "
            f"runtime.timeout_s={cfg.runtime.timeout_s:g} s{first}"
        )
    if causes:
        return f"{causes[0].summary} ({causes[0].where})"
    if killed:
        rank = killed[0]
        return f"rank {rank} ({_role(rank)}) was killed by {_signal_name(failed[rank])}"
    if errors:
        return f"{errors[0].summary} ({errors[0].where})"
    rank, code = min(failed.items())
    return f"rank {rank} ({_role(rank)}) exited with status {code} without recording an error"


def _raise_stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def _launch_once(cfg: Config) -> bool:
    """One attempt: every rank started, watched, and gone when this returns."""
    folder = Path(tempfile.mkdtemp(prefix="fsl-sage-rdzv-"))  # mode 0700: only this user
    procs: list[subprocess.Popen] = []
    try:
        _start_ranks(cfg, folder, procs)
        failure = _watch(cfg, procs, folder / "errors")
        if failure:
            _stop(procs)
            logger.error(f"{_cause(cfg, *failure, folder / 'errors')}")
        return failure is None
    finally:
        _stop(procs)
        shutil.rmtree(folder, ignore_errors=True)


def launch_local(cfg: Config) -> int:
    """Run the job in local processes; returns the exit status (0 = every rank succeeded,
    128 + N after signal N). Restarts (`launch.max_restarts`) are fresh launches (a new store,
    new ports); the new ranks resume from the last complete checkpoint by themselves."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    try:
        for attempt in range(1 + cfg.launch.max_restarts):
            if attempt:
                logger.warning(f"restarting the job ({attempt}/{cfg.launch.max_restarts})")
            if _launch_once(cfg):
                return 0
        return 1
    except _Stopped as stop:  # Ctrl-C, SIGTERM or SIGHUP: `_launch_once` stopped every rank
        logger.warning(
            f"stopped by signal {stop.signum}; every rank has exited. Rerun the same "
            "command to resume from the last complete checkpoint (if "
            "checkpoint.every > 0)."
        )
        return 128 + stop.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
