"""A generated image set: a class pattern at a random contrast per image, plus unit Gaussian noise.

The class patterns are coarse (blocks of 4×4 pixels) so a small conv net with pooling can pick
them up. Their amplitude is strong enough that every algorithm is clearly above chance after two
rounds of the default synthetic job, and each image's contrast is drawn uniformly from [0, 2], so
the faintest images are ambiguous: even the ideal classifier, which knows the class patterns,
stays near 95% (`benchmarks/synthetic_difficulty.py` measures both: docs/synthetic_difficulty.json).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.plan.seeds import numpy_rng

_BLOCK = 4
# Per-pixel RMS of a class pattern at contrast 1 against unit noise, for a 1×28×28 image.
AMPLITUDE = 0.8
MAX_CONTRAST = 2.0
_REFERENCE_PIXELS = 28 * 28
SPLIT_INDEX = {"train": 0, "test": 1}


def class_means(shape: tuple[int, int, int], num_classes: int, seed: int) -> np.ndarray:
    """One float32 C×H×W pattern per class, shared by both splits."""
    channels, height, width = shape
    rng = numpy_rng(seed, "synthetic_means")
    coarse = rng.standard_normal(
        (num_classes, channels, math.ceil(height / _BLOCK), math.ceil(width / _BLOCK))
    )
    fine = coarse.repeat(_BLOCK, axis=2).repeat(_BLOCK, axis=3)[:, :, :height, :width]
    # A fixed per-pixel amplitude makes bigger images easier (more pixels carry the signal); a
    # fixed distance between means makes them much harder (noisier mean estimates). Scaling by
    # D^(-1/8) was measured to keep 1×28×28 and 3×32×32 about equally hard for a small conv net.
    amplitude = AMPLITUDE * (_REFERENCE_PIXELS / (channels * height * width)) ** 0.125
    return (amplitude * fine).astype(np.float32)


def make_synthetic(
    split: str, shape: tuple[int, int, int], num_classes: int, size: int, seed: int
) -> ImageSet:
    means = class_means(shape, num_classes, seed)
    rng = numpy_rng(seed, "synthetic", SPLIT_INDEX[split])
    # Near-balanced classes: every class size within one of the others, in random order.
    labels = rng.permutation(np.arange(size) % num_classes)
    noise = rng.standard_normal((size, *shape), dtype=np.float32)
    contrast = rng.uniform(0.0, MAX_CONTRAST, size).astype(np.float32).reshape(-1, 1, 1, 1)
    images = contrast * means[labels] + noise
    channels = shape[0]
    return ImageSet(
        torch.from_numpy(images),
        torch.from_numpy(labels.astype(np.int64)),
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        num_classes=num_classes,
    )
