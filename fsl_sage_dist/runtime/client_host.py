"""ClientHostRole: runs this rank's virtual clients through each round.

Inside a host, clients advance in lockstep: iteration k of each participating client (ascending
id), then iteration k+1. Each iteration is split in two phases, first every client's forward
pass and upload, then every client's update (which may wait for a reply), so the server always
has all of this host's uploads for iteration k before any of its clients waits on it. That is
also exactly the order the server consumes them in. Algorithms whose spec gives whole turns
run one client after another instead.

Memory: a host keeps one copy of each averaged part (the global state every client takes at
each round end) and builds a participant from it when the client is sampled; what a client
keeps between participations (optimizer moments, an aux head that is not averaged) waits in
`ctx.states` (a `ClientStateStore`; on disk with `runtime.spill`). So a host holds models for
the round's participants only. What each participant would need on a device of its own is
accounted phase by phase (its forward pass, its update) by `ctx.memory` (`memory/`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from fsl_sage_dist.algorithms.averaging import weighted_sum
from fsl_sage_dist.algorithms.base import ClientSide, Context, Step, StepLoss, VirtualClient
from fsl_sage_dist.data import ClientData
from fsl_sage_dist.runtime.round_log import compute_rows
from fsl_sage_dist.runtime.round_report import RoundResult
from fsl_sage_dist.wire import (
    SmashedBatch,
    flatten_state,
    load_flat_state,
    send_smashed,
    send_state,
)

Batch = tuple[int, torch.Tensor, torch.Tensor]


class ClientHostRole:
    def __init__(self, ctx: Context, side: ClientSide, data: dict[int, ClientData]) -> None:
        self.ctx = ctx
        self.side = side
        """The algorithm's client half."""
        self.compute_s: dict[tuple[int, int], tuple[float, float]] = {}
        """This round's (client, iteration) -> seconds of its forward pass (with posting its
        upload) and of its update, waits for messages excluded (the message log's)."""
        self.data = data
        """This host's clients' training streams, by client id."""
        first = min(data)
        blank = side.new_client(first, data[first])
        self.global_parts = {category: blank.part(category) for category in ctx.spec.averaged}
        """The global state of each averaged part, as every client has it at a round's end."""

    def _join(self, cid: int) -> VirtualClient:
        """Client `cid` as it stands when sampled: the global parts and its own state."""
        client = self.side.new_client(cid, self.data[cid])
        for category, module in self.global_parts.items():
            client.part(category).load_state_dict(module.state_dict())
        own = self.ctx.states.get(cid)
        if own is not None:
            client.load_state_dict(own)
        return client

    def _leave(self, client: VirtualClient, round_: int) -> None:
        self.ctx.states.put(client.id, round_, client.own_state_dict(self.ctx.spec.averaged))

    def _batches(self, client: VirtualClient, round_: int) -> Iterator[Batch]:
        it = 0
        for epoch in range(self.ctx.train.local_epochs):
            for x, y in client.data.epoch(round_, epoch):
                yield it, x.to(self.ctx.device), y.to(self.ctx.device)
                it += 1

    def _forward(self, client: VirtualClient, round_: int, batch: Batch) -> torch.Tensor:
        it, x, y = batch
        self.ctx.channel.meter.at(client.id, it)
        start = time.perf_counter()
        with self.ctx.memory.phase(client.id, lambda: self.side.holdings(client), (x, y)):
            z = client.model(x)
            if self.ctx.uploads(it):
                smashed = SmashedBatch(client.id, self.ctx.slot(it), z.detach(), y)
                send_smashed(self.ctx.channel, round_, smashed)
        self.compute_s[client.id, it] = (time.perf_counter() - start, 0.0)
        return z

    def _train(self, clients: list[VirtualClient], round_: int) -> list[StepLoss]:
        losses: list[StepLoss] = []
        channel = self.ctx.channel

        def update(client: VirtualClient, batch: Batch, z: torch.Tensor) -> None:
            it, x, y = batch
            channel.meter.at(client.id, it)
            start, waited = time.perf_counter(), channel.waited_s
            with self.ctx.memory.phase(client.id, lambda: self.side.holdings(client), (x, y)):
                loss = self.side.update(Step(client, round_, it, x, y, z))
            spent = time.perf_counter() - start - (channel.waited_s - waited)
            self.compute_s[client.id, it] = (self.compute_s[client.id, it][0], spent)
            if loss is not None:
                losses.append(loss)

        if self.ctx.spec.whole_turns(self.ctx.fsl):
            for client in clients:
                for batch in self._batches(client, round_):
                    update(client, batch, self._forward(client, round_, batch))
            return losses
        streams = [(c, self._batches(c, round_)) for c in clients]
        while True:
            step = [(c, b) for c, stream in streams if (b := next(stream, None)) is not None]
            if not step:
                return losses
            outputs = [self._forward(c, round_, b) for c, b in step]
            for (client, batch), z in zip(step, outputs):
                update(client, batch, z)

    def _exchange_states(self, mine: list[VirtualClient], round_: int) -> None:
        """Participants' states up (`runtime.averaging`), the average down to every client."""
        for client in mine:
            self.ctx.channel.meter.at(client.id, None)  # the round end, in the message log
        if self.ctx.runtime.averaging == "reduce":  # collectives: one category after another
            for category in self.ctx.spec.averaged:
                self._sum_up(mine, category)
                self._take_average(mine, category)
            return
        for category in self.ctx.spec.averaged:
            for client in mine:
                send_state(
                    self.ctx.channel,
                    0,
                    round_,
                    client.id,
                    category,
                    flatten_state(client.part(category)),
                    "up",
                )
        for category in self.ctx.spec.averaged:
            self._take_average(mine, category)

    def _sum_up(self, mine: list[VirtualClient], category: str) -> None:
        like = flatten_state(self.global_parts[category])
        sums = weighted_sum(
            like,
            [flatten_state(c.part(category)) for c in mine],
            [c.data.num_samples for c in mine],
        )
        for partial, vec in zip(sums, like):
            self.ctx.channel.reduce_to_server(partial, category, [c.id for c in mine], vec)

    def _take_average(self, mine: list[VirtualClient], category: str) -> None:
        like = flatten_state(self.global_parts[category])
        averaged = [
            self.ctx.channel.broadcast(torch.empty_like(v), category, [c.id for c in mine])
            for v in like
        ]
        load_flat_state(self.global_parts[category], averaged)  # every client's, from now

    def run_round(self, round_: int) -> RoundResult:
        """One round of this host's participating clients."""
        start, start_cpu = time.perf_counter(), time.process_time()
        chosen = set(self.ctx.participants(round_))
        self.side.start_round(round_, sorted(chosen))
        self.compute_s = {}
        mine = [self._join(c) for c in sorted(chosen.intersection(self.data))]
        losses = self._train(mine, round_)
        self._exchange_states(mine, round_)
        for client in mine:
            self.side.round_end(client, round_)
            self._leave(client, round_)
        self.ctx.channel.flush()
        meter = self.ctx.channel.meter
        return RoundResult(
            losses,
            meter.take_round(),
            time.perf_counter() - start,
            time.process_time() - start_cpu,
            sorted(chosen),
            meter.take_messages(),
            compute_rows(self.compute_s),
            self.ctx.memory.take_round(),
        )
