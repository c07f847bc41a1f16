"""A deliberately leaking run, the positive control of the leak checks (`wire_leaks.py`).

`install(plan)` patches the package in the process it runs in (each rank of a spawned job, or
the one process of an in-process run): client 0 copies its last input batch, as the model saw
it (normalised: an affine map of the raw pixels), into what its host hands over in the planned
rounds. Every message keeps its dtype and shape; only the reductions of the round report grow,
on every rank alike (zeros where nothing leaks), so that an image fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from fsl_sage_dist.runtime import client_host, host_loop, round_report, server_loop
from fsl_sage_dist.runtime.client_host import ClientHostRole
from fsl_sage_dist.wire import Channel, Transport

LEAKER = 0
"""The client that leaks: one only, so that an average of states still shows its image."""
OFFSET = 7
"""Where an image starts in a row or vector: not a multiple of the image's size."""
LEAKER_RANK = 1
"""The host of client 0 (`plan/placement.py`: client c lives on rank 1 + c mod hosts)."""
SUM_SCALE = 100.0
"""An image in a host's partial sum is weighted as a state is there (by tens of samples)."""
REPORT_REDUCE, LOG_REDUCE = 0, 5
"""Which `reduce` of `round_report.reduce_round` carries the leak: the meter's byte counts
(int64), or the message log's client compute table (float64, `round_log.gather_rows`)."""


@dataclass(frozen=True)
class LeakPlan:
    """The round in which each kind of message a host hands over carries an image (None:
    never)."""

    pixels: int
    """Values in one image (C * H * W)."""
    smashed: int | None = None
    """Every upload of client 0: each sample's row holds that sample's image."""
    client_model: int | None = None
    """Client 0's client_model state sent up (`runtime.averaging=exact`)."""
    aux_model: int | None = None
    """Client 0's aux_model state sent up (`runtime.averaging=exact`)."""
    reduction: int | None = None
    """Its host's partial sum of each averaged part (`runtime.averaging=reduce`)."""
    report: int | None = None
    """The round report's meter reduction."""
    log: int | None = None
    """The round report's message-log reduction."""

    @property
    def rounds(self) -> int:
        """Rounds a run needs for every planned leak."""
        planned = (self.smashed, self.client_model, self.aux_model, self.reduction)
        return 1 + max(r for r in (*planned, self.report, self.log) if r is not None)


PATCHED = (
    (ClientHostRole, "_forward"),
    (ClientHostRole, "run_round"),
    (client_host, "send_smashed"),
    (client_host, "send_state"),
    (Channel, "reduce_to_server"),
    (host_loop, "reduce_round"),
    (server_loop, "reduce_round"),
)
"""What `install` replaces: a test that installs it in its own process restores these after."""


class _Leak:
    """What the patches share: client 0's last inputs, and the round each rank is in."""

    def __init__(self, plan: LeakPlan) -> None:
        self.plan, self.inputs = plan, None
        self.rounds: dict[int, int] = {}
        """Keyed by the `id` of a host's Channel (an in-process run has every rank's)."""
        self.reports: dict[int, int] = {}
        """Round reports made so far, by rank."""

    def into(self, vector: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """A copy of flat `vector` with client 0's first image, times `scale`, at OFFSET (an
        integer vector holds it times 1000, rounded)."""
        assert self.inputs is not None, f"client {LEAKER} has trained no batch yet"
        image = scale * self.inputs[0].flatten().double()
        if not vector.is_floating_point():
            image = (image * 1000).round()
        leaked = vector.clone()
        leaked[OFFSET : OFFSET + len(image)] = image.to(vector.dtype)
        return leaked


class _Growing:
    """A rank's transport whose `which`-th reduce takes `extra` values more: every rank grows
    it alike, as a collective requires, and gets the original part of the sum back."""

    def __init__(self, inner: Transport, which: int, extra: Callable[[torch.dtype], Tensor]):
        self.inner, self.which, self.extra, self.calls = inner, which, extra, 0

    def reduce(self, tensor: torch.Tensor) -> None:
        self.calls += 1
        if self.calls - 1 != self.which:
            return self.inner.reduce(tensor)
        grown = torch.cat([tensor.flatten(), self.extra(tensor.dtype).to(tensor.device)])
        self.inner.reduce(grown)
        tensor.copy_(grown[: tensor.numel()].view_as(tensor))

    def all_reduce(self, tensor: torch.Tensor) -> None:
        self.inner.all_reduce(tensor)


def install(plan: LeakPlan) -> None:
    """Patch this process's package as `plan` says (every rank, or the in-process run)."""
    leak = _Leak(plan)
    forward, run_round = ClientHostRole._forward, ClientHostRole.run_round
    send_smashed, send_state = client_host.send_smashed, client_host.send_state
    reduce_to_server, reduce_round = Channel.reduce_to_server, round_report.reduce_round

    def leaky_forward(self, client, round_, batch):
        if client.id == LEAKER:
            leak.inputs = batch[1].detach().clone()
        return forward(self, client, round_, batch)

    def leaky_run_round(self, round_):
        leak.rounds[id(self.ctx.channel)] = round_
        return run_round(self, round_)

    def leaky_send_smashed(channel, round_, batch):
        if batch.client == LEAKER and round_ == plan.smashed:
            z = batch.activations.clone()
            z.view(len(z), -1)[:, OFFSET : OFFSET + plan.pixels] = leak.inputs.flatten(1)
            batch = replace(batch, activations=z)
        return send_smashed(channel, round_, batch)

    def leaky_send_state(channel, peer, round_, client, category, flat, direction):
        if client == LEAKER and round_ == getattr(plan, category):
            flat = [leak.into(flat[0]), *flat[1:]]
        return send_state(channel, peer, round_, client, category, flat, direction)

    def leaky_reduce_to_server(self, partial, category, clients, per_client):
        if LEAKER in clients and leak.rounds.get(id(self)) == plan.reduction:
            partial = leak.into(partial, scale=SUM_SCALE)
        return reduce_to_server(self, partial, category, clients, per_client)

    def leaky_reduce_round(result, info, transport, measured):
        round_ = leak.reports.get(info.rank, 0)  # one report a round, in order, from round 0
        leak.reports[info.rank] = round_ + 1

        def extra(dtype: torch.dtype) -> torch.Tensor:
            zeros = torch.zeros(OFFSET + plan.pixels, dtype=dtype)
            return leak.into(zeros) if info.rank == LEAKER_RANK else zeros

        for which, planned in ((REPORT_REDUCE, plan.report), (LOG_REDUCE, plan.log)):
            if round_ == planned:
                transport = _Growing(transport, which, extra)
        return reduce_round(result, info, transport, measured)

    patches = {
        (ClientHostRole, "_forward"): leaky_forward,
        (ClientHostRole, "run_round"): leaky_run_round,
        (client_host, "send_smashed"): leaky_send_smashed,
        (client_host, "send_state"): leaky_send_state,
        (Channel, "reduce_to_server"): leaky_reduce_to_server,
        (host_loop, "reduce_round"): leaky_reduce_round,
        (server_loop, "reduce_round"): leaky_reduce_round,
    }
    assert patches.keys() == set(PATCHED)
    for (owner, name), patched in patches.items():
        setattr(owner, name, patched)
