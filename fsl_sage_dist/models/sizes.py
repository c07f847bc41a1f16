"""How many bytes a model transfer costs: the project's single definition of model size."""

from __future__ import annotations

from torch import nn


def state_nbytes(module: nn.Module) -> int:
    """Bytes of every tensor of the module's `state_dict`, at its own element size: exactly
    what `wire.flatten_state` sends.

    Persistent buffers count because they travel with the model (BatchNorm running statistics
    are averaged across clients); `num_batches_tracked` is int64, so 8 B, while float32 tensors
    are 4 B per element. Non-persistent buffers (a language model's frozen base weights, which
    every rank builds itself) are not state and never travel.
    """
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())
