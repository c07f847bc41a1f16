"""build_split_model: the one entry point that turns a model name and plain arguments into a
SplitModel with identical weights on every process that builds it."""

from __future__ import annotations

from collections.abc import Callable

from fsl_sage_dist.models.gpt2 import GPT2Spec, build_gpt2
from fsl_sage_dist.models.resnet import CUTS, STEMS, build_resnet18
from fsl_sage_dist.models.simple_conv import build_simple_conv
from fsl_sage_dist.models.split import SplitModel
from fsl_sage_dist.seeding import seeded_torch

# simple_conv has one fixed cut and stem; it accepts (and ignores) the resnet options so a
# config can switch models without touching them.
_BUILDERS: dict[str, Callable[[tuple[int, int, int], int, str, str], SplitModel]] = {
    "simple_conv": lambda shape, classes, cut, stem: build_simple_conv(shape, classes),
    "resnet18": build_resnet18,
}
LANGUAGE_MODELS = ("gpt2",)
MODEL_NAMES = (*_BUILDERS, *LANGUAGE_MODELS)


def build_split_model(
    name: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    cut: str = "layer2",
    stem: str = "imagenet",
    seed: int = 0,
    gpt2: GPT2Spec | None = None,
) -> SplitModel:
    """Build `name` for inputs of `input_shape` (C, H, W) and `num_classes` classes.

    `cut` (one of CUTS) and `stem` (one of STEMS) apply to resnet18. For a language model the
    input shape is (sequence length,), the classes are the vocabulary and `gpt2` says how it is
    cut and adapted. All weights are drawn from a stream derived from (`seed`, "model_init"),
    so every rank gets the same client, server and aux weights without a broadcast.
    """
    _require_choice("model name", name, MODEL_NAMES)
    if name in LANGUAGE_MODELS:
        return _build_language_model(input_shape, num_classes, seed, gpt2 or GPT2Spec())
    _require_choice("cut", cut, CUTS)
    _require_choice("stem", stem, STEMS)
    input_shape = _checked_input_shape(input_shape)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    with seeded_torch(seed, "model_init"):
        model = _BUILDERS[name](input_shape, num_classes, cut, stem)
    return model


def _build_language_model(
    input_shape: tuple[int, ...], vocab_size: int, seed: int, spec: GPT2Spec
) -> SplitModel:
    (seq_len,) = input_shape
    with seeded_torch(seed, "model_init"):
        model = build_gpt2(spec, seq_len, vocab_size)
    return model


def _require_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(choices)}")


def _checked_input_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"input_shape must be three positive ints (C, H, W), got {input_shape}")
    return shape  # type: ignore[return-value]
