"""Invariants of the split models: cut shapes, metered sizes, split == unsplit network,
seeded construction, heads that emit log-probabilities, loud errors.

    .venv/bin/python -m pytest tests/test_models.py
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from torch import nn

from fsl_sage_dist.models import (
    CUTS,
    LANGUAGE_MODELS,
    MODEL_NAMES,
    STEMS,
    SplitModel,
    build_split_model,
    state_nbytes,
)

from availability import require

FMNIST = (1, 28, 28)
CIFAR = (3, 32, 32)
F32, I64 = 4, 8


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These batches are tiny: intra-op threads only add synchronisation, and on a busy machine
    their spin-waits made a 10 ms forward take a second."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("input_shape", "cut_shape"), [(FMNIST, (3136,)), (CIFAR, (4096,)), ((3, 24, 24), (2304,))]
)
def test_simple_conv_cut_shape(input_shape, cut_shape):
    assert build_split_model("simple_conv", input_shape, 10).cut_shape == cut_shape


# At 28x28 the imagenet stem gives 14 -> 7 after conv1 and maxpool, then stride 2 rounds up:
# layer2 is 4x4 (the same cut as CIFAR at 32 px) and layer3 2x2.
RESNET_CUT_SHAPES = {
    ("imagenet", "layer1", CIFAR): (64, 8, 8),
    ("imagenet", "layer2", CIFAR): (128, 4, 4),
    ("imagenet", "layer3", CIFAR): (256, 2, 2),
    ("imagenet", "layer1", FMNIST): (64, 7, 7),
    ("imagenet", "layer2", FMNIST): (128, 4, 4),
    ("imagenet", "layer3", FMNIST): (256, 2, 2),
    ("cifar", "layer1", CIFAR): (64, 32, 32),
    ("cifar", "layer2", CIFAR): (128, 16, 16),
    ("cifar", "layer3", CIFAR): (256, 8, 8),
    ("cifar", "layer1", FMNIST): (64, 28, 28),
    ("cifar", "layer2", FMNIST): (128, 14, 14),
    ("cifar", "layer3", FMNIST): (256, 7, 7),
}


@pytest.mark.parametrize(("stem", "cut", "input_shape"), list(RESNET_CUT_SHAPES))
def test_resnet_cut_shape(stem, cut, input_shape):
    model = build_split_model("resnet18", input_shape, 10, cut=cut, stem=stem)
    assert model.cut_shape == RESNET_CUT_SHAPES[(stem, cut, input_shape)]
    x = torch.randn(2, *input_shape)
    assert model.client(x).shape[1:] == model.cut_shape


@pytest.mark.parametrize(
    ("num_classes", "client", "server", "aux"),
    [(10, 2_740_048, 42_025_080, 8_419_408), (100, 2_740_048, 42_209_760, 8_511_928)],
)
def test_resnet_sizes_match_reference(num_classes, client, server, aux):
    model = build_split_model("resnet18", CIFAR, num_classes, cut="layer2", stem="imagenet")
    assert state_nbytes(model.client) == client
    assert state_nbytes(model.server) == server
    assert state_nbytes(model.aux) == aux
    assert state_nbytes(model.full()) == client + server


def test_simple_conv_sizes_from_layer_formulas():
    classes, cut = 10, 64 * 7 * 7

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    def linear(n_in, n_out):
        return n_in * n_out + n_out

    model = build_split_model("simple_conv", FMNIST, classes)
    # No buffers anywhere: LRN and max-pool are stateless.
    assert state_nbytes(model.client) == F32 * (conv(1, 64, 5) + conv(64, 64, 5))
    assert state_nbytes(model.server) == F32 * (
        linear(cut, 384) + linear(384, 192) + linear(192, classes)
    )
    assert state_nbytes(model.aux) == F32 * linear(cut, classes)


def test_state_nbytes_counts_buffers_at_their_element_size():
    bn = nn.BatchNorm2d(5)
    # weight, bias, running_mean, running_var in float32; num_batches_tracked int64.
    assert state_nbytes(bn) == 4 * 5 * F32 + I64
    assert state_nbytes(bn.half()) == 4 * 5 * 2 + I64


def _unsplit_resnet18(in_channels: int, num_classes: int, stem: str) -> nn.Module:
    """torchvision's resnet18 with the stem changes restated here, not taken from the package."""
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if stem == "cifar":
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return net


@pytest.mark.parametrize(
    ("stem", "cut", "input_shape"), list(itertools.product(STEMS, CUTS, [CIFAR, FMNIST]))
)
def test_resnet_split_equals_unsplit_network(stem, cut, input_shape):
    model = build_split_model("resnet18", input_shape, 10, cut=cut, stem=stem, seed=3)
    # One train-mode step moves BatchNorm statistics away from 0/1, so the comparison below
    # also proves the buffers are carried over.
    model.full().train()(torch.randn(4, *input_shape))
    reference = _unsplit_resnet18(input_shape[0], 10, stem)
    reference.load_state_dict({**model.client.state_dict(), **model.server.state_dict()})
    assert _n_params(model.client) + _n_params(model.server) == _n_params(reference)

    for module in (reference, model.client, model.server):
        module.eval()
    x = torch.randn(3, *input_shape)
    with torch.no_grad():
        expected = torch.log_softmax(reference(x), dim=1)
        torch.testing.assert_close(model.server(model.client(x)), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(model.full()(x), expected, rtol=0, atol=1e-5)


def test_full_shares_the_halves():
    model = build_split_model("simple_conv", FMNIST, 10)
    full = model.full()
    assert full[0] is model.client and full[1] is model.server


def test_build_leaves_batchnorm_statistics_untouched():
    model = build_split_model("resnet18", CIFAR, 10)
    for part in (model.client, model.server, model.aux):
        for layer in part.modules():
            if isinstance(layer, nn.BatchNorm2d):
                assert layer.num_batches_tracked.item() == 0
                assert torch.equal(layer.running_mean, torch.zeros_like(layer.running_mean))


def _states(model: SplitModel) -> list[dict[str, torch.Tensor]]:
    return [model.client.state_dict(), model.server.state_dict(), model.aux.state_dict()]


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_seed_determines_weights(name):
    shape, classes = FMNIST, 10
    if name in LANGUAGE_MODELS:
        require("transformers", "the `llm` extra: pip install -e .[llm]")
        shape, classes = (16,), 258  # 16 tokens of a byte-level vocabulary
    first = _states(build_split_model(name, shape, classes, seed=7))
    # Global draws in between must not matter: construction uses a derived stream.
    torch.rand(10)
    rng_before = torch.random.get_rng_state()
    again = _states(build_split_model(name, shape, classes, seed=7))
    assert torch.equal(torch.random.get_rng_state(), rng_before), "build moved the global RNG"
    other = _states(build_split_model(name, shape, classes, seed=8))
    assert all(_same_state(a, b) for a, b in zip(first, again))
    assert not any(_same_state(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize(
    ("name", "cut", "stem"),
    [("simple_conv", "layer2", "imagenet")]
    + [("resnet18", cut, stem) for cut, stem in itertools.product(CUTS, STEMS)],
)
def test_heads_emit_log_probabilities(name, cut, stem):
    classes = 7
    model = build_split_model(name, FMNIST, classes, cut=cut, stem=stem)
    smashed = model.client(torch.randn(3, *FMNIST))
    for head in (model.aux, model.server):
        out = head(smashed)
        assert out.shape == (3, classes)
        torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "bad", "choices"),
    [
        ({"name": "vgg11"}, "vgg11", MODEL_NAMES),
        ({"cut": "layer4"}, "layer4", CUTS),
        ({"stem": "tiny"}, "tiny", STEMS),
    ],
)
def test_unknown_choice_names_the_valid_ones(kwargs, bad, choices):
    args = {"name": "resnet18", "input_shape": CIFAR, "num_classes": 10, **kwargs}
    with pytest.raises(ValueError) as err:
        build_split_model(**args)
    message = str(err.value)
    assert repr(bad) in message
    assert all(choice in message for choice in choices)


@pytest.mark.parametrize(
    ("name", "input_shape", "needed"),
    [("simple_conv", (1, 3, 28), ">= 4"), ("resnet18", (3, 12, 12), ">= 16")],
)
def test_too_small_input_is_rejected(name, input_shape, needed):
    with pytest.raises(ValueError, match=needed):
        build_split_model(name, input_shape, 10, cut="layer3")


@pytest.mark.parametrize("input_shape", [(28, 28), (1, 0, 28), (1.0, 28, 28)])
def test_malformed_input_shape_is_rejected(input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        build_split_model("simple_conv", input_shape, 10)
