"""What an algorithm tells the round driver, and the state of a client during its round.

The driver (`runtime/client_host.py`, `runtime/server.py`) owns everything the algorithms share:
sampling, the local loop over batches, uploading smashed batches on schedule, averaging,
evaluation, metrics. An algorithm says only what differs:

- `upload_interval`: smashed batches go up at iterations `it % interval == 0` (None: never);
- `start_round`: told the round's participants, on the server and on every client host;
- `client_update`: the client's step once its forward pass (and upload) is done;
- `server_step`: what the server does with one uploaded batch;
- `server_round_end` / `eval_model`: server-side state at the round's end, and what is evaluated;
- `averaged`: which client-side states are averaged every round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from fsl_sage_dist.client_store import ClientStateStore
from fsl_sage_dist.config import Config
from fsl_sage_dist.data import ClientData
from fsl_sage_dist.models import SplitModel, clone
from fsl_sage_dist.models.objective import Objective
from fsl_sage_dist.plan.placement import Placement
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


@dataclass
class Context:
    """What an algorithm may use on either side: config, layout, device, the channel, and where
    per-client state waits between a client's participations."""

    cfg: Config
    placement: Placement
    device: torch.device
    channel: Channel
    states: ClientStateStore
    """This rank's per-client state between participations: on a client host, what its clients
    keep (`runtime/client_host.py`); on the server, what it keeps for each client (FSL-SAGE's
    aux heads, SplitFed-v1's optimizers). In memory, or on disk with `runtime.spill`."""


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


class Algorithm:
    name: ClassVar[str]
    averaged: ClassVar[tuple[str, ...]] = ("client_model",)

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.template = template
        self.objective = template.objective

    # -- schedule ---------------------------------------------------------------------------

    @property
    def upload_interval(self) -> int | None:
        return None

    @property
    def whole_turns(self) -> bool:
        """Clients take whole turns in ascending id instead of advancing in lockstep."""
        return False

    def uploads(self, it: int) -> bool:
        return self.upload_interval is not None and it % self.upload_interval == 0

    def slot(self, it: int) -> int:
        assert self.upload_interval is not None
        return it // self.upload_interval

    def start_round(self, round_: int, participants: list[int]) -> None:
        """Called on every rank before the round, with its participants (ascending)."""

    def round_metrics(self) -> dict[str, Any]:
        """Extra keys for this round's metrics.jsonl row (server side, after the round)."""
        return {}

    def align_seconds(self) -> dict[int, float]:
        """Seconds of each alignment fit of this round so far, by client (FSL-SAGE), for the
        message log; a synchronous fit is recorded during the server step it belongs to."""
        return {}

    def server_note(self, client: int, it: int) -> str | None:
        """What the server's step on this upload does beyond the usual, for the live progress
        line (FSL-SAGE: an alignment); None when nothing."""
        return None

    # -- client host side -------------------------------------------------------------------

    def client_module(self) -> nn.Module:
        """The module a client trains and averages as `client_model` (FedAvg: the full model)."""
        return clone(self.template.client)

    def new_client(self, cid: int, data: ClientData) -> VirtualClient:
        model = self.client_module().to(self.ctx.device)
        opt = adam(model, self.cfg.train.lr, self.cfg.train.weight_decay)
        return VirtualClient(cid, data, model, opt)

    def client_update(
        self,
        client: VirtualClient,
        round_: int,
        it: int,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> StepLoss | None:
        """Finish iteration `it` after `z = client.model(x)` (and its upload, if scheduled)."""
        raise NotImplementedError

    def client_round_end(self, client: VirtualClient, round_: int) -> None:
        """After the client's last iteration of the round, once states are exchanged."""

    def host_state_dict(self) -> dict[str, Any]:
        """Host-side algorithm state to checkpoint beside the clients' own."""
        return {}

    def load_host_state_dict(self, state: dict[str, Any]) -> None:
        assert not state, f"{self.name} keeps no host state, got {list(state)}"

    # -- server side ------------------------------------------------------------------------

    def setup_server(self) -> None:
        """Build server-side state (the driver calls this on rank 0 only)."""

    def new_server(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = clone(self.template.server).to(self.ctx.device)
        return model, adam(model, self.cfg.train.lr, self.cfg.train.weight_decay)

    def server_step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss | None:
        raise NotImplementedError(f"{self.name} uploads no smashed batches")

    def server_round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        """Server-side work after the clients' states were averaged."""

    def server_state_dict(self) -> dict[str, Any]:
        """Server-side state to checkpoint (models, optimizers, stores)."""
        return {}

    def load_server_state_dict(self, state: dict[str, Any]) -> None:
        assert not state, f"{self.name} keeps no server state, got {list(state)}"

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        """The full model to evaluate, given the averaged client-side model."""
        raise NotImplementedError
