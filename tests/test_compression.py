"""Activation compression: round-trip error bounds and the bytes each mode puts on the wire."""

import pytest
import torch

from fsl_sage_dist.wire.compression import compress, decompress


@pytest.fixture
def activations():
    gen = torch.Generator().manual_seed(0)
    ranges = torch.linspace(0.01, 10, 64)[:, None, None, None]
    x = torch.randn(64, 128, 4, 4, generator=gen) * ranges
    return torch.relu(x) + 0.5 * x  # skewed rows of very different ranges, like real activations


@pytest.mark.parametrize(
    "mode, rel_bound, abs_bound",
    [
        ("fp32", 0.0, 0.0),
        ("fp16", 2**-11, 2**-25),  # below 2**-14 fp16 is subnormal: absolute steps of 2**-24
        ("bf16", 2**-8, 0.0),
    ],
)
def test_float_modes_are_within_their_rounding(activations, mode, rel_bound, abs_bound):
    parts = compress(activations, mode)
    back = decompress(parts, mode)
    assert back.dtype == torch.float32 and back.shape == activations.shape
    assert torch.all((back - activations).abs() <= rel_bound * activations.abs() + abs_bound)
    assert parts[0].element_size() == {"fp32": 4, "fp16": 2, "bf16": 2}[mode]


def test_int8_error_is_at_most_half_a_step_per_row(activations):
    q, scale_min = compress(activations, "int8")
    assert q.dtype == torch.int8 and q.shape == activations.shape
    assert scale_min.dtype == torch.float32 and scale_min.shape == (64, 2)
    back = decompress([q, scale_min], "int8")
    rows = activations.reshape(64, -1)
    step = (rows.amax(1) - rows.amin(1)) / 255
    err = (back.reshape(64, -1) - rows).abs().amax(1)
    print(f"int8 worst error / step: {float((err / step).max()):.3f}")
    assert torch.all(err <= 0.5 * step * (1 + 1e-4) + 1e-6)
    # the extremes of every row survive exactly enough to keep the row's range
    assert torch.allclose(back.reshape(64, -1).amin(1), rows.amin(1), atol=1e-5)


def test_int8_constant_rows_do_not_divide_by_zero():
    x = torch.zeros(3, 10)
    x[1] = 7.0
    back = decompress(compress(x, "int8"), "int8")
    assert torch.equal(back, x)
