"""Closed-form payload bytes of one client's round, per algorithm (docs/bytes.md).

What the meter should record, computed from the schedule alone: batch sizes, the upload
interval, model state sizes and the wire's activation format. `fsl-sage run --dry-run` prints it
before anything starts, and a test holds the meter of a real run to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fsl_sage_dist.models import SplitModel, state_nbytes

LAZY_UPLOADS = ("cse_fsl", "fsl_sage")  # upload every q-th batch; the others upload every batch
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
    algorithm: str,
    batches: list[int],
    sizes: ModelBytes,
    q: int,
    activation_dtype: str,
    aligned: bool,
) -> dict[str, dict[str, int]]:
    """{category: {up, down}} payload bytes of one participating client in one round.

    `batches` are the client's batch sizes over the round's local iterations (all epochs);
    `aligned` says whether FSL-SAGE sends this client a fitted aux head in the round."""
    bytes_ = {
        c: {"up": 0, "down": 0} for c in ("activations", "cut_grads", "client_model", "aux_model")
    }
    model = sizes.client + (sizes.server if algorithm == "fedavg" else 0)
    bytes_["client_model"] = {"up": model, "down": model}
    if algorithm != "fedavg":
        interval = q if algorithm in LAZY_UPLOADS else 1
        rows = sum(b for it, b in enumerate(batches) if it % interval == 0)
        bytes_["activations"]["up"] = activation_bytes(
            rows, sizes.cut_elements, activation_dtype, sizes.scale_rows
        )
    if algorithm.startswith("splitfed"):
        bytes_["cut_grads"]["down"] = bytes_["activations"]["up"]
    if algorithm == "cse_fsl":
        bytes_["aux_model"] = {"up": sizes.aux, "down": sizes.aux}
    if algorithm == "fsl_sage" and aligned:
        bytes_["aux_model"]["down"] = sizes.aux
    return bytes_


def total(bytes_: dict[str, dict[str, int]]) -> int:
    return sum(sum(d.values()) for d in bytes_.values())
