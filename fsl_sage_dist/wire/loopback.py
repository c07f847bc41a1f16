"""LoopbackChannel: the Channel's interface for roles that share one process (no torch.distributed).

Used by the in-process baseline (`runtime/in_process.py`). Every role has its own endpoint on a
shared `Loopback`; messages are queued per (sender, receiver) in send order, as Gloo delivers
them, and still carry and validate the same header and are metered the same way, so a run over
loopback is byte-for-byte the run over the network.

The roles run in threads but take turns: a role holds the `Loopback`'s lock (the baton) while it
computes and hands it over only while it waits for a message. So exactly one role computes at any
moment, which is what makes this the sequential baseline rather than a threaded simulation.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import torch

from .channel import Channel, check_payload
from .header import Expect, Header, decode
from .meter import ByteMeter

BROADCAST = -1  # the queue key's sender for server -> everyone


class LoopbackStalled(RuntimeError):
    """A role waited longer than the timeout, or another role failed while it waited."""


class Loopback:
    """The queues and the baton shared by the endpoints of one in-process job."""

    def __init__(self, hosts: list[int], timeout_s: float) -> None:
        self.hosts = hosts
        self.baton = threading.Condition()
        self.timeout_s = timeout_s
        self.queues: dict[tuple[int, int], deque[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.failed: str | None = None

    def put(self, src: int, dst: int, head: torch.Tensor, body: torch.Tensor) -> None:
        self.queues.setdefault((src, dst), deque()).append((head, body))
        self.baton.notify_all()

    def take(self, src: int, dst: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Wait (giving up the baton) until a message from `src` to `dst` is queued."""
        queue = self.queues.setdefault((src, dst), deque())
        if not self.baton.wait_for(lambda: queue or self.failed, self.timeout_s):
            raise LoopbackStalled(f"rank {dst} waited {self.timeout_s:g} s for rank {src}")
        if self.failed:
            raise LoopbackStalled(f"rank {dst} stopped: {self.failed}")
        return queue.popleft()

    def fail(self, reason: str) -> None:
        """Wake every waiting role so it stops too (called by a role that raised)."""
        with self.baton:
            self.failed = self.failed or reason
            self.baton.notify_all()


@dataclass
class LoopbackPending:
    """`PendingRecv` over loopback: the message is taken when its result is asked for."""

    channel: "LoopbackChannel"
    peer: int
    expect: Expect
    category: str
    direction: str

    def ready(self) -> bool:
        return bool(self.channel.loopback.queues.get((self.peer, self.channel.rank)))

    def result(self) -> torch.Tensor:
        return self.channel.recv(self.peer, self.expect, self.category, self.direction)


class LoopbackChannel(Channel):
    def __init__(self, loopback: Loopback, rank: int, meter: ByteMeter | None,
                 device: torch.device, max_bytes: int, activation_dtype: str) -> None:
        super().__init__(meter, device, device, max_bytes, activation_dtype)
        self.loopback, self.rank = loopback, rank

    def send(self, peer: int, header: Header, payload: torch.Tensor, category: str,
             direction: str) -> None:
        check_payload(header, payload, peer)
        body = payload.detach().clone()  # the sender may reuse its buffer, as after an isend
        self._meter(header.client, direction, category, body.numel() * body.element_size())
        self.loopback.put(self.rank, peer, header.encode(), body)

    def recv(self, peer: int, expect: Expect, category: str, direction: str) -> torch.Tensor:
        head, body = self.loopback.take(peer, self.rank)
        header = decode(head, expect, peer, self.max_bytes)
        self._meter(header.client, direction, category, body.numel() * body.element_size())
        return body

    def irecv(self, peer: int, expect: Expect, category: str, direction: str) -> LoopbackPending:
        return LoopbackPending(self, peer, expect, category, direction)

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rank == 0:
            for host in self.loopback.hosts:
                self.loopback.put(BROADCAST, host, torch.empty(0), tensor.detach().clone())
            return tensor
        return self.loopback.take(BROADCAST, self.rank)[1]

    def flush(self) -> None:
        """Sends complete at once over loopback."""
