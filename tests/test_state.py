"""wire/state.py: a module's state as flat per-dtype vectors, and back."""

from __future__ import annotations

import torch
from torch import nn

from fsl_sage_dist.models import state_nbytes
from fsl_sage_dist.wire import flatten_state, load_flat_state


def with_batchnorm() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 3))
    model[1].running_mean += torch.randn(4)
    model[1].num_batches_tracked += 7
    return model


def test_floats_and_integers_travel_in_one_vector_each_at_the_metered_size():
    flat = flatten_state(with_batchnorm())
    assert [v.dtype for v in flat] == [torch.float32, torch.int64]
    assert sum(v.numel() * v.element_size() for v in flat) == state_nbytes(with_batchnorm())


def test_loading_the_flat_state_reproduces_the_module_exactly():
    source, target = (
        with_batchnorm(),
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 3)),
    )
    load_flat_state(target, flatten_state(source))
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_vectors_are_copies():
    model = with_batchnorm()
    flat = flatten_state(model)
    flat[0].zero_()
    assert model[0].weight.abs().sum() > 0
