"""MemoryMeter: each side's peak bytes in a round, and what that peak is made of.

Drivers wrap each phase of a side's work in `phase` (a client's forward pass with its upload, its
update; the server's step on one upload, with a synchronous alignment inside it; a background
alignment fit; the server's round end):

    with ctx.memory.phase(client.id, lambda: side.holdings(client), inputs=(x, y)):
        z = client.model(x)

A phase's total is its holdings (each part as the larger of what it was at the phase's start and
at its end) plus the peak of the activations autograd kept alive during it (`saved.py`); a
side's round peak is the largest phase total, with the parts of that phase. Once a model has
stepped once its gradients and optimizer state are held through every later phase, so this is
the moment the side needs most, not a sum of each part's own maximum. Everything is the byte
count of tensors a side holds, as if each client had its own device: independent of how many
clients share a host, of the host layout and of timing, so a resumed run repeats it exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager

import torch

from fsl_sage_dist.memory.holdings import PARTS, Holdings
from fsl_sage_dist.memory.saved import SavedTensors

SERVER = "server"
"""The server's key: every phase of rank 0's work counts toward one server peak."""


class MemoryMeter:
    """One per rank (`algorithms.base.Context.memory`). `enabled=False` (only
    benchmarks/memory_overhead.py builds one) makes every phase a bare `yield`: no holdings, no
    saved-tensor hooks, so its round time against an enabled meter's is the meter's cost."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.saved = SavedTensors()
        self._lock = threading.Lock()
        self._peaks: dict[Hashable, dict[str, int]] = {}  # this round's, by key
        self._holders: dict[Hashable, Callable[[], Holdings]] = {}

    def holds(self, key: Hashable, held: Callable[[], Holdings]) -> None:
        """Say once what `key` holds (the server role: its global model and its algorithm's
        half), so work deep inside a half can take a phase of its own (`held`)."""
        self._holders[key] = held

    def held(self, key: Hashable) -> Holdings:
        return self._holders[key]()

    @contextmanager
    def phase(
        self,
        key: Hashable,
        held: Callable[[], Holdings] | None = None,
        inputs: Iterable[torch.Tensor] = (),
        owner: Hashable | None = None,
    ) -> Iterator[None]:
        """Account the enclosed work to `key`'s round peak. `held` says what the side holds
        (called at the phase's start and end); `inputs` are tensors the phase works on beyond
        it (the batch); `owner` keeps the saved tensors of concurrent work apart (a background
        fit's), by default `key`; `held` by default what `holds` said for `key`."""
        if not self.enabled:
            yield
            return
        held = held or self._holders[key]
        inputs = tuple(inputs)
        before = held().add("inputs", inputs)
        with self.saved.watch(key if owner is None else owner, before.storages) as saved:
            yield
        after = held().add("inputs", inputs)
        parts = {p: max(before.parts[p], after.parts[p]) for p in PARTS}
        parts["activations"] = saved["peak"]
        self.offer(key, parts)

    def offer(self, key: Hashable, parts: dict[str, int]) -> None:
        """A phase's parts; kept if its total is `key`'s largest this round (ties: the first)."""
        with self._lock:
            best = self._peaks.get(key)
            if best is None or sum(parts.values()) > sum(best.values()):
                self._peaks[key] = parts

    def take_round(self) -> dict[Hashable, dict[str, int]]:
        """The round's peak parts by key, cleared for the next round."""
        with self._lock:
            peaks, self._peaks = self._peaks, {}
        return peaks


def total(parts: dict[str, int] | None) -> int:
    return 0 if parts is None else sum(parts.values())
