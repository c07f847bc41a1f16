"""The part CSE-FSL and FSL-SAGE share: clients never wait for the server.

Clients step on a gradient their auxiliary head provides, upload a smashed batch every q-th
iteration (`fsl.server_interval`) without waiting for a reply, and the one shared server takes
one optimizer step per upload, in the fixed order of `fsl.server_order` (both are the spec's,
`plan/spec.py`). The two algorithms differ only in how the auxiliary head is trained.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fsl_sage_dist.algorithms.base import (
    ClientSide,
    Context,
    ServerSide,
    StepLoss,
    VirtualClient,
    load_pair_state,
    loss_sum,
    pair_state,
)
from fsl_sage_dist.data import ClientData
from fsl_sage_dist.memory import Holdings
from fsl_sage_dist.models import SplitModel, clone
from fsl_sage_dist.models.objective import CLASSIFICATION, Objective
from fsl_sage_dist.wire import SmashedBatch


def aux_input_grad(
    aux: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    create_graph: bool = False,
    *,
    objective: Objective = CLASSIFICATION,
) -> torch.Tensor:
    """d loss_mean(aux(z), y) / d z: the aux head's estimate of the cut-layer gradient."""
    return aux_loss_and_grad(aux, z, y, create_graph, objective=objective)[1]


def aux_loss_and_grad(
    aux: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    create_graph: bool = False,
    *,
    objective: Objective = CLASSIFICATION,
) -> tuple[torch.Tensor, torch.Tensor]:
    """loss_mean(aux(z), y) (NLL for a classifier) and its gradient w.r.t. z."""
    z = z.detach().requires_grad_()
    loss = objective.mean(aux(z), y)
    (grad,) = torch.autograd.grad(loss, z, create_graph=create_graph)
    return loss, grad


def client_aux_loss(client: int, loss: torch.Tensor, samples: int) -> StepLoss:
    """A batch's aux-head NLL (mean over the batch) as the client's own training loss."""
    return StepLoss(client, float(loss.detach()) * samples, samples, aux=True)


class LazyClient(ClientSide):
    """A client with an aux head of its own, built with it."""

    def new_client(self, cid: int, data: ClientData) -> VirtualClient:
        client = super().new_client(cid, data)
        client.aux = clone(self.template.aux).to(self.ctx.device)
        return client


class LazyServer(ServerSide):
    """The one shared server: one optimizer step per upload, in the order of the uploads."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.server, self.server_opt = self.new_server()

    def state_dict(self) -> dict[str, Any]:
        return pair_state((self.server, self.server_opt))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_pair_state((self.server, self.server_opt), state)

    def holdings(self, held: Holdings) -> Holdings:
        return held.module(self.server).optimizer(self.server_opt)

    def step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
        out = self.server(batch.activations)
        self.server_opt.zero_grad(set_to_none=True)
        self.objective.mean(out, batch.labels).backward()
        self.server_opt.step()
        return StepLoss(
            batch.client, loss_sum(self.objective, out, batch.labels), len(batch.labels)
        )

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return nn.Sequential(client_model, self.server)
