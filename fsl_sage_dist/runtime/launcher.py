"""Start a job: join torchrun's, or launch 1 + launch.client_hosts local ranks ourselves.

The built-in launcher is torch's elastic agent with a c10d rendezvous on 127.0.0.1 (an
ephemeral port), so a single-node run needs no torchrun line and listens on loopback only.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, record
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from ..config import Config, config_from_dict, config_to_dict
from .worker import run_rank


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@record
def _entry(cfg_dict: dict[str, Any]) -> None:
    run_rank(config_from_dict(cfg_dict))


def _launch_once(cfg: Config) -> bool:
    launch = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=cfg.world_size,
        run_id=f"fsl-sage-{uuid.uuid4().hex[:8]}", rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0", local_addr="127.0.0.1", max_restarts=0,
        monitor_interval=0.1,
    )
    try:
        elastic_launch(launch, _entry)(config_to_dict(cfg))
    except ChildFailedError as err:
        for rank, failure in sorted(err.failures.items()):
            print(f"error: rank {rank} failed (exit code {failure.exitcode}): "
                  f"{_reason(failure.message)}", file=sys.stderr)
        return False
    return True


def launch_local(cfg: Config) -> int:
    """Run the job in local processes; returns the exit status (0 = every rank succeeded).

    Restarts (`launch.max_restarts`) are fresh launches (a new rendezvous, new ports) rather
    than the elastic agent's in-place restarts, whose Gloo re-connection we found unreliable;
    the new ranks resume from the last complete checkpoint by themselves."""
    for attempt in range(1 + cfg.launch.max_restarts):
        if attempt:
            print(f"restarting the job ({attempt}/{cfg.launch.max_restarts})", file=sys.stderr,
                  flush=True)
        try:
            if _launch_once(cfg):
                return 0
        except SignalException as err:  # Ctrl-C or SIGTERM: the agent has stopped every rank
            print(f"stopped by signal {int(err.sigval)}; every rank has exited. Rerun the same "
                  "command to resume from the last complete checkpoint (if checkpoint.every > "
                  "0).", file=sys.stderr)
            return 128 + int(err.sigval)
    return 1


def _reason(message: str | dict[str, Any]) -> str:
    """The exception line `@record` stored for a failed rank (it nests it in a dict)."""
    while isinstance(message, dict):
        message = message.get("message", "")
    return message.strip() or "killed by a signal or exited without an error message"
