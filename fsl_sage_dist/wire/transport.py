"""Transport: how a `Channel` moves tensors, so that headers, framing and metering exist once.

`DistTransport` hands tensors to torch.distributed (Gloo or NCCL) between processes;
`LoopbackTransport` (`loopback.py`) to queues between roles that share one process. Both match
receives to sends per peer in the order they were posted, as torch.distributed does, and both
receive into a buffer the caller allocated from a validated header.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.distributed as dist


class Work(Protocol):
    """A posted send or receive (torch.distributed's `Work` is one)."""

    def wait(self) -> Any: ...

    def is_completed(self) -> bool: ...


class Transport(Protocol):
    def isend(self, tensor: torch.Tensor, peer: int) -> Work:
        """Post `tensor` to `peer`; it must stay alive until the work completes."""

    def irecv(self, tensor: torch.Tensor, peer: int) -> Work:
        """Post a receive from `peer` into `tensor`."""

    def recv(self, tensor: torch.Tensor, peer: int) -> None:
        """Receive from `peer` into `tensor`, blocking."""

    def broadcast(self, tensor: torch.Tensor) -> None:
        """Rank 0's `tensor` into every other rank's, in place."""

    def reduce(self, tensor: torch.Tensor) -> None:
        """Every rank's `tensor` summed into rank 0's, in place (the round report: bookkeeping,
        not client traffic, so it never goes through a Channel)."""


class DistTransport:
    """torch.distributed's default process group."""

    def isend(self, tensor: torch.Tensor, peer: int) -> Work:
        return dist.isend(tensor, dst=peer)

    def irecv(self, tensor: torch.Tensor, peer: int) -> Work:
        return dist.irecv(tensor, src=peer)

    def recv(self, tensor: torch.Tensor, peer: int) -> None:
        dist.recv(tensor, src=peer)

    def broadcast(self, tensor: torch.Tensor) -> None:
        dist.broadcast(tensor, src=0)

    def reduce(self, tensor: torch.Tensor) -> None:
        dist.reduce(tensor, dst=0)
