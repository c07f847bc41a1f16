"""The reference's partition (`dirichlet_equal`, ALGORITHMS.md decision 15) and the per-model
batch size default (decision 16)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from fsl_sage_dist.config import load_config
from fsl_sage_dist.data import partition_indices


def labels_of(n: int, num_classes: int = 10) -> np.ndarray:
    return np.random.default_rng(0).permutation(np.arange(n) % num_classes)


def mean_entropy_bits(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean over clients of the entropy of its label histogram: log2(10) = 3.32 is uniform."""
    out = []
    for part in parts:
        share = np.bincount(labels[part], minlength=10) / len(part)
        share = share[share > 0]
        out.append(float(-(share * np.log2(share)).sum()))
    return float(np.mean(out))


@pytest.mark.parametrize("alpha", [100.0, 0.5, 0.01])
def test_equal_sizes_disjoint_remainder_unused(alpha):
    labels = labels_of(1003)
    parts = partition_indices(labels, 10, "dirichlet_equal", seed=3, alpha=alpha)
    assert [len(p) for p in parts] == [100] * 10
    union = np.concatenate(parts)
    assert len(np.unique(union)) == len(union) == 1000, "clients share samples"
    assert all(np.array_equal(p, np.sort(p)) and p.dtype == np.int64 for p in parts)


def test_reproducible_from_the_seed():
    labels = labels_of(2000)
    first = partition_indices(labels, 8, "dirichlet_equal", seed=11, alpha=0.3)
    again = partition_indices(labels, 8, "dirichlet_equal", seed=11, alpha=0.3)
    other = partition_indices(labels, 8, "dirichlet_equal", seed=12, alpha=0.3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_smaller_alpha_gives_more_skewed_label_histograms():
    labels = labels_of(6000)
    entropy = {
        alpha: mean_entropy_bits(
            labels, partition_indices(labels, 10, "dirichlet_equal", seed=5, alpha=alpha)
        )
        for alpha in (100.0, 1.0, 0.1)
    }
    print(f"mean label entropy (bits) by alpha: {entropy}")
    assert entropy[100.0] > entropy[1.0] > entropy[0.1], entropy
    assert entropy[100.0] > 3.2 and entropy[0.1] < 2.0, entropy


def test_exhausted_classes_are_redrawn_from_what_is_left():
    """Ten clients that all want mostly class 0 (tiny alpha on a 2-class pool) still get
    equal sizes: class 0 runs out and the rest come from class 1."""
    labels = np.array([0] * 30 + [1] * 970)
    parts = partition_indices(labels, 10, "dirichlet_equal", seed=0, alpha=0.001)
    assert [len(p) for p in parts] == [100] * 10
    # every sample once: nothing drawn twice from the exhausted class, nothing left unused
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(labels)))


@pytest.mark.parametrize("model, batch", [("simple_conv", 128), ("resnet18", 256)])
def test_batch_size_defaults_per_model_and_is_recorded(model, batch):
    cfg = load_config(None, [f"model.name={model}"])
    assert cfg.train.batch_size == batch
    assert tomllib.loads(cfg.to_toml())["train"]["batch_size"] == batch
    explicit = load_config(None, [f"model.name={model}", "train.batch_size=32"])
    assert explicit.train.batch_size == 32
