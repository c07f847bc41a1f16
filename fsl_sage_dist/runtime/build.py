"""Building a rank from its config: data, partition, model, algorithm, role and loop.

Every rank builds the same things from the seed (the same partition, the same initial weights),
so nothing but client traffic has to cross between ranks.
"""

from __future__ import annotations

import numpy as np
import torch

from fsl_sage_dist.algorithms import REGISTRY, Algorithm, Context
from fsl_sage_dist.client_store import ClientStateStore, spill_folder
from fsl_sage_dist.config import Config
from fsl_sage_dist.data import (
    ClientData,
    ImageSet,
    limit_indices,
    load_dataset,
    partition_indices,
    partition_summary,
)
from fsl_sage_dist.llm_options import gpt2_spec
from fsl_sage_dist.models import SplitModel, build_split_model
from fsl_sage_dist.placement import Placement
from fsl_sage_dist.runtime.client_host import ClientHostRole
from fsl_sage_dist.runtime.host_loop import HostLoop
from fsl_sage_dist.runtime.process_group import RankInfo
from fsl_sage_dist.runtime.rank_loop import RankLoop
from fsl_sage_dist.runtime.server_loop import ServerLoop
from fsl_sage_dist.units import MIB
from fsl_sage_dist.wire import ByteMeter, Channel, Transport


def load_split(cfg: Config, split: str) -> ImageSet:
    d = cfg.data
    return load_dataset(
        d.name,
        split,
        root=d.root,
        synthetic_shape=tuple(d.synthetic_shape),
        num_classes=d.num_classes,
        synthetic_size=tuple(d.synthetic_size),
        seed=cfg.seed,
        seq_len=d.seq_len,
        pretrained=cfg.model.pretrained,
    )


def partition(cfg: Config, train: ImageSet) -> list[np.ndarray]:
    """Indices into `train` per client; every rank computes the same from the seed."""
    pool = limit_indices(len(train), cfg.data.train_limit, cfg.seed)
    labels = train.labels.numpy()[pool]
    parts = partition_indices(
        labels,
        cfg.clients.num,
        cfg.data.partition,
        cfg.seed,
        alpha=cfg.data.alpha,
        shards_per_client=cfg.data.shards_per_client,
    )
    return [pool[p] for p in parts]


def build_template(cfg: Config, train: ImageSet) -> SplitModel:
    """The seeded split model of this config: the same weights on every rank."""
    return build_split_model(
        cfg.model.name,
        train.input_shape,
        train.num_classes,
        cut=cfg.model.cut,
        stem=cfg.model.stem,
        seed=cfg.seed,
        gpt2=gpt2_spec(cfg),
    )


def build_algorithm(
    cfg: Config, train: ImageSet, device: torch.device, channel: Channel, rank: int
) -> Algorithm:
    """Rank `rank`'s algorithm object, on a fresh copy of the seeded split model."""
    template = build_template(cfg, train)
    placement = Placement(cfg.clients.num, cfg.launch.client_hosts)
    states = ClientStateStore(spill_folder(cfg, rank), cfg.runtime.spill)
    return REGISTRY[cfg.algorithm](Context(cfg, placement, device, channel, states), template)


def host_role(
    cfg: Config, algo: Algorithm, rank: int, train: ImageSet, parts: list[np.ndarray]
) -> ClientHostRole:
    """The virtual clients of client host `rank`, each with its own rows of `train`."""
    data = {
        c: ClientData(train, parts[c], cfg.train.batch_size, cfg.seed, c, cfg.data.augment)
        for c in algo.ctx.placement.clients_on(rank)
    }
    return ClientHostRole(algo, data)


def build_channel(cfg: Config, info: RankInfo, transport: Transport) -> Channel:
    """This rank's channel over `transport`; only client hosts meter (`wire/channel.py`)."""
    meter = ByteMeter(cfg.clients.num) if info.rank else None
    return Channel(
        transport,
        meter,
        info.comm_device,
        info.device,
        int(cfg.wire.max_message_mib * MIB),
        cfg.wire.activation_dtype,
    )


def build_loop(cfg: Config, info: RankInfo, channel: Channel, train: ImageSet) -> RankLoop:
    """Rank 0's server loop or a client host's loop. Hosts keep only their clients' rows of
    `train`; the server keeps none (it never trains on inputs) and loads the test set."""
    parts = partition(cfg, train)
    algo = build_algorithm(cfg, train, info.device, channel, info.rank)
    if info.rank:
        return HostLoop(host_role(cfg, algo, info.rank, train, parts), info)
    summary = partition_summary(parts, train.labels.numpy(), train.partition_classes)
    return ServerLoop(
        cfg,
        algo,
        info,
        [len(p) for p in parts],
        load_split(cfg, "test"),
        summary | {"scheme": cfg.data.partition},
    )
