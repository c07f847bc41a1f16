"""Batched random crop (zero padding) + horizontal flip, the standard CIFAR augmentation.

Done as a single gather over the whole batch instead of per-sample PIL transforms, because it
runs on every training batch (about 0.4 ms for 128 CIFAR images on one CPU thread).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator, padding: int = 4
) -> torch.Tensor:
    """Pad each image by `padding` zeros, crop back to the original size at a random offset and
    flip it horizontally with probability 1/2; offsets and flips are drawn per sample from
    `generator` (a CPU generator, so the draws do not depend on the images' device)."""
    batch, channels, height, width = images.shape
    offsets = torch.randint(0, 2 * padding + 1, (batch, 2), generator=generator)
    flips = torch.randint(0, 2, (batch,), generator=generator).bool()
    rows = offsets[:, :1] + torch.arange(height)
    # A flipped crop reads the same padded window right to left.
    col_steps = torch.where(flips[:, None], torch.arange(width - 1, -1, -1), torch.arange(width))
    cols = offsets[:, 1:] + col_steps
    padded_width = width + 2 * padding
    # One flat index per output pixel into each padded image, shared by its channels.
    flat = (rows[:, :, None] * padded_width + cols[:, None, :]).view(batch, 1, height * width)
    padded = F.pad(images, (padding, padding, padding, padding)).view(batch, channels, -1)
    cropped = padded.gather(2, flat.to(images.device).expand(batch, channels, height * width))
    return cropped.view(batch, channels, height, width)
