"""Fashion-MNIST from idx files: an explicit root, the Debian package, or torchvision's download.

The idx files are read directly (no torchvision dataset object) so a local copy loads in well
under a second and a corrupt file is reported by name.
"""

from __future__ import annotations

from http.client import HTTPException
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from fsl_sage_dist.data.idx import read_idx_ubyte
from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.data.sources import DatasetNotFoundError, can_reach, resolve_root

MEAN = (0.2860,)
STD = (0.3530,)
NUM_CLASSES = 10
# Installed by `apt-get install dataset-fashion-mnist`.
WELL_KNOWN_FOLDERS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
_FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def candidate_folders(root: str | Path) -> list[Path]:
    """Folders searched, in order: the explicit root (flat or torchvision's layout), the Debian
    package folder, and torchvision's layout under the default cache when no root is given."""
    if str(root):
        explicit = Path(root).expanduser()
        return [explicit, explicit / "FashionMNIST" / "raw", *WELL_KNOWN_FOLDERS]
    return [*WELL_KNOWN_FOLDERS, resolve_root(root) / "FashionMNIST" / "raw"]


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _find_split(folders: list[Path], split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of the first folder holding both, .gz or uncompressed."""
    for folder in folders:
        found = [_find_file(folder, stem) for stem in _FILE_STEMS[split]]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    return None


def _read_split(images_path: Path, labels_path: Path) -> ImageSet:
    images = read_idx_ubyte(images_path, ndim=3)
    labels = read_idx_ubyte(labels_path, ndim=1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path} holds images of shape {images.shape} but {labels_path} holds "
            f"{labels.shape[0]} labels; expected N×28×28 images and N labels from the same split"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path} has label {labels.max()}, expected 0..{NUM_CLASSES - 1}")
    return _as_image_set(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def _as_image_set(images: torch.Tensor, labels: torch.Tensor) -> ImageSet:
    return ImageSet(images.unsqueeze(1).contiguous(), labels, MEAN, STD, NUM_CLASSES)


def _not_found(folders: list[Path], download_root: Path, reason: str) -> DatasetNotFoundError:
    searched = ", ".join(str(f) for f in folders)
    return DatasetNotFoundError(
        "fashion_mnist not found: looked for "
        f"train-/t10k-{{images-idx3,labels-idx1}}-ubyte[.gz] in {searched}, "
        f"and torchvision's download into {download_root} failed: {reason}; "
        "to get it: `sudo apt-get install dataset-fashion-mnist` (installs to "
        f"{WELL_KNOWN_FOLDERS[0]}), or copy the four idx files into a folder and set "
        "data.root=<folder>."
    )


def load_fashion_mnist(split: str, root: str | Path) -> ImageSet:
    folders = candidate_folders(root)
    found = _find_split(folders, split)
    if found is not None:
        return _read_split(*found)
    download_root = resolve_root(root)
    try:
        ds = datasets.FashionMNIST(str(download_root), train=split == "train", download=True)
    except (OSError, RuntimeError, HTTPException) as err:
        raise _not_found(folders, download_root, str(err)) from err
    return _as_image_set(ds.data, ds.targets.to(torch.int64))


def check_fashion_mnist(root: str | Path) -> None:
    """Pass when both splits are on disk or the download mirror answers; raise otherwise."""
    folders = candidate_folders(root)
    if all(_find_split(folders, split) is not None for split in _FILE_STEMS):
        return
    mirror = datasets.FashionMNIST.mirrors[0]
    if not can_reach(mirror):
        raise _not_found(folders, resolve_root(root), f"{mirror} is unreachable (offline?)")
