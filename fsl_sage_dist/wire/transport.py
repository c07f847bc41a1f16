"""Transport: how a `Channel` moves tensors, so that headers, framing and metering exist once.

`DistTransport` hands tensors to torch.distributed (Gloo or NCCL) between processes;
`LoopbackTransport` (`loopback.py`) to queues between roles that share one process. Both match
receives to sends per peer in the order they were posted, as torch.distributed does, and both
receive into a buffer the caller allocated from a validated header.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
import torch.distributed as dist

from fsl_sage_dist.errors import PeerError


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

    def all_reduce(self, tensor: torch.Tensor) -> None:
        """Every rank's `tensor` summed into every rank's, in place (bookkeeping, as `reduce`:
        the sizes of the message log's rows, `runtime/round_log.py`)."""


@contextmanager
def peer_errors() -> Iterator[None]:
    """torch.distributed's failures as `PeerError`: what goes wrong inside the transport is a
    peer that went away or did not answer in time, never this rank's own fault (the launcher
    shows the peer's error first). Everything else a rank raises is its own."""
    try:
        yield
    except (RuntimeError, dist.DistError) as err:
        if isinstance(err, PeerError):
            raise
        raise PeerError(str(err)) from err


class _DistWork:
    """torch.distributed's `Work`, its wait's failure a `PeerError`."""

    def __init__(self, work: Any) -> None:
        self.work = work

    def wait(self) -> Any:
        with peer_errors():
            return self.work.wait()

    def is_completed(self) -> bool:
        with peer_errors():
            return self.work.is_completed()


class DistTransport:
    """torch.distributed's default process group; its failures are `PeerError`s."""

    def isend(self, tensor: torch.Tensor, peer: int) -> Work:
        with peer_errors():
            return _DistWork(dist.isend(tensor, dst=peer))

    def irecv(self, tensor: torch.Tensor, peer: int) -> Work:
        with peer_errors():
            return _DistWork(dist.irecv(tensor, src=peer))

    def recv(self, tensor: torch.Tensor, peer: int) -> None:
        with peer_errors():
            dist.recv(tensor, src=peer)

    def broadcast(self, tensor: torch.Tensor) -> None:
        with peer_errors():
            dist.broadcast(tensor, src=0)

    def reduce(self, tensor: torch.Tensor) -> None:
        with peer_errors():
            dist.reduce(tensor, dst=0)

    def all_reduce(self, tensor: torch.Tensor) -> None:
        with peer_errors():
            dist.all_reduce(tensor)
