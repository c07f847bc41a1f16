"""Closed-form payload bytes of one client's round, per algorithm (docs/bytes.md).

What the meter should record, computed from the schedule alone: batch sizes, the algorithm's
spec (`plan/spec.py`: when it uploads, whether it waits for cut gradients, what it averages,
whether it aligns), model state sizes and the wire's activation format. `fsl-sage run
--dry-run` prints it before anything starts, and a test holds the meter of a real run to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fsl_sage_dist.models import SplitModel, state_nbytes
from fsl_sage_dist.plan.spec import AlgorithmSpec, FSLSettings

CATEGORIES = ("activations", "cut_grads", "client_model", "aux_model")
"""The payload categories (`wire/meter.py` PAYLOAD_CATEGORIES: labels and control excluded)."""
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
INT8_ROW_BYTES = 8  # int8 sends a float32 (scale, min) pair per row (wire/compression.py)


@dataclass(frozen=True)
class ModelBytes:
    client: int
    server: int
    aux: int
    cut_elements: int
    """Elements of one sample's smashed activations."""
    scale_rows: int = 1
    """int8 rows per sample: 1, or a language model's T tokens (one label each)."""

    @classmethod
    def of(cls, model: SplitModel) -> ModelBytes:
        return cls(
            state_nbytes(model.client),
            state_nbytes(model.server),
            state_nbytes(model.aux),
            math.prod(model.cut_shape),
            math.prod(model.label_shape),
        )


def activation_bytes(
    rows: int, cut_elements: int, activation_dtype: str, scale_rows: int = 1
) -> int:
    """Bytes of `rows` samples of smashed activations (or of their cut gradients) on the wire;
    int8 adds a (scale, min) pair per row of each sample (`scale_rows` of them)."""
    per_row = cut_elements * BYTES_PER_ELEMENT[activation_dtype]
    scales = INT8_ROW_BYTES * scale_rows if activation_dtype == "int8" else 0
    return rows * (per_row + scales)


def client_round_payload(
    spec: AlgorithmSpec,
    fsl: FSLSettings,
    batches: list[int],
    sizes: ModelBytes,
    activation_dtype: str,
    aligned: bool,
) -> dict[str, dict[str, int]]:
    """{category: {up, down}} payload bytes of one participating client in one round.

    `batches` are the client's batch sizes over the round's local iterations (all epochs);
    `aligned` says whether an aligning algorithm sends this client a fitted aux head in the
    round."""
    bytes_ = {c: {"up": 0, "down": 0} for c in CATEGORIES}
    state = {
        "client_model": sizes.client + (sizes.server if spec.full_model_on_client else 0),
        "aux_model": sizes.aux,
    }
    for category in spec.averaged:
        bytes_[category] = {"up": state[category], "down": state[category]}
    rows = sum(b for it, b in enumerate(batches) if spec.uploads_at(fsl, it))
    bytes_["activations"]["up"] = activation_bytes(
        rows, sizes.cut_elements, activation_dtype, sizes.scale_rows
    )
    if spec.waits_for_cut_grad:
        bytes_["cut_grads"]["down"] = bytes_["activations"]["up"]
    if spec.aligns and aligned:
        bytes_["aux_model"]["down"] = sizes.aux
    return bytes_


def total(bytes_: dict[str, dict[str, int]]) -> int:
    return sum(sum(d.values()) for d in bytes_.values())
