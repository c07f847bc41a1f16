"""One rank of a run, from process-group start to teardown: `run_rank(cfg)`.

torchrun (or the built-in launcher in `launcher.py`) starts one process per rank with RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT set; each calls `run_rank` with the same resolved config.
Rank 0 becomes the server, ranks 1..H client hosts.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import torch
import torch.distributed as dist

from ..algorithms import REGISTRY, Algorithm, Context, VirtualClient
from ..config import Config, config_to_dict, to_toml
from ..data import (ClientData, ImageSet, limit_indices, load_dataset, partition_indices,
                    partition_summary)
from ..metrics import MIB, MetricsLog, progress_line, summarize, write_json
from ..models import build_split_model
from ..placement import Placement
from ..wire import ByteMeter, Channel, counts_to_bytes, payload_bytes, wire_bytes
from .client_host import ClientHostRole
from .process_group import RankInfo, destroy_process_group, init_process_group, set_threads
from .round_report import RoundReport, reduce_round
from .server import ServerRole


def _load(cfg: Config, split: str) -> ImageSet:
    d = cfg.data
    return load_dataset(d.name, split, root=d.root, synthetic_shape=tuple(d.synthetic_shape),
                        num_classes=d.num_classes, synthetic_size=tuple(d.synthetic_size),
                        seed=cfg.seed)


def _partition(cfg: Config, train: ImageSet) -> list[np.ndarray]:
    """Indices into `train` per client; every rank computes the same from the seed."""
    pool = limit_indices(len(train), cfg.data.train_limit, cfg.seed)
    labels = train.labels.numpy()[pool]
    parts = partition_indices(labels, cfg.clients.num, cfg.data.partition, cfg.seed,
                              alpha=cfg.data.alpha, shards_per_client=cfg.data.shards_per_client)
    return [pool[p] for p in parts]


def _check_same_config(cfg: Config, info: RankInfo) -> None:
    """Every rank must run the same config; compare fingerprints (exempt from metering)."""
    fp = zlib.crc32(to_toml(config_to_dict(cfg)).encode())
    both = torch.tensor([fp, -fp], dtype=torch.int64, device=info.comm_device)
    dist.all_reduce(both, op=dist.ReduceOp.MIN)
    if int(both[0]) != fp or int(both[1]) != -fp:
        raise RuntimeError(f"rank {info.rank}: the ranks of this job were started with "
                           "different configs; start every rank with the same command")


def _record(cfg: Config, round_: int, report: RoundReport, acc: float | None,
            loss: float | None, round_s: float, prev: dict | None) -> dict:
    by_category = counts_to_bytes(report.byte_counts)
    cum_payload = (prev["cum_payload_bytes"] if prev else 0) + payload_bytes(by_category)
    cum_wire = (prev["cum_wire_bytes"] if prev else 0) + wire_bytes(by_category)
    return {
        "round": round_, "algorithm": cfg.algorithm, "test_acc": acc, "test_loss": loss,
        "train_loss": report.train_loss, "round_s": round_s, "bytes": by_category,
        "round_payload_bytes": payload_bytes(by_category),
        "round_wire_bytes": wire_bytes(by_category),
        "cum_payload_bytes": cum_payload, "cum_wire_bytes": cum_wire,
        "host_busy_s": report.busy_s[1:].tolist(),
    }


def _run_server(cfg: Config, algo: Algorithm, info: RankInfo, parts: list[np.ndarray],
                summary_extra: dict) -> None:
    role = ServerRole(algo, [len(p) for p in parts], _load(cfg, "test"))
    log = MetricsLog(cfg.run_dir)
    meter = ByteMeter(cfg.clients.num)  # stays empty: hosts meter (see wire/channel.py)
    for round_ in range(cfg.rounds):
        losses, busy = role.run_round(round_)
        report = reduce_round(meter, losses, busy, 0, info.world_size, info.comm_device)
        last = round_ == cfg.rounds - 1
        acc = loss = None
        if last or (round_ + 1) % cfg.eval.every == 0:
            acc, loss = role.evaluate()
        prev = log.records[-1] if log.records else None
        log.append(_record(cfg, round_, report, acc, loss, busy, prev))
        print(progress_line(log.records[-1], cfg.rounds), flush=True)
    final = {"client": role.global_client.state_dict(),
             "full": role.algo.eval_model(role.global_client).state_dict()}
    torch.save(final, cfg.run_dir / "final_model.pt")
    write_json(cfg.run_dir / "summary.json",
               summarize(log.records, info.world_size, cfg.clients.num,
                         report.peak_rss_mib.tolist()) | summary_extra)


def _run_host(cfg: Config, algo: Algorithm, info: RankInfo, clients: list[VirtualClient]) -> None:
    role = ClientHostRole(algo, clients)
    for round_ in range(cfg.rounds):
        losses, busy = role.run_round(round_)
        reduce_round(algo.ctx.channel.meter, losses, busy, info.rank, info.world_size,
                     info.comm_device)


def run_rank(cfg: Config) -> None:
    info = init_process_group(cfg)
    try:
        set_threads(cfg, int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size)))
        _check_same_config(cfg, info)
        train = _load(cfg, "train")
        parts = _partition(cfg, train)
        template = build_split_model(cfg.model.name, train.input_shape, train.num_classes,
                                     cut=cfg.model.cut, stem=cfg.model.stem, seed=cfg.seed)
        meter = ByteMeter(cfg.clients.num) if info.rank != 0 else None
        channel = Channel(info.rank, meter, info.comm_device, info.device,
                          int(cfg.wire.max_message_mib * MIB))
        placement = Placement(cfg.clients.num, cfg.launch.client_hosts)
        algo = REGISTRY[cfg.algorithm](Context(cfg, placement, info.device, channel), template)
        if info.rank == 0:
            cfg.run_dir.mkdir(parents=True, exist_ok=True)
            summary = partition_summary(parts, train.labels.numpy(), train.num_classes)
            write_json(cfg.run_dir / "partition.json", summary)
            del train  # the server keeps labels' summary only; it never trains on inputs
            _run_server(cfg, algo, info, parts, {"cut_shape": list(template.cut_shape)})
        else:
            clients = [algo.new_client(c, ClientData(train, parts[c], cfg.train.batch_size,
                                                     cfg.seed, c, cfg.data.augment))
                       for c in placement.clients_on(info.rank)]
            del train  # each client kept only its own rows
            _run_host(cfg, algo, info, clients)
    finally:
        destroy_process_group()
