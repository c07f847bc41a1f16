"""An in-memory image dataset: all pixels in one tensor, batches built by indexing it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fsl_sage_dist.data.augment import random_crop_flip


@dataclass(eq=False)
class ImageSet:
    """Images as one N×C×H×W tensor (uint8 for real image sets, float32 for synthetic ones),
    int64 labels, and the per-channel mean/std used to normalise batches."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise ValueError(
                f"ImageSet.images must be N×C×H×W, got shape {tuple(self.images.shape)}"
            )
        if self.images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"ImageSet.images must be uint8 or float32, got {self.images.dtype}")
        if self.labels.shape != (self.images.shape[0],) or self.labels.dtype != torch.int64:
            raise ValueError(
                f"ImageSet.labels must be int64 of shape ({self.images.shape[0]},), "
                f"got {self.labels.dtype} of shape {tuple(self.labels.shape)}"
            )
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"ImageSet needs one mean and std per channel ({channels}), "
                f"got mean={self.mean} std={self.std}"
            )
        # Fold /255 and (x - mean) / std into one multiply-subtract: x * scale - shift.
        pixel_scale = 255.0 if self.images.dtype == torch.uint8 else 1.0
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self._scale = (1.0 / (pixel_scale * std)).to(self.images.device)
        self._shift = (mean / std).to(self.images.device)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def partition_classes(self) -> int:
        """The classes partitions and the partition summary are drawn over."""
        return self.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, channels, height, width = self.images.shape
        return (channels, height, width)

    def subset(self, indices: torch.Tensor) -> ImageSet:
        """A copy holding only the given rows (so the full set can be dropped afterwards)."""
        images, labels = self.images[indices], self.labels[indices]
        return ImageSet(images, labels, self.mean, self.std, self.num_classes)

    def batch(
        self, indices: torch.Tensor, augment: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised float32 images and int64 labels for `indices`; with `augment`, a random
        crop (4-pixel zero padding) and horizontal flip per sample drawn from that generator.
        Padding is applied to the raw pixels, as torchvision's RandomCrop before Normalize."""
        indices = indices.to(self.images.device)
        images = self.images[indices]
        if augment is not None:
            images = random_crop_flip(images, augment)
        x = images.to(torch.float32).mul_(self._scale).sub_(self._shift)
        return x, self.labels[indices]
