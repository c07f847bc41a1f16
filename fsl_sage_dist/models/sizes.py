"""How many bytes a model transfer costs: the project's single definition of model size."""

from __future__ import annotations

from torch import nn


def state_nbytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer at its own element size.

    Buffers count because they travel with the model (BatchNorm running statistics are averaged
    across clients); `num_batches_tracked` is int64, so 8 B, while float32 tensors are 4 B per
    element. Parameters shared between submodules are counted once.
    """
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
