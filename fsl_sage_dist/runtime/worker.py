"""One rank of a run, from process-group start to teardown: `run_rank(cfg)`.

torchrun (or `fsl-sage submit`) starts one process per rank with RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT set, the built-in launcher (`launcher.py`) with RANK, WORLD_SIZE and a store
file; each calls `run_rank` with the same resolved config.
Rank 0 becomes the server, ranks 1..H client hosts. If RUN_DIR holds a complete checkpoint,
every rank resumes from it.
"""

from __future__ import annotations

import os
import socket
import zlib

import numpy as np
import torch
import torch.distributed as dist

from ..algorithms import REGISTRY, Algorithm, Context
from ..checkpoint import (CheckpointError, load_rank_state, read_manifest, round_dir,
                          save_rank_state, write_manifest)
from ..config import Config, config_to_dict, to_toml
from ..data import (ClientData, ImageSet, limit_indices, load_dataset, partition_indices,
                    partition_summary)
from ..metrics import MIB, write_json
from ..models import build_split_model
from ..placement import Placement
from ..wire import ByteMeter, Channel
from .client_host import ClientHostRole
from .process_group import RankInfo, destroy_process_group, init_process_group, set_threads
from .rank_errors import error_file, record_error
from .round_report import reduce_round
from .server_loop import ServerLoop


class RankFailure(RuntimeError):
    """A rank could not go on; the message names the rank, its role and the round."""


def load_split(cfg: Config, split: str) -> ImageSet:
    d = cfg.data
    return load_dataset(d.name, split, root=d.root, synthetic_shape=tuple(d.synthetic_shape),
                        num_classes=d.num_classes, synthetic_size=tuple(d.synthetic_size),
                        seed=cfg.seed)


def partition(cfg: Config, train: ImageSet) -> list[np.ndarray]:
    """Indices into `train` per client; every rank computes the same from the seed."""
    pool = limit_indices(len(train), cfg.data.train_limit, cfg.seed)
    labels = train.labels.numpy()[pool]
    parts = partition_indices(labels, cfg.clients.num, cfg.data.partition, cfg.seed,
                              alpha=cfg.data.alpha, shards_per_client=cfg.data.shards_per_client)
    return [pool[p] for p in parts]


def build_algorithm(cfg: Config, train: ImageSet, device: torch.device,
                    channel: Channel) -> Algorithm:
    """This rank's algorithm object, on a fresh copy of the seeded split model."""
    template = build_split_model(cfg.model.name, train.input_shape, train.num_classes,
                                 cut=cfg.model.cut, stem=cfg.model.stem, seed=cfg.seed)
    placement = Placement(cfg.clients.num, cfg.launch.client_hosts)
    return REGISTRY[cfg.algorithm](Context(cfg, placement, device, channel), template)


def _failed_ranks(failed: bool, info: RankInfo) -> list[int]:
    """Which ranks report a failure (an exempt reduction, not client traffic)."""
    flags = torch.zeros(info.world_size, dtype=torch.int64, device=info.comm_device)
    flags[info.rank] = int(failed)
    dist.all_reduce(flags)
    return [rank for rank, flag in enumerate(flags.tolist()) if flag]


def _check_same_config(cfg: Config, info: RankInfo) -> None:
    """Every rank must run the same config; compare fingerprints."""
    fp = zlib.crc32(to_toml(config_to_dict(cfg)).encode())
    both = torch.tensor([fp, -fp], dtype=torch.int64, device=info.comm_device)
    dist.all_reduce(both, op=dist.ReduceOp.MIN)
    if int(both[0]) != fp or int(both[1]) != -fp:
        raise RankFailure(f"rank {info.rank}: the ranks of this job were started with "
                          "different configs; start every rank with the same command")


class HostLoop:
    """A client host's rounds: train its clients, then report to the server."""

    def __init__(self, role: ClientHostRole, info: RankInfo) -> None:
        self.role, self.info = role, info

    def run_round(self, round_: int) -> None:
        reduce_round(self.role.ctx.channel.meter, *self.role.run_round(round_), self.info.rank,
                     self.info.world_size, self.info.comm_device)

    def state_dict(self) -> dict:
        return {"clients": {str(c.id): c.state_dict() for c in self.role.clients}}

    def load_state_dict(self, state: dict, round_: int) -> None:
        for client in self.role.clients:
            client.load_state_dict(state["clients"][str(client.id)])

    def start(self, first_round: int) -> None:
        """Nothing to write: the server owns RUN_DIR's files."""

    def finish(self) -> None:
        """Nothing to write: the server owns RUN_DIR's files."""


def host_role(cfg: Config, algo: Algorithm, rank: int, train: ImageSet,
              parts: list[np.ndarray]) -> ClientHostRole:
    """The virtual clients of client host `rank`, each with its own rows of `train`."""
    clients = [algo.new_client(c, ClientData(train, parts[c], cfg.train.batch_size, cfg.seed, c,
                                             cfg.data.augment))
               for c in algo.ctx.placement.clients_on(rank)]
    return ClientHostRole(algo, clients)


def _make_host(cfg: Config, algo: Algorithm, info: RankInfo, train: ImageSet,
               parts: list[np.ndarray]) -> HostLoop:
    return HostLoop(host_role(cfg, algo, info.rank, train, parts), info)


def _make_server(cfg: Config, algo: Algorithm, info: RankInfo, train: ImageSet,
                 parts: list[np.ndarray]) -> ServerLoop:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    summary = partition_summary(parts, train.labels.numpy(), train.num_classes)
    write_json(cfg.run_dir / "partition.json", summary | {"scheme": cfg.data.partition})
    return ServerLoop(cfg, algo, info, [len(p) for p in parts], load_split(cfg, "test"))


def _resume(cfg: Config, info: RankInfo, loop: HostLoop | ServerLoop) -> int:
    """Load this rank's part of the last complete checkpoint; returns the first round to run."""
    manifest = read_manifest(cfg)
    if manifest is None:
        return 0
    round_, error = manifest["round"], None
    try:
        loop.load_state_dict(load_rank_state(cfg.run_dir, round_, info.rank), round_)
    except CheckpointError as err:
        error = err
    failed = _failed_ranks(error is not None, info)
    if error:
        raise error
    if failed:
        files = ", ".join(str(round_dir(cfg.run_dir, round_) / f"rank{r}.pt") for r in failed)
        raise CheckpointError(f"rank {info.rank}: cannot read checkpoint of rank(s) {failed} "
                              f"({files}); RUN_DIR is left as it was")
    if info.rank == 0:
        print(f"resuming {cfg.run_dir} after round {round_ + 1}", flush=True)
    return round_ + 1


def _checkpoint(cfg: Config, info: RankInfo, loop: HostLoop | ServerLoop, round_: int) -> None:
    save_rank_state(cfg.run_dir, round_, info.rank, loop.state_dict())
    confirmed = not _failed_ranks(False, info)  # returns once every rank has written its file
    if confirmed and info.rank == 0:
        write_manifest(cfg, round_)


def _checkpoint_due(cfg: Config, round_: int) -> bool:
    every = cfg.checkpoint.every
    return every > 0 and ((round_ + 1) % every == 0 or round_ == cfg.rounds - 1)


def _announce(cfg: Config, info: RankInfo) -> None:
    """RUN_DIR/ranks/rankK.json says which process on which host is rank K (for operators)."""
    folder = cfg.run_dir / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"rank{info.rank}.json",
               {"rank": info.rank, "pid": os.getpid(), "host": socket.gethostname(),
                "backend": info.backend, "device": str(info.device)})
    error_file(cfg.run_dir, info.rank).unlink(missing_ok=True)  # an earlier attempt's error


def _run(cfg: Config, info: RankInfo) -> None:
    _announce(cfg, info)
    set_threads(cfg, int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size)))
    _check_same_config(cfg, info)
    train = load_split(cfg, "train")
    parts = partition(cfg, train)
    channel = Channel(ByteMeter(cfg.clients.num) if info.rank else None,
                      info.comm_device, info.device, int(cfg.wire.max_message_mib * MIB),
                      cfg.wire.activation_dtype)
    algo = build_algorithm(cfg, train, info.device, channel)
    make = _make_server if info.rank == 0 else _make_host
    loop = make(cfg, algo, info, train, parts)
    del train  # clients keep only their own rows; the server never trains on inputs
    first_round = _resume(cfg, info, loop)
    loop.start(first_round)
    for round_ in range(first_round, cfg.rounds):
        loop.run_round(round_)
        if _checkpoint_due(cfg, round_):
            _checkpoint(cfg, info, loop, round_)
    loop.finish()


def run_rank(cfg: Config) -> None:
    """Run this rank; a failure is written to RUN_DIR/ranks/rankR.err before the process group
    is torn down (see `rank_errors.py`), so the cause is on disk before peers see a closed
    connection."""
    rank = int(os.environ["RANK"])
    role = "server" if rank == 0 else "client host"
    try:
        _run(cfg, init_process_group(cfg))
    except Exception as err:
        record_error(cfg.run_dir, rank, role, err)
        if isinstance(err, (RankFailure, CheckpointError)) or not isinstance(err, RuntimeError):
            raise
        # torch.distributed errors: a peer died, stalled or timed out
        raise RankFailure(f"rank {rank} ({role}): {err}") from err
    finally:
        destroy_process_group()
