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

from fsl_sage_dist.algorithms.alignment import fit_aux, per_sample_cut_grads
from fsl_sage_dist.algorithms.base import (
    Context,
    RoundNotes,
    Step,
    StepLoss,
    VirtualClient,
    adam,
)
from fsl_sage_dist.algorithms.lazy_server import (
    LazyClient,
    LazyServer,
    aux_loss_and_grad,
    client_aux_loss,
)
from fsl_sage_dist.algorithms.smashed_store import SmashedStore
from fsl_sage_dist.memory import SERVER, Holdings
from fsl_sage_dist.memory.closed_form import adam_bytes, trainable_bytes
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


def aligns(schedule: AlignSchedule, client: int, it: int) -> bool:
    """A client is aligned at its first iteration of a round it is scheduled in."""
    return it == 0 and client in schedule.aligned


class FSLSAGEClient(LazyClient):
    """Steps on its aux head's gradient; takes the head the server fitted when one is due."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.schedule = AlignSchedule(ctx.fsl.align_interval, ctx.fsl.align_staleness)
        self.pending_aux: dict[int, list[PendingRecv]] = {}  # client id -> aux on its way

    def start_round(self, round_: int, participants: list[int]) -> None:
        self.schedule.start_round(round_, participants)

    def state_dict(self) -> dict[str, Any]:
        return {"align_schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["align_schedule"])

    def _take_new_aux(self, client: VirtualClient) -> None:
        pending = self.pending_aux.pop(client.id, None)
        if pending is not None:
            load_flat_state(client.aux, [p.result() for p in pending])

    def update(self, step: Step) -> StepLoss:
        client, z, y = step.client, step.z, step.y
        if aligns(self.schedule, client.id, step.it):
            self.pending_aux[client.id] = irecv_state(
                self.ctx.channel,
                SERVER_RANK,
                step.round,
                client.id,
                "aux_model",
                flatten_state(client.aux),
                "down",
            )
            if not self.ctx.fsl.async_align:
                self._take_new_aux(client)  # this very step uses the new head
        loss, grad = aux_loss_and_grad(client.aux, z, y, objective=self.objective)
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(grad)
        client.optimizer.step()
        return client_aux_loss(client.id, loss, len(y))

    def round_end(self, client: VirtualClient, round_: int) -> None:
        self._take_new_aux(client)  # asynchronous: the head fitted this round, for the next one


class FSLSAGEServer(LazyServer):
    """The lazy server, plus each client's aux head, store and alignment fits."""

    def __init__(self, ctx: Context, template: SplitModel) -> None:
        super().__init__(ctx, template)
        self.schedule = AlignSchedule(ctx.fsl.align_interval, ctx.fsl.align_staleness)
        # This round's participants' heads and stores; the others' wait in ctx.states, so
        # memory grows with a round's participants, not with clients.
        self.per_client: dict[int, ServerAux] = {}
        self.fits: list[tuple[int, Future]] = []  # (client, background fit) of this round
        self.fitting: set[int] = set()  # clients whose head a background fit holds this round
        self.fitter: ThreadPoolExecutor | None = None
        self.fit_s: dict[int, float] = {}  # this round's fit seconds, by client

    def start_round(self, round_: int, participants: list[int]) -> None:
        self.schedule.start_round(round_, participants)
        self.fit_s = {}

    def notes(self) -> RoundNotes:
        doing = "fitting" if self.ctx.fsl.async_align else "aligning"
        return RoundNotes(
            aligned=self.schedule.aligned,
            align_s=self.fit_s,
            status={(c, 0): f"{doing} client {c}'s aux" for c in self.schedule.aligned},
        )

    def holdings(self, held: Holdings) -> Holdings:
        """The shared server, and each participant's aux head, its Adam and its stored rows
        (the aux heads of clients not in this round wait in `ctx.states`)."""
        super().holdings(held)
        for client, state in self.per_client.items():
            if client in self.fitting:
                # A background fit creates this head's gradients and Adam state at moments no
                # account may depend on (nor may this thread read them meanwhile): count the
                # head as fitted, which is what it holds once the fit has stepped.
                aux = state.aux
                held.add("aux", [*aux.parameters(), *aux.buffers()])
                held.parts["aux"] += trainable_bytes(aux) + adam_bytes(aux)
            else:
                held.module(state.aux, part="aux").optimizer(state.optimizer, part="aux")
            held.add("inputs", [state.store.activations, state.store.labels])
        return held

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"align_schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "align_schedule"})
        self.schedule.load_state_dict(state["align_schedule"])

    def _server_aux(self, client: int) -> ServerAux:
        """A client's aux head, optimizer and store, at its first upload of a round: as it
        left them at the end of its last round, or new at its first."""
        if client not in self.per_client:
            aux = clone(self.template.aux).to(self.ctx.device)
            state = ServerAux(aux, self.ctx.fsl.aux_lr, self.ctx.fsl.store_size)
            saved = self.ctx.states.get(client)
            if saved is not None:
                state.load_state_dict(saved)
            self.per_client[client] = state
        return self.per_client[client]

    def step(self, round_: int, it: int, batch: SmashedBatch) -> StepLoss:
        loss = super().step(round_, it, batch)
        self._server_aux(batch.client).store.append(batch.activations, batch.labels)
        if aligns(self.schedule, batch.client, it):
            self._align(round_, batch.client)
        return loss

    def _align(self, round_: int, client: int) -> None:
        fsl, state = self.ctx.fsl, self.per_client[client]
        z, y = state.store.activations, state.store.labels
        self.ctx.memory.saved.also_held(SERVER, [z, y])  # appended in this step: not activations
        gen = torch_generator(self.ctx.seed, "align", client, round_)
        if not fsl.async_align:
            # The one stretch where every host waits for the server: it takes their cores.
            with borrowed_cores(self.ctx.runtime.threads_per_rank):
                start = time.perf_counter()
                targets = per_sample_cut_grads(self.server, z, y, objective=self.objective)
                self._fit(client, state, z, y, targets, gen, None)
                self.fit_s[client] = time.perf_counter() - start
            self._send_aux(round_, client)
            return
        # The snapshot: targets from the server as it is now, and the store's current tensors
        # (appends replace them, never modify them). The fit needs nothing else, so it may run
        # beside later server steps, on this rank's own thread count.
        targets = per_sample_cut_grads(self.server, z, y, objective=self.objective)
        self.fitting.add(client)
        held = self.ctx.memory.held(SERVER)  # what the server holds as the fit starts
        if self.fitter is None:
            self.fitter = ThreadPoolExecutor(
                1, initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)
            )
        self.fits.append(
            (client, self.fitter.submit(timed, self._fit, client, state, z, y, targets, gen, held))
        )

    def _fit(
        self,
        client: int,
        state: ServerAux,
        z: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor,
        gen: torch.Generator,
        held: Holdings | None,
    ) -> None:
        """One alignment fit on the stored rows `z`, `y` as they were when its `targets` were
        computed (later appends replace the store's tensors), accounted as a phase of the
        server's memory of its own, the targets among its inputs. A background fit is given what
        the server `held` as it began: what it holds later depends on timing, which no account
        may."""
        fsl = self.ctx.fsl
        now = None if held is None else lambda: held
        with self.ctx.memory.phase(SERVER, now, inputs=(targets,), owner=("fit", client)):
            fit_aux(
                state.aux,
                state.optimizer,
                z,
                y,
                targets,
                fsl.align_epochs,
                fsl.align_batch_size,
                gen,
                objective=self.objective,
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

    def round_end(self, round_: int, participants: list[int], sizes: list[int]) -> None:
        for client, fit in self.fits:  # in upload order: the order the hosts expect them in
            self.fit_s[client] = fit.result()
            self._send_aux(round_, client)
        self.fits, self.fitting = [], set()
        for client, state in self.per_client.items():
            self.ctx.states.put(client, round_, state.state_dict())
        self.per_client = {}
