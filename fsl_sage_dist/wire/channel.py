"""Channel: the one place where this rank frames, validates and meters algorithm traffic.

Point-to-point messages are a header (`header.py`) followed by the payload; downloads that every
host needs (averaged weights) are broadcasts from the server. Only client hosts meter, at the
client end of each link: what a client sends is `up`, what it receives is `down`. So every
logical message is counted exactly once, by the rank that hosts the client it belongs to.

Traffic that is not client traffic (the per-round meter/statistics reduction, consistency checks)
never goes through here; it uses `reduce`/`all_reduce` in `runtime`, and is exempt from metering.

With NCCL, payloads travel as CUDA tensors; with Gloo they are staged through CPU. Which
transport carries the bytes (torch.distributed, or loopback queues in one process) is the
Channel's `transport` (`transport.py`); everything above it is the same for both.

Framing: a payload travels as one byte tensor, its bytes followed by a length word (their
count, int64). The receiver knows the exact size from the header before it receives, posts a
buffer of that size + 8 with the length slot preset to -1, and accepts the message only if the
slot then holds the size: Gloo silently accepts a shorter message into a larger buffer, so a
short body leaves -1 there and is a ProtocolError, never uninitialised memory. A longer message
makes Gloo abort the receiving process (an enforce in its I/O thread, not catchable), so the
sender checks its payload against its own header before anything is posted; only a peer that
bypasses this code can still end the job that way. The cost is one copy of each payload into
the framed buffer on the sender (benchmarks/wire_framing.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from fsl_sage_dist.errors import PeerError
from fsl_sage_dist.wire.header import (
    CONTROL_NBYTES,
    HEADER_LEN,
    LENGTH_NBYTES,
    Expect,
    Header,
    ProtocolError,
    decode,
)
from fsl_sage_dist.wire.meter import ByteMeter
from fsl_sage_dist.wire.transport import Transport, Work


@contextmanager
def waiting_for(peer: int) -> Iterator[None]:
    """Name the peer in a transport error (closed connection, `runtime.timeout_s` passed)."""
    try:
        yield
    except RuntimeError as err:
        if isinstance(err, ProtocolError):
            raise
        kind = PeerError if isinstance(err, PeerError) else RuntimeError
        raise kind(f"waiting for rank {peer}: {err}") from err


def check_payload(header: Header, payload: torch.Tensor, peer: int) -> None:
    """A sender's own check: the payload is what its header announces (over Gloo, a longer
    body would abort the receiver)."""
    if payload.dtype != header.dtype or tuple(payload.shape) != header.shape:
        raise ProtocolError(
            f"refusing to send to rank {peer}: payload {payload.dtype} "
            f"{tuple(payload.shape)} does not match its header {header}"
        )


def frame(header: Header, payload: torch.Tensor, device: torch.device, peer: int) -> torch.Tensor:
    """The payload's bytes and then their count, as one uint8 tensor on `device`."""
    check_payload(header, payload, peer)
    data = payload.detach().contiguous().reshape(-1).view(torch.uint8)
    framed = torch.empty(data.numel() + LENGTH_NBYTES, dtype=torch.uint8, device=device)
    framed[: data.numel()].copy_(data)
    framed[data.numel() :].copy_(torch.tensor([data.numel()], dtype=torch.int64).view(torch.uint8))
    return framed


def framed_buffer(header: Header, device: torch.device) -> torch.Tensor:
    """Where a message of `header` is received: its size + the length slot, preset to -1."""
    nbytes = math.prod(header.shape) * header.dtype.itemsize
    framed = torch.empty(nbytes + LENGTH_NBYTES, dtype=torch.uint8, device=device)
    framed[nbytes:] = 0xFF
    return framed


def unframe(framed: torch.Tensor, header: Header, peer: int) -> torch.Tensor:
    """The payload inside a received frame, once its length word proves it arrived whole."""
    nbytes = framed.numel() - LENGTH_NBYTES
    length = int(framed[nbytes:].cpu().clone().view(torch.int64))
    if length != nbytes:  # -1: the body was shorter than the frame
        raise ProtocolError(
            f"message from rank {peer}: {header.kind.name} payload is not the "
            f"{nbytes} bytes its header announced (length word {length})"
        )
    return framed[:nbytes].view(header.dtype).view(header.shape)


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
    framed: torch.Tensor
    works: list[Work]

    def ready(self) -> bool:
        return all(work.is_completed() for work in self.works)

    def result(self) -> torch.Tensor:
        with self.channel.waiting(self.peer):
            for work in self.works:
                work.wait()
        return self.channel._accept(
            self.peer, self.head, self.framed, self.expect, self.category, self.direction
        )


@dataclass
class Channel:
    transport: Transport
    """torch.distributed between processes, or loopback queues within one (`transport.py`)."""
    meter: ByteMeter | None
    """The rank's meter; None on the server, which does not meter (see module docstring)."""
    comm_device: torch.device
    compute_device: torch.device
    max_bytes: int
    activation_dtype: str = "fp32"
    """`wire.activation_dtype`: how activations and cut gradients travel (compression.py)."""
    waited_s: float = 0.0
    """Seconds this rank spent blocked on receives: what a compute time must not count."""
    _pending: list[tuple[Work, torch.Tensor]] = field(default_factory=list)

    @contextmanager
    def waiting(self, peer: int) -> Iterator[None]:
        """A blocking wait for `peer`: timed into `waited_s`, transport errors name the peer."""
        start = time.perf_counter()
        try:
            with waiting_for(peer):
                yield
        finally:
            self.waited_s += time.perf_counter() - start

    def _meter(
        self, clients: list[int], direction: str, category: str, nbytes: int, headed: bool = True
    ) -> None:
        """The one place bytes are counted: `nbytes` of `category` for each client, plus the
        header and length word of a point-to-point message (a broadcast has neither)."""
        if self.meter is None:
            return
        for client in clients:
            self.meter.record(client, direction, category, nbytes)
            if headed:
                self.meter.record(client, direction, "control", CONTROL_NBYTES)

    def send(
        self, peer: int, header: Header, payload: torch.Tensor, category: str, direction: str
    ) -> None:
        """Post header + payload without waiting; buffers stay referenced until `flush`."""
        head = header.encode().to(self.comm_device)
        framed = frame(header, payload, self.comm_device, peer)
        self._meter([header.client], direction, category, framed.numel() - LENGTH_NBYTES)
        self._pending = [(w, t) for w, t in self._pending if not w.is_completed()]
        for tensor in (head, framed):
            self._pending.append((self.transport.isend(tensor, peer), tensor))

    def recv(self, peer: int, expect: Expect, category: str, direction: str) -> torch.Tensor:
        """Blocking receive of one message, validated before the payload is allocated."""
        head = torch.empty(HEADER_LEN, dtype=torch.int64, device=self.comm_device)
        with self.waiting(peer):
            self.transport.recv(head, peer)
        header = decode(head.cpu(), expect, peer, self.max_bytes)
        framed = framed_buffer(header, self.comm_device)
        with self.waiting(peer):
            self.transport.recv(framed, peer)
        return self._accept(peer, head, framed, expect, category, direction)

    def irecv(self, peer: int, expect: Expect, category: str, direction: str) -> PendingRecv:
        """Post the receive of a message of exactly `expect.shape` without waiting for it."""
        assert expect.shape is not None and -1 not in expect.shape and len(expect.dtypes) == 1, (
            "irecv needs a known shape and dtype"
        )
        head = torch.empty(HEADER_LEN, dtype=torch.int64, device=self.comm_device)
        like = Header(
            expect.kind, expect.round, expect.client, expect.seq, expect.dtypes[0], expect.shape
        )
        framed = framed_buffer(like, self.comm_device)
        works = [self.transport.irecv(head, peer), self.transport.irecv(framed, peer)]
        return PendingRecv(self, peer, expect, category, direction, head, framed, works)

    def _accept(
        self,
        peer: int,
        head: torch.Tensor,
        framed: torch.Tensor,
        expect: Expect,
        category: str,
        direction: str,
    ) -> torch.Tensor:
        """A received message's payload, once its header and length word check out."""
        header = decode(head.cpu(), expect, peer, self.max_bytes)
        body = unframe(framed, header, peer)
        self._meter([header.client], direction, category, body.numel() * body.element_size())
        return body.to(self.compute_device)

    def broadcast(self, tensor: torch.Tensor, category: str, clients: list[int]) -> torch.Tensor:
        """Server -> every host: the server's `tensor`, or a host's buffer shaped like it.

        One copy reaches a host however many of its clients it serves; the meter counts it once
        per client in `clients` (the participants this rank serves), as one download each."""
        staged = tensor.to(self.comm_device).contiguous()
        self.transport.broadcast(staged)
        self._meter(clients, "down", category, staged.numel() * staged.element_size(), headed=False)
        return staged.to(self.compute_device)

    def reduce_to_server(
        self, partial: torch.Tensor, category: str, clients: list[int], per_client: torch.Tensor
    ) -> torch.Tensor:
        """Every host's `partial` summed onto the server (which passes zeros). Each client in
        `clients` is metered as if it had sent `per_client` (its own state vector at its wire
        dtype) in one message: the logical traffic a reduction stands in for."""
        staged = partial.to(self.comm_device).contiguous()
        start = time.perf_counter()
        self.transport.reduce(staged)  # waits for every host, as a receive would
        self.waited_s += time.perf_counter() - start
        self._meter(clients, "up", category, per_client.numel() * per_client.element_size())
        return staged.to(self.compute_device)

    def flush(self) -> None:
        """Wait until every posted send has left, then release its buffers."""
        for work, _ in self._pending:
            work.wait()
        self._pending.clear()
