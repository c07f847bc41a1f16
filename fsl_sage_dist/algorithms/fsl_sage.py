"""FSL-SAGE: clients step on the cut-layer gradient their aux head estimates; the server keeps
each client's recent smashed rows and, once every `fsl.align_interval` rounds of that client
(`plan/schedule.py`), fits that client's aux head to the true cut-layer gradients and sends it
down.

Alignment happens at the client's first iteration, right after that iteration's upload and
server step. Synchronous: the client waits for the new head and already steps on it. With
`fsl.async_align` the server computes the same targets at the same point, fits in a background
thread while it serves the other uploads, and sends the head at the round's end; the client
keeps its old head for the rest of the round and loads the new one then, for its next
participation. Either way the result depends on no timing. Aux heads are per client, trained
only on the server (with a persistent Adam there) and never averaged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

from fsl_sage_dist.algorithms.alignment import align_aux, fit_aux, per_sample_cut_grads
from fsl_sage_dist.algorithms.base import Context, StepLoss, VirtualClient, adam
from fsl_sage_dist.algorithms.lazy_server import (
    LazyServerAlgorithm,
    aux_loss_and_grad,
    client_aux_loss,
)
from fsl_sage_dist.algorithms.smashed_store import SmashedStore
from fsl_sage_dist.models import SplitModel, clone
from fsl_sage_dist.plan.schedule import AlignSchedule
from fsl_sage_dist.seeding import torch_generator
from fsl_sage_dist.threads import borrowed_cores
from fsl_sage_dist.wire import (
    SERVER_RANK,
    PendingRecv,
    SmashedBatch,
    flatten_state,
    irecv_state,
    load_flat_state,
    send_state,
)


def timed(work: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Run `work(*args, **kwargs)`; its wall seconds (an alignment fit's, for the message log)."""
    start = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - start


class ServerAux:
    """The server's copy of one client's aux head, its optimizer and its smashed store."""

    def __init__(self, aux: nn.Module, lr: float, store_rows: int) -> None:
        self.aux = aux
        self.optimizer = adam(aux, lr, weight_decay=0.0)
        self.store = SmashedStore(store_rows)

    def state_dict(self) -> dict[str, Any]:
        return {
            "aux": self.aux.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "activations": self.store.activations,
            "labels": self.store.labels,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aux.load_state_dict(state["aux"])
        self.optimizer.load_state_dict(state["optimizer"])
        # checkpoints load onto the CPU; the store lives where the server computes
        device = next(self.aux.parameters()).device
        self.store.activations, self.store.labels = (
            None if t is None else t.to(device) for t in (state["activations"], state["labels"])
        )


class FSLSAGE(LazyServerAlgorithm):
    name = "fsl_sage"

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.schedule = AlignSchedule(self.cfg.fsl.align_interval, self.cfg.fsl.align_staleness)
        self.pending_aux: dict[int, list[PendingRecv]] = {}  # client id -> aux on its way

    def start_round(self, round_: int, participants: list[int]) -> None:
        self.schedule.start_round(round_, participants)
        self.fit_s: dict[int, float] = {}

    def align_seconds(self) -> dict[int, float]:
        return self.fit_s

    def aligns(self, client: int, it: int) -> bool:
        return it == 0 and client in self.schedule.aligned

    def round_metrics(self) -> dict[str, Any]:
        return {"aligned": list(self.schedule.aligned)}

    def server_note(self, client: int, it: int) -> str | None:
        if not self.aligns(client, it):
            return None
        return f"{'fitting' if self.cfg.fsl.async_align else 'aligning'} client {client}'s aux"

    def host_state_dict(self) -> dict[str, Any]:
        return {"align_schedule": self.schedule.state_dict()}

    def load_host_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["align_schedule"])

    def _take_new_aux(self, client: VirtualClient) -> None:
        pending = self.pending_aux.pop(client.id, None)
        if pending is not None:
            load_flat_state(client.aux, [p.result() for p in pending])

    def client_update(
        self,
        client: VirtualClient,
        round_: int,
        it: int,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> StepLoss:
        if self.aligns(client.id, it):
            self.pending_aux[client.id] = irecv_state(
                self.ctx.channel,
                SERVER_RANK,
                round_,
                client.id,
                "aux_model",
                flatten_state(client.aux),
                "down",
            )
            if not self.cfg.fsl.async_align:
                self._take_new_aux(client)  # this very step uses the new head
        loss, grad = aux_loss_and_grad(client.aux, z, y, objective=self.objective)
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(grad)
        client.optimizer.step()
        return client_aux_loss(client.id, loss, len(y))

    def client_round_end(self, client: VirtualClient, round_: int) -> None:
        self._take_new_aux(client)  # asynchronous: the head fitted this round, for the next one

    def setup_server(self) -> None:
        super().setup_server()
        self.per_client: dict[int, ServerAux] = {}  # this round's participants'; the others'
        # wait in ctx.states, so memory grows with a round's participants, not with clients
        self.fits: list[tuple[int, Future]] = []  # (client, background fit) of this round
        self.fitter: ThreadPoolExecutor | None = None

    def server_state_dict(self) -> dict[str, Any]:
        return super().server_state_dict() | {"align_schedule": self.schedule.state_dict()}

    def load_server_state_dict(self, state: dict[str, Any]) -> None:
        super().load_server_state_dict({k: v for k, v in state.items() if k != "align_schedule"})
        self.schedule.load_state_dict(state["align_schedule"])

    def _server_aux(self, client: int) -> ServerAux:
        """A client's aux head, optimizer and store, at its first upload of a round: as it
        left them at the end of its last round, or new at its first."""
        if client not in self.per_client:
            aux = clone(self.template.aux).to(self.ctx.device)
            state = ServerAux(aux, self.cfg.fsl.aux_lr, self.cfg.fsl.store_size)
            saved = self.ctx.states.get(client)
            if saved is not None:
                state.load_state_dict(saved)
            self.per_client[client] = state
        return self.per_client[client]

    def server_step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
        loss = super().server_step(round_, it, batch)
        self._server_aux(batch.client).store.append(batch.activations, batch.labels)
        if self.aligns(batch.client, it):
            self._align(round_, batch.client)
        return loss

    def _align(self, round_: int, client: int) -> None:
        fsl, state = self.cfg.fsl, self.per_client[client]
        z, y = state.store.activations, state.store.labels
        gen = torch_generator(self.cfg.seed, "align", client, round_)
        if not fsl.async_align:
            # The one stretch where every host waits for the server: it takes their cores.
            with borrowed_cores(self.cfg):
                self.fit_s[client] = timed(
                    align_aux,
                    state.aux,
                    state.optimizer,
                    self.server,
                    z,
                    y,
                    fsl.align_epochs,
                    fsl.align_batch_size,
                    gen,
                    objective=self.objective,
                )
            self._send_aux(round_, client)
            return
        # The snapshot: targets from the server as it is now, and the store's current tensors
        # (appends replace them, never modify them). The fit needs nothing else, so it may run
        # beside later server steps, on this rank's own thread count.
        targets = per_sample_cut_grads(self.server, z, y, objective=self.objective)
        if self.fitter is None:
            self.fitter = ThreadPoolExecutor(
                1, initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)
            )
        self.fits.append(
            (
                client,
                self.fitter.submit(
                    timed,
                    fit_aux,
                    state.aux,
                    state.optimizer,
                    z,
                    y,
                    targets,
                    fsl.align_epochs,
                    fsl.align_batch_size,
                    gen,
                    objective=self.objective,
                ),
            )
        )

    def _send_aux(self, round_: int, client: int) -> None:
        send_state(
            self.ctx.channel,
            self.ctx.placement.host_of(client),
            round_,
            client,
            "aux_model",
            flatten_state(self.per_client[client].aux),
            "down",
        )

    def server_round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        for client, fit in self.fits:  # in upload order: the order the hosts expect them in
            self.fit_s[client] = fit.result()
            self._send_aux(round_, client)
        self.fits = []
        for client, state in self.per_client.items():
            self.ctx.states.put(client, round_, state.state_dict())
        self.per_client = {}
