"""LoRA on the query and value parts of GPT-2's fused attention projection.

GPT-2 computes q, k and v with one `Conv1D` (`c_attn`, d -> 3d). The reference (Microsoft's
`loralib.MergedLinear` with `enable_lora=[True, False, True]`) adds two independent rank-r
updates, one to the q slice and one to the v slice of that output, and none to k. peft can only
adapt a whole module, so on `c_attn` it would adapt k too, with one rank-r update shared by the
three slices: not the same model. Hence this small module.

    out = c_attn(x) + (alpha / r) * [B_q A_q drop(x), 0, B_v A_v drop(x)]

A is drawn like loralib's (Kaiming uniform), B starts at zero, so a freshly wrapped model
computes exactly what the base model computes.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRAQV(nn.Module):
    """`base` (a frozen d -> 3d Conv1D) plus rank-`r` updates of its q and v output slices."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        d_in, d_out = base.weight.shape  # Conv1D stores its weight as [in, out]
        if d_out % 3:
            raise ValueError(f"c_attn must map to 3 equal slices (q, k, v), got width {d_out}")
        self.base = base
        self.width = d_out // 3
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)
        self.lora_a = nn.Parameter(torch.empty(2, r, d_in))  # [q, v]
        self.lora_b = nn.Parameter(torch.zeros(2, self.width, r))
        for a in self.lora_a:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        h = self.dropout(x)
        q, v = (h @ a.T @ b.T * self.scaling for a, b in zip(self.lora_a, self.lora_b))
        zero = torch.zeros_like(q)
        return out + torch.cat([q, zero, v], dim=-1)
