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
from ..checkpoint import (CheckpointError, load_rank_state, rank_file, read_manifest,
                          save_rank_state, write_manifest)
from ..config import Config, config_to_dict, to_toml
from ..data import (ClientData, ImageSet, limit_indices, load_dataset, partition_indices,
                    partition_summary)
from ..metrics import MIB, MetricsError, write_json
from ..models import SplitModel, build_split_model
from ..placement import Placement
from ..threads import set_threads
from ..wire import ByteMeter, Channel
from .client_host import ClientHostRole
from .process_group import RankInfo, destroy_process_group, init_process_group
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


def build_template(cfg: Config, train: ImageSet) -> SplitModel:
    """The seeded split model of this config: the same weights on every rank."""
    return build_split_model(cfg.model.name, train.input_shape, train.num_classes,
                             cut=cfg.model.cut, stem=cfg.model.stem, seed=cfg.seed)


def build_algorithm(cfg: Config, train: ImageSet, device: torch.device,
                    channel: Channel) -> Algorithm:
    """This rank's algorithm object, on a fresh copy of the seeded split model."""
    template = build_template(cfg, train)
    placement = Placement(cfg.clients.num, cfg.launch.client_hosts)
    return REGISTRY[cfg.algorithm](Context(cfg, placement, device, channel), template)


def _gather_rows(row: list[int], info: RankInfo) -> list[list[int]]:
    """Every rank's `row` of integers, in rank order: each rank fills its own row of zeros and a
    SUM makes the table (an exempt reduction, not client traffic)."""
    table = torch.zeros(info.world_size, len(row), dtype=torch.int64, device=info.comm_device)
    table[info.rank] = torch.tensor(row, dtype=torch.int64)
    dist.all_reduce(table)
    return table.tolist()


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
        return {"clients": {str(c.id): c.state_dict() for c in self.role.clients},
                "algorithm": self.role.algo.host_state_dict()}

    def load_state_dict(self, state: dict, round_: int) -> None:
        for client in self.role.clients:
            client.load_state_dict(state["clients"][str(client.id)])
        self.role.algo.load_host_state_dict(state["algorithm"])

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
    summary = partition_summary(parts, train.labels.numpy(), train.num_classes)
    return ServerLoop(cfg, algo, info, [len(p) for p in parts], load_split(cfg, "test"),
                      summary | {"scheme": cfg.data.partition})


def _checked_file(cfg: Config, round_: int, rank: int, code: int) -> str:
    """The file a rank's resume check failed on: code 1 its checkpoint file, 2 metrics.jsonl."""
    return str(cfg.run_dir / "metrics.jsonl" if code == 2 else rank_file(cfg.run_dir, round_, rank))


def _resume(cfg: Config, info: RankInfo, loop: HostLoop | ServerLoop) -> int:
    """Load this rank's part of the last complete checkpoint; returns the first round to run.

    Every rank verifies its file against the manifest's hash (the server also its
    metrics.jsonl) and loads it into memory only; the ranks agree before `loop.start` may
    change anything in RUN_DIR, so a damaged checkpoint leaves RUN_DIR as it was."""
    manifest = read_manifest(cfg)
    if manifest is None:
        return 0
    round_, error, code = manifest["round"], None, 0
    try:
        loop.load_state_dict(load_rank_state(cfg.run_dir, manifest, info.rank), round_)
    except CheckpointError as err:
        error, code = err, 1
    except MetricsError as err:
        error, code = CheckpointError(f"rank {info.rank}: {err}"), 2
    # every rank learns which file failed which rank, so whichever error the user sees names it
    codes = [code for (code,) in _gather_rows([code], info)]
    if error:
        raise error
    bad = [_checked_file(cfg, round_, rank, code) for rank, code in enumerate(codes) if code]
    if bad:
        raise CheckpointError(f"rank {info.rank}: cannot read checkpoint of round {round_ + 1}: "
                              f"{', '.join(bad)} failed its check on the rank that reads it; "
                              "RUN_DIR is left as it was")
    if info.rank == 0:
        print(f"resuming {cfg.run_dir} after round {round_ + 1}", flush=True)
    return round_ + 1


def _checkpoint(cfg: Config, info: RankInfo, loop: HostLoop | ServerLoop, round_: int) -> None:
    """Every rank writes its file, then all agree (as on resume): the manifest is written only
    when every file is in place, and a rank whose save failed is named, with its file and the
    OS error, on every rank (so whichever rank's error the user sees has the cause)."""
    row, error = [0] * 34, None  # errno of a failed save (0: saved), size, 32 digest bytes
    try:
        size, digest = save_rank_state(cfg.run_dir, round_, info.rank, loop.state_dict())
        row = [0, size, *digest]
    except OSError as err:  # atomic_write's WriteError: the OS error and the path
        row[0], error = err.errno or -1, err
    rows = _gather_rows(row, info)
    if error:
        raise CheckpointError(f"rank {info.rank}: cannot save its checkpoint of round "
                              f"{round_ + 1}: {error}") from None
    failed = [f"rank {rank} ({os.strerror(row[0]).lower() if row[0] > 0 else 'failed'}: "
              f"{rank_file(cfg.run_dir, round_, rank)})" for rank, row in enumerate(rows) if row[0]]
    if failed:
        raise CheckpointError(f"rank {info.rank}: could not save the checkpoint of round "
                              f"{round_ + 1} on {', '.join(failed)}; the previous checkpoint "
                              "stays in force")
    if info.rank == 0:
        write_manifest(cfg, round_, [(row[1], bytes(row[2:])) for row in rows])


def _checkpoint_due(cfg: Config, round_: int) -> bool:
    every = cfg.checkpoint.every
    return every > 0 and ((round_ + 1) % every == 0 or round_ == cfg.rounds - 1)


def _announce(cfg: Config, info: RankInfo, threads: int) -> None:
    """RUN_DIR/ranks/rankK.json says which process on which host is rank K, on what device
    and with how many intra-op threads (for operators)."""
    folder = cfg.run_dir / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"rank{info.rank}.json",
               {"rank": info.rank, "pid": os.getpid(), "host": socket.gethostname(),
                "backend": info.backend, "device": str(info.device), "threads": threads})
    error_file(cfg.run_dir, info.rank).unlink(missing_ok=True)  # an earlier attempt's error


def _run(cfg: Config, info: RankInfo) -> None:
    threads = set_threads(cfg, int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size)))
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
    _announce(cfg, info, threads)
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
