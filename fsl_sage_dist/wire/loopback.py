"""LoopbackTransport: the transport for roles that share one process (no torch.distributed).

Used by the in-process baseline (`runtime/in_process.py`). Every role has its own endpoint on a
shared `Loopback`; messages are queued per (sender, receiver) in send order and matched to
receives in the order they were posted, as Gloo does. The `Channel` above it is the one a
distributed run uses, so a run over loopback frames, validates and meters byte for byte as a run
over the network.

The roles run in threads but take turns: a role holds the `Loopback`'s lock (the baton) while it
computes and hands it over only while it waits for a message. So exactly one role computes at any
moment, which is what makes this the sequential baseline rather than a threaded simulation.
"""

from __future__ import annotations

import threading
from collections import deque

import torch

from fsl_sage_dist.wire.header import ProtocolError

BROADCAST = -1  # the queue key's sender for server -> everyone
REDUCE = -2  # the queue key's receiver for everyone -> the server's sum


class LoopbackStalled(RuntimeError):
    """A role waited longer than the timeout, or another role failed while it waited."""


class Loopback:
    """The queues and the baton shared by the endpoints of one in-process job."""

    def __init__(self, hosts: list[int], timeout_s: float) -> None:
        self.hosts = hosts
        self.baton = threading.Condition()
        self.timeout_s = timeout_s
        self.queues: dict[tuple[int, int], deque[torch.Tensor]] = {}
        self.failed: str | None = None

    def put(self, src: int, dst: int, tensor: torch.Tensor) -> None:
        self.queues.setdefault((src, dst), deque()).append(tensor)
        self.baton.notify_all()

    def queued(self, src: int, dst: int) -> bool:
        return bool(self.queues.get((src, dst)))

    def take(self, src: int, dst: int) -> torch.Tensor:
        """Wait (giving up the baton) until a message from `src` to `dst` is queued."""
        queue = self.queues.setdefault((src, dst), deque())
        if not self.baton.wait_for(lambda: queue or self.failed, self.timeout_s):
            raise LoopbackStalled(f"rank {dst} waited {self.timeout_s:g} s for rank {src}")
        if queue:  # a message sent before the sender failed has arrived, as over a network
            return queue.popleft()
        raise LoopbackStalled(f"rank {dst} stopped: {self.failed}")

    def fail(self, reason: str) -> None:
        """Wake every waiting role so it stops too (called by a role that raised)."""
        with self.baton:
            self.failed = self.failed or reason
            self.baton.notify_all()


def _copy_into(buffer: torch.Tensor, message: torch.Tensor, src: int) -> None:
    """Receive as Gloo does: a shorter message fills the buffer's start (the Channel's length
    word catches it); a longer one is refused (Gloo would abort the process)."""
    into, data = buffer.view(-1).view(torch.uint8), message.view(-1).view(torch.uint8)
    if data.numel() > into.numel():
        raise ProtocolError(
            f"message from rank {src} is {data.numel()} bytes, longer than the "
            f"{into.numel()} posted for it"
        )
    into[: data.numel()].copy_(data)


class _Done:
    """A send over loopback: complete once queued."""

    def wait(self) -> None:
        """Nothing to wait for."""

    def is_completed(self) -> bool:
        return True


class _Posted:
    """A posted receive; it is filled when it or a later receive from the same peer waits."""

    def __init__(self, transport: "LoopbackTransport", peer: int, buffer: torch.Tensor) -> None:
        self.transport, self.peer, self.buffer, self.done = transport, peer, buffer, False

    def wait(self) -> None:
        self.transport.deliver(self.peer, until=self, block=True)

    def is_completed(self) -> bool:
        self.transport.deliver(self.peer, until=self, block=False)
        return self.done


class LoopbackTransport:
    def __init__(self, loopback: Loopback, rank: int) -> None:
        self.loopback, self.rank = loopback, rank
        self.posted: dict[int, deque[_Posted]] = {}

    def isend(self, tensor: torch.Tensor, peer: int) -> _Done:
        self.loopback.put(self.rank, peer, tensor.detach().clone())  # the sender may reuse it
        return _Done()

    def irecv(self, tensor: torch.Tensor, peer: int) -> _Posted:
        posted = _Posted(self, peer, tensor)
        self.posted.setdefault(peer, deque()).append(posted)
        return posted

    def recv(self, tensor: torch.Tensor, peer: int) -> None:
        self.irecv(tensor, peer).wait()

    def deliver(self, peer: int, until: _Posted, block: bool) -> None:
        """Fill this peer's posted receives in posting order, up to and including `until`
        (without `block`, only from messages already queued)."""
        queue = self.posted[peer]
        while not until.done and (block or self.loopback.queued(peer, self.rank)):
            posted = queue.popleft()
            _copy_into(posted.buffer, self.loopback.take(peer, self.rank), peer)
            posted.done = True

    def broadcast(self, tensor: torch.Tensor) -> None:
        if self.rank == 0:
            for host in self.loopback.hosts:
                self.loopback.put(BROADCAST, host, tensor.detach().clone())
        else:
            _copy_into(tensor, self.loopback.take(BROADCAST, self.rank), 0)

    def reduce(self, tensor: torch.Tensor) -> None:
        if self.rank == 0:
            for host in self.loopback.hosts:  # each slot is filled by one rank: order-free
                tensor += self.loopback.take(host, REDUCE)
        else:
            self.loopback.put(self.rank, REDUCE, tensor.detach().clone())

    def all_reduce(self, tensor: torch.Tensor) -> None:
        """The sum onto rank 0, which hands it back to every host."""
        self.reduce(tensor)
        self.broadcast(tensor)
