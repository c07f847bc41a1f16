"""Run a real multi-process job (Gloo, CPU) from a test, optionally recording every tensor
each rank hands to torch.distributed (point-to-point and collectives).

Tests pin the backend and the device: `small_config` sets `runtime.backend=gloo`, and ranks
and CLI subprocesses see no GPU (`CUDA_VISIBLE_DEVICES` empty), so on a GPU machine they still
compare CPU runs with CPU runs, bitwise, as they do on CI.

The recording patches torch.distributed inside each rank, independently of the ByteMeter, so
tests can compare the meter against what actually went to the transport.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fsl_sage_dist.algorithms import REGISTRY
from fsl_sage_dist.config import Config, config_from_dict, config_to_dict, load_config
from fsl_sage_dist.rundir.records import unmeasured
from fsl_sage_dist.runtime.process_group import STORE_FILE_ENV
from fsl_sage_dist.wire import ByteMeter, Channel
from fsl_sage_dist.wire.loopback import Loopback, LoopbackTransport

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = tuple(REGISTRY)
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # set before torch first looks for CUDA in that process
CLIENT_TRAFFIC_OPS = ("send", "isend", "recv", "irecv", "broadcast")  # what the Channel uses
COLLECTIVE_OPS = (
    "reduce",
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "gather",
    "scatter",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "all_to_all",
    "all_to_all_single",
)
OBJECT_OPS = (
    "broadcast_object_list",
    "all_gather_object",
    "gather_object",
    "scatter_object_list",
    "send_object_list",
    "recv_object_list",
)
"""Calls that pickle Python objects: none may ever be made (the wire carries tensors only)."""


SMALL_JOB = [
    "runtime.backend=gloo",
    "rounds=2",
    "clients.num=4",
    "launch.client_hosts=2",
    "data.name=synthetic",
    "data.synthetic_size=[480,200]",
    "train.batch_size=32",
    "runtime.threads_per_rank=1",
    "runtime.timeout_s=120",
    "output.name=run",
    "fsl.align_epochs=5",
]
"""A seconds-long synthetic job: 4 clients on 2 hosts, 2 rounds, one thread per rank (as
overrides; later ones win, so a test appends what it changes)."""


def small_config(tmp_path: Path, *overrides: str) -> Config:
    """`SMALL_JOB` writing under `tmp_path`, with `overrides`."""
    return load_config(None, [*SMALL_JOB, f"output.dir={tmp_path}", *overrides])


def loopback_pair(activation_dtype: str = "fp32") -> tuple[Loopback, Channel, Channel]:
    """Channels of a client host (rank 1, metering 3 clients) and the server (rank 0, not
    metering) over one in-process loopback; use them inside `with loopback.baton:`."""
    loopback, cpu = Loopback(hosts=[1], timeout_s=5), torch.device("cpu")

    def endpoint(rank: int, meter: ByteMeter | None) -> Channel:
        return Channel(
            LoopbackTransport(loopback, rank), meter, cpu, cpu, 1 << 30, activation_dtype
        )

    return loopback, endpoint(1, ByteMeter(3)), endpoint(0, None)


def run_cli(
    *args: str, timeout: float = 300, path: tuple[Path, ...] = (), **env_vars: str
) -> subprocess.CompletedProcess:
    """`fsl-sage ARGS` in a subprocess; `path`: folders searched before the package's (a
    `sitecustomize.py` there runs in the launcher and in every rank)."""
    pythonpath = os.pathsep.join([*map(str, path), str(ROOT)])
    env = dict(os.environ, PYTHONPATH=pythonpath, **NO_GPU, **env_vars)
    return subprocess.run(
        [sys.executable, "-m", "fsl_sage_dist", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def untimed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """metrics.jsonl records without what was measured (seconds, memory peaks of processes):
    equal for identical runs."""
    return [unmeasured(r) for r in records]


def assert_same_results(a: Path, b: Path) -> list[dict[str, Any]]:
    """Two RUN_DIRs hold the same run: metrics.jsonl equal but for the seconds, and the final
    client and full models equal bitwise. Returns the (untimed) records."""
    records = untimed(read_metrics(a))
    assert records == untimed(read_metrics(b))
    wa = torch.load(a / "final_model.pt", weights_only=True)
    wb = torch.load(b / "final_model.pt", weights_only=True)
    for part in ("client", "full"):
        assert wa[part].keys() == wb[part].keys(), part
        for key in wa[part]:
            assert torch.equal(wa[part][key], wb[part][key]), f"{part}: {key}"
    return records


def digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under `folder` by relative path, but those in subfolders named in
    `skip`: compare before and after to show nothing was written."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent.name not in skip
    }


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (exited, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


HOST_RECEIVES = ("recv", "irecv", "broadcast")
"""A client host's calls that only fill its own buffer (it is never a broadcast's source): what
they were handed is uninitialised memory, not anything sent."""


def host_sends(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls in a client host's log that send what they were handed."""
    return [e for e in log if e["op"] not in HOST_RECEIVES]


def handed_bytes(log: list[dict[str, Any]]) -> int:
    """Bytes of the client traffic a rank handed to the transport (collectives excluded)."""
    return sum(e["nbytes"] for e in log if e["op"] in CLIENT_TRAFFIC_OPS)


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Every tensor among a call's arguments, lists of tensors (all_gather) included."""
    found = []
    for arg in (*args, *kwargs.values()):
        items = arg if isinstance(arg, (list, tuple)) else [arg]
        found += [t for t in items if isinstance(t, torch.Tensor)]
    return found


def _recording(name: str, log: list[dict[str, Any]], keep: bool):
    original = getattr(dist, name)

    def wrapper(*args: Any, **kwargs: Any):
        if name in OBJECT_OPS:
            log.append({"op": name, "nbytes": 0})
            return original(*args, **kwargs)
        for tensor in _tensors(args, kwargs):  # before the call: what this rank hands over
            log.append(_entry(name, tensor, keep))
        return original(*args, **kwargs)

    return wrapper


def _entry(op: str, tensor: torch.Tensor, keep: bool) -> dict[str, Any]:
    entry = {
        "op": op,
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "nbytes": tensor.numel() * tensor.element_size(),
    }
    if keep:
        entry["tensor"] = tensor.detach().cpu().clone()
    return entry


class RecordingTransport:
    """A rank's transport that logs, with its tensor, everything handed to it before handing it
    on: what `_recording` logs of torch.distributed, for an in-process run."""

    def __init__(self, inner: LoopbackTransport, log: list[dict[str, Any]]) -> None:
        self.inner, self.log = inner, log

    def isend(self, tensor: torch.Tensor, peer: int) -> Any:
        self.log.append(_entry("isend", tensor, keep=True))
        return self.inner.isend(tensor, peer)

    def irecv(self, tensor: torch.Tensor, peer: int) -> Any:
        self.log.append(_entry("irecv", tensor, keep=True))
        return self.inner.irecv(tensor, peer)

    def recv(self, tensor: torch.Tensor, peer: int) -> None:
        self.log.append(_entry("recv", tensor, keep=True))
        self.inner.recv(tensor, peer)

    def broadcast(self, tensor: torch.Tensor) -> None:
        self.log.append(_entry("broadcast", tensor, keep=True))
        self.inner.broadcast(tensor)

    def reduce(self, tensor: torch.Tensor) -> None:
        self.log.append(_entry("reduce", tensor, keep=True))
        self.inner.reduce(tensor)

    def all_reduce(self, tensor: torch.Tensor) -> None:
        self.log.append(_entry("all_reduce", tensor, keep=True))
        self.inner.all_reduce(tensor)


def record_in_process(monkeypatch: Any) -> dict[int, list[dict[str, Any]]]:
    """Make `run_in_process` record each rank's traffic (with tensors) into the returned logs,
    by rank."""
    from fsl_sage_dist.runtime import in_process

    logs: dict[int, list[dict[str, Any]]] = {}

    def transport(loopback: Loopback, rank: int) -> RecordingTransport:
        return RecordingTransport(LoopbackTransport(loopback, rank), logs.setdefault(rank, []))

    monkeypatch.setattr(in_process, "LoopbackTransport", transport)
    return logs


def record_busy(intervals: list[list[float]]) -> None:
    """Time every client host's training phase of each round (its clients' forward passes,
    uploads and steps) with CLOCK_MONOTONIC, which processes on one machine share."""
    from fsl_sage_dist.runtime.client_host import ClientHostRole

    original = ClientHostRole._train

    def train(self, clients: list, round_: int) -> Any:
        start = time.monotonic()
        try:
            return original(self, clients, round_)
        finally:
            intervals.append([round_, min(self.data), start, time.monotonic()])

    ClientHostRole._train = train


def read_busy(record_dir: Path, rank: int) -> list[list[float]]:
    """[round, first client, start, end] of each round's training on a host rank."""
    return torch.load(record_dir / f"busy_rank{rank}.pt", weights_only=True)


def _rank_main(
    rank: int,
    cfg_dict: dict,
    store_file: str,
    record_dir: str | None,
    keep_tensors: bool,
    patch: Callable[[], None] | None,
) -> None:
    from fsl_sage_dist.runtime.worker import run_rank

    world = 1 + cfg_dict["launch"]["client_hosts"]
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        GLOO_SOCKET_IFNAME="lo",
        **{STORE_FILE_ENV: store_file},
        **NO_GPU,
    )
    log: list[dict[str, Any]] = []
    busy: list[list[float]] = []
    if record_dir:
        for name in (*CLIENT_TRAFFIC_OPS, *COLLECTIVE_OPS, *OBJECT_OPS):
            setattr(dist, name, _recording(name, log, keep_tensors))
        record_busy(busy)
    if patch is not None:
        patch()
    run_rank(config_from_dict(cfg_dict))
    if record_dir:
        torch.save(log, Path(record_dir) / f"traffic_rank{rank}.pt")
        torch.save(busy, Path(record_dir) / f"busy_rank{rank}.pt")


def spawn_job(
    cfg: Config,
    record_dir: Path | None = None,
    keep_tensors: bool = False,
    patch: Callable[[], None] | None = None,
) -> list[list[dict[str, Any]]] | None:
    """Run every rank of `cfg` in this machine's processes; return each rank's traffic log.
    The ranks meet through a FileStore, as under the built-in launcher: no port is opened.
    `patch` (picklable: a module-level function, or a partial of one) runs in every rank
    before it starts: a test's change to the package, made where the code runs."""
    if record_dir:
        record_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fsl-sage-test-rdzv-") as folder:
        mp.start_processes(
            _rank_main,
            nprocs=cfg.world_size,
            start_method="spawn",
            args=(
                config_to_dict(cfg),
                str(Path(folder) / "store"),
                str(record_dir) if record_dir else None,
                keep_tensors,
                patch,
            ),
        )
    if not record_dir:
        return None
    return [
        torch.load(record_dir / f"traffic_rank{r}.pt", weights_only=True)
        for r in range(cfg.world_size)
    ]
