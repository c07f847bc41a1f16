"""Activations as autograd holds them: the tensors saved for backward, counted while they live.

Inside `SavedTensors.watch(owner, held)`, every tensor autograd saves (forward passes, and a
backward with `create_graph=True`, i.e. a double backward) is packed into a small `_Saved` that
counts its storage for `owner` and uncounts it when autograd frees the saved tensor (after the
backward that uses it, or when the graph is dropped). So `live(owner)` is exactly the bytes
that owner's graphs keep alive now, each storage once, and the watch records their peak.
A storage among `held` (parameters, optimizer state, the batch: counted in their own parts) is
not counted again. Owners keep apart what several virtual clients of one host, or the server and
a background alignment fit, hold at once.

Hooks are per thread: a watch counts what its own thread saves.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

import torch

from fsl_sage_dist.memory.holdings import StorageKey, storage_of


class _Saved:
    """One saved tensor, counted for its owner until autograd drops it."""

    __slots__ = ("tensor", "owner", "key", "counter")

    def __init__(self, tensor: torch.Tensor, owner: Hashable, counter: SavedTensors) -> None:
        # Detached: a saved output would otherwise hold its own grad_fn, which holds this, a
        # cycle through autograd's C++ graph that nothing frees. Autograd gives the unpacked
        # tensor back its place in the graph itself (a double backward is bitwise unchanged).
        self.tensor, self.owner, self.counter = tensor.detach(), owner, counter
        self.key: StorageKey | None = None
        key, nbytes = storage_of(tensor)
        counter._take(owner, key, nbytes, self)

    def __del__(self) -> None:
        if self.key is not None:
            self.counter._drop(self.owner, self.key)


class SavedTensors:
    """Live bytes of saved tensors, by owner (see module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a background fit's thread counts too
        self._refs: dict[tuple[Hashable, StorageKey], list[int]] = {}  # -> [count, nbytes]
        self._live: dict[Hashable, int] = {}
        self._peak: dict[Hashable, int] = {}
        self._held: dict[Hashable, set[StorageKey]] = {}

    def live(self, owner: Hashable) -> int:
        return self._live.get(owner, 0)

    def _take(self, owner: Hashable, key: StorageKey, nbytes: int, saved: _Saved) -> None:
        with self._lock:
            if key in self._held.get(owner, ()):
                return
            saved.key = key
            ref = self._refs.setdefault((owner, key), [0, nbytes])
            ref[0] += 1
            if ref[0] == 1:
                live = self._live[owner] = self._live.get(owner, 0) + nbytes
                self._peak[owner] = max(self._peak.get(owner, 0), live)

    def _drop(self, owner: Hashable, key: StorageKey) -> None:
        with self._lock:
            ref = self._refs[owner, key]
            ref[0] -= 1
            if ref[0] == 0:
                del self._refs[owner, key]
                self._live[owner] -= ref[1]
                if not self._live[owner]:
                    del self._live[owner]  # 10,000 clients leave no trace

    def also_held(self, owner: Hashable, tensors: list[torch.Tensor]) -> None:
        """Tensors the side came to hold during the current watch (a store extended before an
        alignment): saving them from now on is not a new activation."""
        with self._lock:
            self._held.setdefault(owner, set()).update(storage_of(t)[0] for t in tensors)

    @contextmanager
    def watch(self, owner: Hashable, held: set[StorageKey]) -> Iterator[dict[str, int]]:
        """Count what this thread saves for `owner`; on exit the yielded dict's `peak` is the
        most that owner's saved tensors held at once during the watch (from what was already
        live when it began)."""
        with self._lock:
            self._held[owner] = held
            self._peak[owner] = self._live.get(owner, 0)
        result = {"peak": 0}

        def pack(tensor: torch.Tensor) -> _Saved:
            return _Saved(tensor, owner, self)

        def unpack(saved: _Saved) -> torch.Tensor:
            return saved.tensor

        try:
            with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
                yield result
        finally:
            with self._lock:
                result["peak"] = self._peak.pop(owner, 0)
                self._held.pop(owner, None)
