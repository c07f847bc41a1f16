"""SplitFed: clients wait for the true cut-layer gradient of every batch.

Every iteration the client uploads its smashed batch and blocks until the server returns
d(loss)/d(activations); the server computes that gradient before its own step. The two variants
differ only in the server half: one model copy per client, averaged at round end (v1), or one
shared model that serves clients one whole turn at a time (v2, whole turns by its spec).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fsl_sage_dist.algorithms.averaging import average_flat
from fsl_sage_dist.algorithms.base import (
    ClientSide,
    Context,
    ServerSide,
    Step,
    StepLoss,
    adam,
    load_pair_state,
    loss_sum,
    pair_state,
)
from fsl_sage_dist.memory import Holdings
from fsl_sage_dist.models import SplitModel, clone
from fsl_sage_dist.wire import (
    SmashedBatch,
    flatten_state,
    load_flat_state,
    recv_cut_grad,
    send_cut_grad,
)


class SplitFedClient(ClientSide):
    """Both variants' client: it steps on the server's true cut-layer gradient."""

    def update(self, step: Step) -> None:
        z = step.z
        grad = recv_cut_grad(
            self.ctx.channel,
            step.round,
            step.client.id,
            self.ctx.slot(step.it),
            tuple(z.shape),
            step.y.dim(),
        )
        step.client.optimizer.zero_grad(set_to_none=True)
        z.backward(grad)
        step.client.optimizer.step()


class SplitFedServer(ServerSide):
    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        raise NotImplementedError

    def step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
        model, opt = self.server_for(batch.client)
        z = batch.activations.requires_grad_()
        out = model(z)
        opt.zero_grad(set_to_none=True)
        self.objective.mean(out, batch.labels).backward()
        host = self.ctx.placement.host_of(batch.client)
        send_cut_grad(
            self.ctx.channel, host, round_, batch.client, batch.slot, z.grad, batch.labels.dim()
        )
        opt.step()
        return StepLoss(
            batch.client, loss_sum(self.objective, out, batch.labels), len(batch.labels)
        )


class SplitFedV1Server(SplitFedServer):
    """One server copy (and optimizer) per client; copies averaged on the server, unmetered.

    Every copy equals the averaged server at a round's end, so a participant's copy is built
    from it when the client first uploads in a round; only its optimizer's moments are the
    client's own, kept in `ctx.states` between its rounds (memory grows with participants)."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.averaged_server = clone(template.server).to(ctx.device)
        self.copies: dict[int, tuple[nn.Module, torch.optim.Optimizer]] = {}  # this round's

    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        if client not in self.copies:
            model = clone(self.averaged_server)
            optimizer = adam(model, self.ctx.train.lr, self.ctx.train.weight_decay)
            saved = self.ctx.states.get(client)
            if saved is not None:
                optimizer.load_state_dict(saved["optimizer"])
            self.copies[client] = (model, optimizer)
        return self.copies[client]

    def holdings(self, held: Holdings) -> Holdings:
        held.module(self.averaged_server)
        for model, optimizer in self.copies.values():  # every participant's copy at once
            held.module(model).optimizer(optimizer)
        return held

    def state_dict(self) -> dict[str, Any]:
        return {"averaged": self.averaged_server.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged_server.load_state_dict(state["averaged"])

    def round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        flats = [flatten_state(self.copies[c][0]) for c in participants]
        load_flat_state(self.averaged_server, average_flat(flats, sizes))
        for client, (_, optimizer) in self.copies.items():
            self.ctx.states.put(client, round_, {"optimizer": optimizer.state_dict()})
        self.copies = {}

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return nn.Sequential(client_model, self.averaged_server)


class SplitFedV2Server(SplitFedServer):
    """One shared server; clients take whole turns in ascending id (the wait is real)."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.server = self.new_server()

    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        return self.server

    def holdings(self, held: Holdings) -> Holdings:
        return held.module(self.server[0]).optimizer(self.server[1])

    def state_dict(self) -> dict[str, Any]:
        return pair_state(self.server)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_pair_state(self.server, state)

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return nn.Sequential(client_model, self.server[0])
