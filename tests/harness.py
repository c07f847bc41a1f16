"""Run a real multi-process job (Gloo, CPU) from a test, optionally recording every tensor
each rank hands to torch.distributed for client traffic (send/isend/recv/broadcast).

The recording patches torch.distributed inside each rank, independently of the ByteMeter, so
tests can compare the meter against what actually went to the transport.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fsl_sage_dist.config import Config, config_from_dict, config_to_dict, load_config

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC_OPS = ("send", "isend", "recv", "irecv", "broadcast")


def small_config(tmp_path: Path, *overrides: str) -> Config:
    """A seconds-long synthetic job: 4 clients on 2 hosts, 2 rounds, one thread per rank."""
    base = ["rounds=2", "clients.num=4", "launch.client_hosts=2", "data.name=synthetic",
            "data.synthetic_size=[480, 200]", "train.batch_size=32", "runtime.threads_per_rank=1",
            "runtime.timeout_s=120", f"output.dir={tmp_path}", "output.name=run",
            "fsl.align_epochs=5"]
    return load_config(None, base + list(overrides))


def run_cli(*args: str, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env_vars)
    return subprocess.run([sys.executable, "-m", "fsl_sage_dist", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recording(name: str, log: list[dict[str, Any]], keep: bool):
    original = getattr(dist, name)

    def wrapper(tensor: torch.Tensor, *args: Any, **kwargs: Any):
        work = original(tensor, *args, **kwargs)
        entry = {"op": name, "dtype": str(tensor.dtype), "shape": list(tensor.shape),
                 "nbytes": tensor.numel() * tensor.element_size()}
        if keep:
            entry["tensor"] = tensor.detach().cpu().clone()
        log.append(entry)
        return work

    return wrapper


def _rank_main(rank: int, cfg_dict: dict, port: int, record_dir: str | None,
               keep_tensors: bool) -> None:
    from fsl_sage_dist.runtime.worker import run_rank

    world = 1 + cfg_dict["launch"]["client_hosts"]
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    log: list[dict[str, Any]] = []
    if record_dir:
        for name in TRAFFIC_OPS:
            setattr(dist, name, _recording(name, log, keep_tensors))
    run_rank(config_from_dict(cfg_dict))
    if record_dir:
        torch.save(log, Path(record_dir) / f"traffic_rank{rank}.pt")


def spawn_job(cfg: Config, record_dir: Path | None = None,
              keep_tensors: bool = False) -> list[list[dict[str, Any]]] | None:
    """Run every rank of `cfg` in this machine's processes; return each rank's traffic log."""
    if record_dir:
        record_dir.mkdir(parents=True, exist_ok=True)
    mp.start_processes(_rank_main, nprocs=cfg.world_size, start_method="spawn",
                       args=(config_to_dict(cfg), _free_port(),
                             str(record_dir) if record_dir else None, keep_tensors))
    if not record_dir:
        return None
    return [torch.load(record_dir / f"traffic_rank{r}.pt", weights_only=True)
            for r in range(cfg.world_size)]
