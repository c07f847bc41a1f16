"""CIFAR-10 / CIFAR-100 through torchvision's on-disk format, converted to one uint8 tensor."""

from __future__ import annotations

from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.data.sources import DatasetNotFoundError, can_reach, resolve_root


@dataclass(frozen=True)
class CifarSpec:
    dataset_class: type[datasets.CIFAR10]
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CIFAR_SPECS = {
    "cifar10": CifarSpec(datasets.CIFAR10, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": CifarSpec(
        datasets.CIFAR100, 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    ),
}


def _not_found(name: str, folder: Path, reason: str) -> DatasetNotFoundError:
    class_name = CIFAR_SPECS[name].dataset_class.__name__
    fetch = (
        f"import torchvision; torchvision.datasets.{class_name}('{folder.parent}', download=True)"
    )
    return DatasetNotFoundError(
        f"{name} not found: looked in {folder}, and downloading it failed: {reason}; to get "
        f'it, run on a machine with network: python -c "{fetch}", then copy {folder.name}/ '
        "into a folder here and set data.root=<that folder>"
    )


def load_cifar(name: str, split: str, root: str | Path) -> ImageSet:
    """An existing copy under the root (default ~/.cache/fsl-sage/data) first, else a download
    into it; any failure becomes a DatasetNotFoundError that says how to fetch it."""
    spec = CIFAR_SPECS[name]
    root_path = resolve_root(root)
    train = split == "train"
    try:
        ds = spec.dataset_class(str(root_path), train=train, download=False)
    except RuntimeError:
        try:
            ds = spec.dataset_class(str(root_path), train=train, download=True)
        except (OSError, RuntimeError, HTTPException) as err:
            raise _not_found(name, root_path / spec.dataset_class.base_folder, str(err)) from err
    # .data is N×H×W×C uint8; convert once to the N×C×H×W layout the models consume.
    images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
    labels = torch.tensor(ds.targets, dtype=torch.int64)
    return ImageSet(images, labels, spec.mean, spec.std, spec.num_classes)


def check_cifar(name: str, root: str | Path) -> None:
    """Pass when the extracted folder exists or the download host answers; raise otherwise."""
    dataset_class = CIFAR_SPECS[name].dataset_class
    folder = resolve_root(root) / dataset_class.base_folder
    needed = [file_name for file_name, _ in dataset_class.train_list + dataset_class.test_list]
    if all((folder / file_name).is_file() for file_name in needed):
        return
    if not can_reach(dataset_class.url):
        raise _not_found(name, folder, f"{dataset_class.url} is unreachable (offline?)")
