"""Channel: the one place where this rank hands tensors to torch.distributed for algorithm traffic.

Point-to-point messages are a header (`header.py`) followed by the payload; downloads that every
host needs (averaged weights) are broadcasts from the server. Only client hosts meter, at the
client end of each link: what a client sends is `up`, what it receives is `down`. So every
logical message is counted exactly once, by the rank that hosts the client it belongs to.

Traffic that is not client traffic (the per-round meter/statistics reduction, consistency checks)
never goes through here; it uses `reduce`/`all_reduce` in `runtime`, and is exempt from metering.

With NCCL, payloads travel as CUDA tensors; with Gloo they are staged through CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from .header import HEADER_LEN, HEADER_NBYTES, Expect, Header, decode
from .meter import ByteMeter


@dataclass
class PendingRecv:
    """A receive of a message whose shape the receiver knows in advance (posted early, so the
    caller can go on computing); `result` validates the header once the bytes are in."""

    channel: "Channel"
    peer: int
    expect: Expect
    category: str
    direction: str
    head: torch.Tensor
    body: torch.Tensor
    works: list[dist.Work]

    def ready(self) -> bool:
        return all(work.is_completed() for work in self.works)

    def result(self) -> torch.Tensor:
        for work in self.works:
            work.wait()
        header = decode(self.head.cpu(), self.expect, self.peer, self.channel.max_bytes)
        body = self.body
        self.channel._meter(header.client, self.direction, self.category,
                            body.numel() * body.element_size())
        return body.to(self.channel.compute_device)


@dataclass
class Channel:
    meter: ByteMeter | None
    """The rank's meter; None on the server, which does not meter (see module docstring)."""
    comm_device: torch.device
    compute_device: torch.device
    max_bytes: int
    activation_dtype: str = "fp32"
    """`wire.activation_dtype`: how activations and cut gradients travel (compression.py)."""
    _pending: list[tuple[dist.Work, list[torch.Tensor]]] = field(default_factory=list)

    def _meter(self, client: int, direction: str, category: str, nbytes: int) -> None:
        if self.meter is not None:
            self.meter.record(client, direction, category, nbytes)
            self.meter.record(client, direction, "control", HEADER_NBYTES)

    def send(self, peer: int, header: Header, payload: torch.Tensor, category: str,
             direction: str) -> None:
        """Post header + payload without waiting; buffers stay referenced until `flush`."""
        head = header.encode().to(self.comm_device)
        body = payload.detach().to(self.comm_device).contiguous()
        self._meter(header.client, direction, category, body.numel() * body.element_size())
        self._pending = [(w, t) for w, t in self._pending if not w.is_completed()]
        for tensor in (head, body):
            self._pending.append((dist.isend(tensor, dst=peer), [tensor]))

    def recv(self, peer: int, expect: Expect, category: str, direction: str) -> torch.Tensor:
        """Blocking receive of one message, validated before the payload is allocated."""
        head = torch.empty(HEADER_LEN, dtype=torch.int64, device=self.comm_device)
        dist.recv(head, src=peer)
        header = decode(head.cpu(), expect, peer, self.max_bytes)
        body = torch.empty(header.shape, dtype=header.dtype, device=self.comm_device)
        dist.recv(body, src=peer)
        self._meter(header.client, direction, category, body.numel() * body.element_size())
        return body.to(self.compute_device)

    def irecv(self, peer: int, expect: Expect, category: str, direction: str) -> PendingRecv:
        """Post the receive of a message of exactly `expect.shape` without waiting for it."""
        assert expect.shape is not None and -1 not in expect.shape, "irecv needs a known shape"
        head = torch.empty(HEADER_LEN, dtype=torch.int64, device=self.comm_device)
        body = torch.empty(expect.shape, dtype=expect.dtypes[0], device=self.comm_device)
        works = [dist.irecv(head, src=peer), dist.irecv(body, src=peer)]
        return PendingRecv(self, peer, expect, category, direction, head, body, works)

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """Server -> every host. The caller meters per client (one copy serves co-hosted ones)."""
        staged = tensor.to(self.comm_device).contiguous()
        dist.broadcast(staged, src=0)
        return staged.to(self.compute_device)

    def meter_broadcast(self, clients: list[int], category: str, nbytes: int) -> None:
        """Count a broadcast download once per client it serves (no header: it is a collective)."""
        if self.meter is not None:
            for client in clients:
                self.meter.record(client, "down", category, nbytes)

    def flush(self) -> None:
        """Wait until every posted send has left, then release its buffers."""
        for work, _ in self._pending:
            work.wait()
        self._pending.clear()
