"""Datasets, client partitions and per-client batch streams; knows nothing of ranks.

from fsl_sage_dist.data import load_dataset, limit_indices, partition_indices, ClientData
train = load_dataset("fashion_mnist", "train")
pool = limit_indices(len(train), limit=10000, seed=0)
parts = partition_indices(train.labels[pool].numpy(), 10, "dirichlet", seed=0, alpha=0.5)
client = ClientData(train, pool[parts[3]], batch_size=64, seed=0, client_id=3, augment=False)
for x, y in client.epoch(round=0, epoch=0): ...
"""

from fsl_sage_dist.data.catalog import (
    DATASET_NAMES,
    TEXT_DATASETS,
    check_dataset_available,
    dataset_shape,
    load_dataset,
    train_size,
)
from fsl_sage_dist.data.client_data import ClientData, batch_sizes
from fsl_sage_dist.data.image_set import ImageSet
from fsl_sage_dist.data.partition import (
    PARTITION_NAMES,
    check_partition_sizes,
    limit_indices,
    partition_indices,
)
from fsl_sage_dist.data.sources import DatasetNotFoundError
from fsl_sage_dist.data.summary import partition_summary
from fsl_sage_dist.data.token_set import TokenSet

__all__ = [
    "DATASET_NAMES",
    "PARTITION_NAMES",
    "TEXT_DATASETS",
    "ClientData",
    "DatasetNotFoundError",
    "ImageSet",
    "TokenSet",
    "batch_sizes",
    "check_dataset_available",
    "check_partition_sizes",
    "dataset_shape",
    "limit_indices",
    "load_dataset",
    "partition_indices",
    "partition_summary",
    "train_size",
]
