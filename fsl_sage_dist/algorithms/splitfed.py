"""SplitFed: clients wait for the true cut-layer gradient of every batch.

Every iteration the client uploads its smashed batch and blocks until the server returns
d(loss)/d(activations); the server computes that gradient before its own step. The two variants
differ only in the server side: one model copy per client, averaged at round end (v1), or one
shared model that serves clients one whole turn at a time (v2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fsl_sage_dist.algorithms.averaging import average_flat
from fsl_sage_dist.algorithms.base import (
    Algorithm,
    StepLoss,
    VirtualClient,
    adam,
    load_pair_state,
    loss_sum,
    pair_state,
)
from fsl_sage_dist.models import clone
from fsl_sage_dist.wire import (
    SmashedBatch,
    flatten_state,
    load_flat_state,
    recv_cut_grad,
    send_cut_grad,
)


class SplitFed(Algorithm):
    upload_interval = 1

    def client_update(
        self,
        client: VirtualClient,
        round_: int,
        it: int,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> None:
        grad = recv_cut_grad(
            self.ctx.channel, round_, client.id, self.slot(it), tuple(z.shape), y.dim()
        )
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(grad)
        client.optimizer.step()

    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        raise NotImplementedError

    def server_step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
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


class SplitFedV1(SplitFed):
    """One server copy (and optimizer) per client; copies averaged on the server, unmetered.

    Every copy equals the averaged server at a round's end, so a participant's copy is built
    from it when the client first uploads in a round; only its optimizer's moments are the
    client's own, kept in `ctx.states` between its rounds (memory grows with participants)."""

    name = "splitfed_v1"

    def setup_server(self) -> None:
        self.averaged_server = clone(self.template.server).to(self.ctx.device)
        self.copies: dict[int, tuple[nn.Module, torch.optim.Optimizer]] = {}  # this round's

    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        if client not in self.copies:
            model = clone(self.averaged_server)
            optimizer = adam(model, self.cfg.train.lr, self.cfg.train.weight_decay)
            saved = self.ctx.states.get(client)
            if saved is not None:
                optimizer.load_state_dict(saved["optimizer"])
            self.copies[client] = (model, optimizer)
        return self.copies[client]

    def server_state_dict(self) -> dict[str, Any]:
        return {"averaged": self.averaged_server.state_dict()}

    def load_server_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged_server.load_state_dict(state["averaged"])

    def server_round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        flats = [flatten_state(self.copies[c][0]) for c in participants]
        load_flat_state(self.averaged_server, average_flat(flats, sizes))
        for client, (_, optimizer) in self.copies.items():
            self.ctx.states.put(client, round_, {"optimizer": optimizer.state_dict()})
        self.copies = {}

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return nn.Sequential(client_model, self.averaged_server)


class SplitFedV2(SplitFed):
    """One shared server; clients take whole turns in ascending id (the wait is real)."""

    name = "splitfed_v2"

    @property
    def whole_turns(self) -> bool:
        return True

    def setup_server(self) -> None:
        self.server = self.new_server()

    def server_for(self, client: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        return self.server

    def server_state_dict(self) -> dict[str, Any]:
        return pair_state(self.server)

    def load_server_state_dict(self, state: dict[str, Any]) -> None:
        load_pair_state(self.server, state)

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return nn.Sequential(client_model, self.server[0])
