"""Dataset names, shapes, availability checks and loading, dispatched by name."""

from __future__ import annotations

from pathlib import Path

from fsl_sage_dist.data.cifar import CIFAR_SPECS, check_cifar, load_cifar
from fsl_sage_dist.data.e2e import E2E_TRAIN_SIZE, find_e2e, load_e2e_nlg, make_e2e_synthetic
from fsl_sage_dist.data.fashion_mnist import check_fashion_mnist, load_fashion_mnist
from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.data.synthetic import make_synthetic
from fsl_sage_dist.data.token_set import TokenSet
from fsl_sage_dist.data.tokenizer import load_tokenizer

TEXT_DATASETS = ("e2e_synthetic", "e2e_nlg")
DATASET_NAMES = ("synthetic", "fashion_mnist", "cifar10", "cifar100", *TEXT_DATASETS)
SPLITS = ("train", "test")


def _check_name(name: str) -> None:
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASET_NAMES}")


def dataset_shape(
    name: str,
    synthetic_shape: tuple[int, int, int],
    num_classes: int,
    *,
    seq_len: int = 256,
    pretrained: str = "",
) -> tuple[tuple[int, ...], int]:
    """(C, H, W) and number of classes, without loading anything; the synthetic arguments are
    used only for `synthetic`. A text dataset's shape is (seq_len,) and its classes are the
    vocabulary of its tokenizer (`pretrained`'s, else bytes)."""
    _check_name(name)
    if name in TEXT_DATASETS:
        return (seq_len,), load_tokenizer(pretrained).vocab_size
    if name == "synthetic":
        return tuple(synthetic_shape), num_classes
    if name == "fashion_mnist":
        return (1, 28, 28), 10
    return (3, 32, 32), CIFAR_SPECS[name].num_classes


# Training samples of the real datasets, so partitions can be checked before anything loads.
TRAIN_SIZES = {
    "fashion_mnist": 60000,
    "cifar10": 50000,
    "cifar100": 50000,
    "e2e_nlg": E2E_TRAIN_SIZE,
}


def train_size(name: str, synthetic_size: tuple[int, int]) -> int:
    """Samples in the training split, without loading it."""
    _check_name(name)
    return synthetic_size[0] if name in ("synthetic", "e2e_synthetic") else TRAIN_SIZES[name]


def check_dataset_available(name: str, root: str | Path) -> None:
    """Raise DatasetNotFoundError now if `load_dataset` would surely fail later: the files are
    missing and the download host does not answer within a few seconds. Loads nothing."""
    _check_name(name)
    if name == "fashion_mnist":
        check_fashion_mnist(root)
    elif name in CIFAR_SPECS:
        check_cifar(name, root)
    elif name == "e2e_nlg":
        find_e2e(root)


def load_dataset(
    name: str,
    split: str,
    *,
    root: str | Path = "",
    synthetic_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    synthetic_size: tuple[int, int] = (2000, 500),
    seed: int = 200,
    seq_len: int = 256,
    pretrained: str = "",
) -> ImageSet | TokenSet:
    """The whole split in memory. `root` empty means the Debian copy or ~/.cache/fsl-sage/data;
    `synthetic_*`, `num_classes` and `seed` matter only for `synthetic` (`synthetic_size` and
    `seed` also for `e2e_synthetic`); `seq_len` and `pretrained` (whose tokenizer is used, if
    it has one) only for the text datasets."""
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if name in TEXT_DATASETS:
        tokenizer = load_tokenizer(pretrained)
        if name == "e2e_nlg":
            return load_e2e_nlg(split, root, tokenizer, seq_len)
        size = synthetic_size[SPLITS.index(split)]
        return make_e2e_synthetic(split, size, seed, tokenizer, seq_len)
    if name == "synthetic":
        size = synthetic_size[SPLITS.index(split)]
        return make_synthetic(split, tuple(synthetic_shape), num_classes, size, seed)
    if name == "fashion_mnist":
        return load_fashion_mnist(split, root)
    return load_cifar(name, split, root)
