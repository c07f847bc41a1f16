"""An algorithm in two halves, and what they tell the round driver.

The driver (`runtime/client_host.py`, `runtime/server.py`) owns everything the algorithms share:
sampling, the local loop over batches, uploading smashed batches on the schedule of the
algorithm's spec (`plan/spec.py`: when uploads go up, whole turns or lockstep, which parts are
averaged), averaging, evaluation, metrics. Each algorithm says only what differs, in two halves
that never meet in one process except the in-process baseline:

- `ClientSide` (client hosts): `new_client`, `update(step)` (the client's step once its forward
  pass and upload are done), `round_end`, and its checkpointed state;
- `ServerSide` (rank 0): `step` (what the server does with one uploaded batch), `round_end`,
  `eval_model`, `notes` (what the reports show beyond the usual), and its checkpointed state.

Each half also says what it holds (`holdings`), for the memory meter (`memory/`): the drivers
wrap every phase of its work in `ctx.memory.phase`.

Both are told each round's participants (`start_round`) and take a `Context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fsl_sage_dist.client_store import ClientStateStore
from fsl_sage_dist.config import FSLConfig, RuntimeConfig, TrainConfig
from fsl_sage_dist.data import ClientData
from fsl_sage_dist.errors import CheckpointError
from fsl_sage_dist.memory import Holdings, MemoryMeter
from fsl_sage_dist.models import SplitModel, clone
from fsl_sage_dist.models.objective import Objective
from fsl_sage_dist.plan import AlgorithmSpec, Placement, Plan
from fsl_sage_dist.wire import Channel, SmashedBatch

PARTS = {"client_model": "model", "aux_model": "aux"}
"""The `VirtualClient` field that holds each category of averaged state."""


@dataclass
class VirtualClient:
    """One participating client on its host: model, optimizer, data stream, and aux head if
    any. Built for the round it is sampled in (`runtime/client_host.py`)."""

    id: int
    data: ClientData
    model: nn.Module
    optimizer: torch.optim.Optimizer
    aux: nn.Module | None = None
    aux_optimizer: torch.optim.Optimizer | None = None

    def part(self, category: str) -> nn.Module:
        return getattr(self, PARTS[category])

    def state_dict(self) -> dict[str, Any]:
        """All of its state (its data order is derived from the seed, not kept)."""
        parts = {
            "model": self.model,
            "optimizer": self.optimizer,
            "aux": self.aux,
            "aux_optimizer": self.aux_optimizer,
        }
        return {k: v.state_dict() for k, v in parts.items() if v is not None}

    def own_state_dict(self, averaged: tuple[str, ...]) -> dict[str, Any]:
        """What the client keeps between its participations: everything but its averaged
        parts, which every client takes from the global state at each round end."""
        shared = {PARTS[category] for category in averaged}
        return {k: v for k, v in self.state_dict().items() if k not in shared}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            getattr(self, key).load_state_dict(value)


@dataclass
class StepLoss:
    """Loss of one training batch where it was computed (summed over the batch's samples)."""

    client: int
    loss_sum: float
    samples: int
    aux: bool = False
    """The client's own aux-head NLL (CSE-FSL, FSL-SAGE), not the full model's: reported as
    `client_loss`, over every batch, where `train_loss` has only the uploaded ones."""


@dataclass(frozen=True)
class Context:
    """What both halves of an algorithm and the role that drives each may use: the sections of
    the config they read, the algorithm's schedule, layout, device, the channel, and where
    per-client state waits between a client's participations. Built once per rank by
    `runtime/build.py`, so neither a half nor a role reaches into the whole config."""

    plan: Plan
    """The run's schedule: the algorithm's spec, placement, sampling (`plan/`)."""
    train: TrainConfig
    fsl: FSLConfig
    runtime: RuntimeConfig
    """`averaging` (read by the roles) and `threads_per_rank` (FSL-SAGE's borrowed cores)."""
    device: torch.device
    channel: Channel
    states: ClientStateStore
    """This rank's per-client state between participations: on a client host, what its clients
    keep (`runtime/client_host.py`); on the server, what it keeps for each client (FSL-SAGE's
    aux heads, SplitFed-v1's optimizers). In memory, or on disk with `runtime.spill`."""
    memory: MemoryMeter = field(default_factory=MemoryMeter)
    """This rank's memory meter: what each side holds in each phase of a round."""

    @property
    def spec(self) -> AlgorithmSpec:
        return self.plan.spec

    @property
    def placement(self) -> Placement:
        return self.plan.placement

    @property
    def seed(self) -> int:
        return self.plan.seed

    def participants(self, round_: int) -> list[int]:
        """The round's clients, ascending; every rank derives the same."""
        return self.plan.participants(round_)

    def uploads(self, it: int) -> bool:
        """Whether iteration `it` sends its smashed batch up."""
        return self.plan.uploads_at(it)

    def slot(self, it: int) -> int:
        """The upload's number within the client's round (its wire tag)."""
        interval = self.spec.upload_interval(self.fsl)
        assert interval is not None, f"{self.spec.name} uploads no smashed batches"
        return it // interval


@dataclass(frozen=True)
class Step:
    """One client iteration, once `z = client.model(x)` (and its upload, if scheduled) is done."""

    client: VirtualClient
    round: int
    it: int
    x: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor


@dataclass
class RoundNotes:
    """What the server half reports about its round beyond the usual (FSL-SAGE: alignments),
    for metrics.jsonl, the message log and the progress line; empty for the others."""

    aligned: list[int] | None = None
    """The clients aligned this round (metrics.jsonl's `aligned`); None: no such key."""
    align_s: dict[int, float] = field(default_factory=dict)
    """Seconds of each alignment fit of this round so far, by client; a synchronous fit is
    recorded during the server step it belongs to."""
    status: dict[tuple[int, int], str] = field(default_factory=dict)
    """(client, iteration) -> what the server's step on that upload does beyond the usual."""

    def metrics(self) -> dict[str, Any]:
        """Extra keys for the round's metrics.jsonl row."""
        return {} if self.aligned is None else {"aligned": list(self.aligned)}


def adam(module: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)


def pair_state(pair: tuple[nn.Module, torch.optim.Optimizer]) -> dict[str, Any]:
    return {"model": pair[0].state_dict(), "optimizer": pair[1].state_dict()}


def load_pair_state(pair: tuple[nn.Module, torch.optim.Optimizer], state: dict[str, Any]) -> None:
    pair[0].load_state_dict(state["model"])
    pair[1].load_state_dict(state["optimizer"])


def loss_sum(objective: Objective, out: torch.Tensor, labels: torch.Tensor) -> float:
    """The batch's summed per-sample loss, for reporting (no graph)."""
    return float(objective.sum(out.detach(), labels))


def client_module(spec: AlgorithmSpec, template: SplitModel) -> nn.Module:
    """A fresh copy of what a client trains and averages as `client_model`: the client part,
    or the whole model where the spec says so (FedAvg). The server keeps the global copy."""
    return clone(template.client_side(spec.full_model_on_client))


def no_state(side: str, name: str, state: dict[str, Any]) -> None:
    """Refuse checkpointed state for a half that keeps none (a checkpoint of another version)."""
    if state:
        raise CheckpointError(
            f"the checkpoint holds {side} state {sorted(state)} for {name}, which keeps none "
            "there; it was written by another version of the package"
        )


class ClientSide:
    """The half on client hosts: each virtual client's step and round end."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        self.ctx = ctx
        self.template = template
        self.objective = template.objective

    def start_round(self, round_: int, participants: list[int]) -> None:
        """Called on every host before the round, with its participants (ascending)."""

    def new_client(self, cid: int, data: ClientData) -> VirtualClient:
        model = client_module(self.ctx.spec, self.template).to(self.ctx.device)
        opt = adam(model, self.ctx.train.lr, self.ctx.train.weight_decay)
        return VirtualClient(cid, data, model, opt)

    def update(self, step: Step) -> StepLoss | None:
        """Finish the step's iteration after its forward pass (and upload, if scheduled)."""
        raise NotImplementedError

    def round_end(self, client: VirtualClient, round_: int) -> None:
        """After the client's last iteration of the round, once states are exchanged."""

    def holdings(self, client: VirtualClient) -> Holdings:
        """What the client holds: its model, optimizer, and aux head (with its optimizer where
        the client trains it), as a client on its own device would."""
        held = Holdings().module(client.model).optimizer(client.optimizer)
        if client.aux is not None:
            held.module(client.aux, part="aux")
        if client.aux_optimizer is not None:
            held.optimizer(client.aux_optimizer, part="aux")
        return held

    def state_dict(self) -> dict[str, Any]:
        """Host-side algorithm state to checkpoint beside the clients' own."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        no_state("client-host", self.ctx.spec.name, state)


class ServerSide:
    """The half on rank 0: what the server does with each upload and at each round end, and
    what is evaluated. Its state is built here, on the server only."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        self.ctx = ctx
        self.template = template
        self.objective = template.objective

    def start_round(self, round_: int, participants: list[int]) -> None:
        """Called on the server before the round, with its participants (ascending)."""

    def new_server(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = clone(self.template.server).to(self.ctx.device)
        return model, adam(model, self.ctx.train.lr, self.ctx.train.weight_decay)

    def step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss | None:
        raise NotImplementedError(f"{self.ctx.spec.name} uploads no smashed batches")

    def round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        """Server-side work after the clients' states were averaged."""

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        """The full model to evaluate, given the averaged client-side model."""
        raise NotImplementedError

    def notes(self) -> RoundNotes:
        """This round's notes so far (read during and after the round)."""
        return RoundNotes()

    def holdings(self, held: Holdings) -> Holdings:
        """Add what this half holds now (models, optimizers, aux heads, stores) to `held`,
        which holds the server role's own (the global client model)."""
        return held

    def state_dict(self) -> dict[str, Any]:
        """Server-side state to checkpoint (models, optimizers, stores)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        no_state("server", self.ctx.spec.name, state)
