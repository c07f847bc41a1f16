"""What one side holds at a moment, in bytes by part: the accounting behind the memory meter.

A `Holdings` adds up tensors by the storage they live in, each storage once: a view, a tied
weight (GPT-2's aux head shares the client's token embedding) or a `state_dict` entry are never
counted twice. The parts (`PARTS`):

- `params`: the `state_dict` of the model the side trains, at its own element size: for a
  client exactly the state its `client_model` averaging sends (`models/sizes.state_nbytes`);
- `frozen`: the model's other parameters and buffers (a language model's frozen base weights,
  non-persistent buffers that never travel); zero for the image models;
- `grads`, `optimizer` (Adam's moments and step counts);
- `aux`: an aux head with its gradients and optimizer state, wherever it is held;
- `activations`: tensors autograd saved for backward (`saved.py`; not a holding, filled by the
  meter);
- `inputs`: the batch, a received smashed batch, the server's stored smashed rows.

Transfer buffers (a flattened state on its way, a pending receive) are not counted: they live
for one message, while the parts above are what a side must keep.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

PARTS = ("params", "frozen", "grads", "optimizer", "aux", "activations", "inputs")
"""The parts of a side's memory, in the order of metrics.jsonl and the round report's rows."""

StorageKey = tuple[int, str]


def storage_of(tensor: torch.Tensor) -> tuple[StorageKey, int]:
    """The storage a tensor lives in (address and device type) and that storage's bytes. On the
    meta device (a model too large to build here, sized without memory) every storage has
    address 0, so the storage object's own identity stands in for it."""
    storage = tensor.untyped_storage()
    device = storage.device.type
    address = storage._cdata if device == "meta" else storage.data_ptr()
    return (address, device), storage.nbytes()


class Holdings:
    """Bytes by part of the tensors one side holds; each storage counted once, in the part it
    was first added to."""

    def __init__(self) -> None:
        self.parts: dict[str, int] = dict.fromkeys(PARTS, 0)
        self.storages: set[StorageKey] = set()
        """The storages counted: a saved tensor in one of them is held already, not an
        activation (`saved.py`)."""

    def add(self, part: str, tensors: Iterable[torch.Tensor | None]) -> Holdings:
        for tensor in tensors:
            if tensor is None:
                continue
            key, nbytes = storage_of(tensor)
            if key not in self.storages:
                self.storages.add(key)
                self.parts[part] += nbytes
        return self

    def module(self, module: nn.Module, part: str | None = None) -> Holdings:
        """A model's state, other tensors and gradients (`params`, `frozen`, `grads`), or all
        of them in `part` (an aux head)."""
        state = module.state_dict(keep_vars=True).values()
        self.add(part or "params", state)
        self.add(part or "frozen", [*module.parameters(), *module.buffers()])
        return self.add(part or "grads", [p.grad for p in module.parameters()])

    def optimizer(self, optimizer: torch.optim.Optimizer, part: str = "optimizer") -> Holdings:
        return self.add(
            part,
            [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)],
        )
