"""Activation compression on the wire (`wire.activation_dtype`): smashed activations going up
and cut-layer gradients coming down travel as fp32, fp16, bf16 or int8.

int8 is asymmetric per row: each row r is sent as round((x - min_r) / s_r) - 128
with s_r = (max_r - min_r) / 255, plus a float32 [rows, 2] tensor of (s_r, min_r) in a second
message. The rounding error is at most s_r / 2 per element; the scales count as activation
(or gradient) bytes like the values they describe.

fp16 keeps 11 significant bits but only down to 6e-5; below that it loses precision, which
matters for cut-layer gradients (scaled by 1/batch). bf16 keeps fp32's range with 8 bits, and
int8's per-row scale adapts to any range.

A row is what one label labels: a sample of an image batch (`row_ndim` 1), a token of a
language model's [B, T, d] hidden states (`row_ndim` 2), whose tokens differ widely in range.
"""

from __future__ import annotations

import math

import torch

WIRE_DTYPES = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "int8": torch.int8,
}


def compress(x: torch.Tensor, mode: str, row_ndim: int = 1) -> list[torch.Tensor]:
    """[values] for float modes, [int8 values, float32 (scale, min) per row] for int8, a row
    being everything after the first `row_ndim` dimensions."""
    if mode != "int8":
        return [x.detach().to(WIRE_DTYPES[mode])]
    rows = x.detach().reshape(math.prod(x.shape[:row_ndim]), -1).float()
    lo, hi = rows.amin(dim=1), rows.amax(dim=1)
    scale = ((hi - lo) / 255).clamp_min(torch.finfo(torch.float32).tiny)
    q = torch.round((rows - lo[:, None]) / scale[:, None]) - 128
    return [q.to(torch.int8).reshape(x.shape), torch.stack([scale, lo], dim=1)]


def decompress(parts: list[torch.Tensor], mode: str) -> torch.Tensor:
    """Back to float32, the inverse of `compress` up to its rounding."""
    if mode != "int8":
        return parts[0].float()
    q, scale_min = parts
    rows = (q.reshape(len(scale_min), -1).float() + 128) * scale_min[:, :1] + scale_min[:, 1:]
    return rows.reshape(q.shape)
