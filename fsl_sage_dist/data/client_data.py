"""One client's training stream: its own rows of the training set, batched per (round, epoch)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.seeding import torch_generator


def samples_per_epoch(num_samples: int, batch_size: int) -> int:
    """How many of a client's samples one epoch serves: all of them, except that a last batch of
    a single sample is left out when other batches precede it (a different sample each epoch,
    since the order is redrawn per epoch). A batch of one cannot train BatchNorm ("expected more
    than 1 value per channel"); leaving it out rather than folding it into the previous batch
    keeps every batch within train.batch_size, the bound the server enforces on smashed rows.
    Where no batch of one would occur, nothing changes."""
    return num_samples - (
        batch_size > 1 and num_samples > batch_size and num_samples % batch_size == 1
    )


def batch_sizes(num_samples: int, batch_size: int) -> list[int]:
    """The sizes of one epoch's batches, in order: full batches, then the remainder (the one
    place that decides how an epoch is cut, shared with the closed-form byte counts)."""
    served = samples_per_epoch(num_samples, batch_size)
    return [min(batch_size, served - start) for start in range(0, served, batch_size)]


def batches_per_epoch(num_samples: int, batch_size: int) -> int:
    return len(batch_sizes(num_samples, batch_size))


class ClientData:
    """Batches of one client's samples. The order and augmentation of each epoch are derived
    from (seed, client_id, round, epoch), so a resumed run needs no saved RNG state and the
    stream is the same whichever process hosts the client."""

    def __init__(
        self,
        dataset: ImageSet,
        indices: np.ndarray,
        batch_size: int,
        seed: int,
        client_id: int,
        augment: bool,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(indices) == 0:
            raise ValueError(f"client {client_id} has no training samples; check the partition")
        # Copy only this client's rows so a host does not keep the whole training set per client.
        self.data = dataset.subset(torch.as_tensor(np.asarray(indices), dtype=torch.int64))
        self.batch_size = batch_size
        self.seed = seed
        self.client_id = client_id
        self.augment = augment

    @property
    def num_samples(self) -> int:
        return len(self.data)

    @property
    def batches_per_epoch(self) -> int:
        return batches_per_epoch(self.num_samples, self.batch_size)

    def epoch(self, round: int, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once (see `samples_per_epoch`), in an order drawn for (round, epoch);
        the last batch may be short."""
        ids = (self.client_id, round, epoch)
        order = torch.randperm(
            self.num_samples, generator=torch_generator(self.seed, "data_order", *ids)
        )
        augment = torch_generator(self.seed, "augment", *ids) if self.augment else None
        start = 0
        for size in batch_sizes(self.num_samples, self.batch_size):
            yield self.data.batch(order[start : start + size], augment=augment)
            start += size
