"""Every choice the config accepts has an implementation, and every implementation a choice: a
name added to one list and not the other would pass validation and fail inside a spawned rank,
or be unreachable."""

from __future__ import annotations

import pytest

from fsl_sage_dist.algorithms import REGISTRY
from fsl_sage_dist.config import choices
from fsl_sage_dist.data.catalog import DATASET_NAMES
from fsl_sage_dist.data.partition import PARTITION_NAMES
from fsl_sage_dist.models import CUTS, MODEL_NAMES, STEMS
from fsl_sage_dist.models.defaults import DEFAULT_BATCH_SIZE
from fsl_sage_dist.wire.compression import WIRE_DTYPES

REGISTRIES = {
    "algorithm": tuple(REGISTRY),
    "data.name": DATASET_NAMES,
    "data.partition": PARTITION_NAMES,
    "model.name": MODEL_NAMES,
    "model.cut": CUTS,
    "model.stem": STEMS,
    "wire.activation_dtype": tuple(WIRE_DTYPES),
}


@pytest.mark.parametrize("key", REGISTRIES)
def test_the_config_offers_exactly_what_is_registered(key):
    assert choices(key) == REGISTRIES[key]


def test_every_model_declares_its_default_batch_size():
    """A model without one would fail the config load that leaves train.batch_size at 0."""
    assert tuple(DEFAULT_BATCH_SIZE) == MODEL_NAMES
