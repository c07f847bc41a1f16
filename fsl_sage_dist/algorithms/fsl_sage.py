"""FSL-SAGE: clients step on the cut-layer gradient their aux head estimates; the server keeps
each client's recent smashed rows and, every `fsl.align_interval` rounds, fits that client's
aux head to the true cut-layer gradients and sends it down.

Alignment happens at the client's first iteration of rounds t % l == 0, right after that
iteration's upload and server step; the client waits for the new head only then. Aux heads are
per client, trained only on the server (with a persistent Adam there) and never averaged.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from ..models import SplitModel
from ..seeding import torch_generator
from ..threads import borrowed_cores
from ..wire import (SERVER_RANK, PendingRecv, SmashedBatch, flatten_state, irecv_state,
                    load_flat_state, send_state)
from .alignment import align_aux
from .base import Context, StepLoss, VirtualClient, adam
from .lazy_server import LazyServerAlgorithm, aux_input_grad
from .smashed_store import SmashedStore


class ServerAux:
    """The server's copy of one client's aux head, its optimizer and its smashed store."""

    def __init__(self, aux: nn.Module, lr: float, store_rows: int) -> None:
        self.aux = aux
        self.optimizer = adam(aux, lr, weight_decay=0.0)
        self.store = SmashedStore(store_rows)

    def state_dict(self) -> dict[str, Any]:
        return {"aux": self.aux.state_dict(), "optimizer": self.optimizer.state_dict(),
                "activations": self.store.activations, "labels": self.store.labels}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aux.load_state_dict(state["aux"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.store.activations, self.store.labels = state["activations"], state["labels"]


class FSLSAGE(LazyServerAlgorithm):
    name = "fsl_sage"

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.pending_aux: dict[int, list[PendingRecv]] = {}  # client id -> aux on its way

    def aligns(self, round_: int, it: int) -> bool:
        return it == 0 and round_ % self.cfg.fsl.align_interval == 0

    def _take_new_aux(self, client: VirtualClient, wait: bool) -> None:
        pending = self.pending_aux.get(client.id)
        if pending and (wait or all(p.ready() for p in pending)):
            load_flat_state(client.aux, [p.result() for p in pending])
            del self.pending_aux[client.id]

    def client_update(self, client: VirtualClient, round_: int, it: int, x: torch.Tensor,
                      y: torch.Tensor, z: torch.Tensor) -> None:
        if self.aligns(round_, it):
            self.pending_aux[client.id] = irecv_state(
                self.ctx.channel, SERVER_RANK, round_, client.id, "aux_model",
                flatten_state(client.aux), "down")
        # Synchronous: wait for the new head now. Asynchronous: keep stepping with the old one
        # and swap it in at the first iteration after it has arrived (timing-dependent).
        self._take_new_aux(client, wait=not self.cfg.fsl.async_align)
        grad = aux_input_grad(client.aux, z, y)
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(grad)
        client.optimizer.step()

    def client_round_end(self, client: VirtualClient, round_: int) -> None:
        self._take_new_aux(client, wait=True)  # a head still on its way is needed next round

    def setup_server(self) -> None:
        super().setup_server()
        self.per_client: dict[int, ServerAux] = {}

    def server_state_dict(self) -> dict[str, Any]:
        return super().server_state_dict() | {
            "per_client": {str(c): s.state_dict() for c, s in self.per_client.items()}}

    def load_server_state_dict(self, state: dict[str, Any]) -> None:
        super().load_server_state_dict({k: v for k, v in state.items() if k != "per_client"})
        for client, saved in state["per_client"].items():
            self._server_aux(int(client)).load_state_dict(saved)

    def _server_aux(self, client: int) -> ServerAux:
        """Created on a client's first upload, so memory grows with clients actually seen."""
        if client not in self.per_client:
            aux = copy.deepcopy(self.template.aux).to(self.ctx.device)
            self.per_client[client] = ServerAux(aux, self.cfg.fsl.aux_lr, self.cfg.fsl.store_size)
        return self.per_client[client]

    def server_step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
        loss = super().server_step(round_, it, batch)
        state = self._server_aux(batch.client)
        state.store.append(batch.activations, batch.labels)
        if self.aligns(round_, it):
            fsl = self.cfg.fsl
            gen = torch_generator(self.cfg.seed, "align", batch.client, round_)
            # Synchronous alignment is the one stretch where every host waits for the server.
            cores = nullcontext() if fsl.async_align else borrowed_cores(self.cfg)
            with cores:
                align_aux(state.aux, state.optimizer, self.server, state.store.activations,
                          state.store.labels, fsl.align_epochs, fsl.align_batch_size, gen)
            host = self.ctx.placement.host_of(batch.client)
            send_state(self.ctx.channel, host, round_, batch.client, "aux_model",
                       flatten_state(state.aux), "down")
        return loss
