"""Greedy decoding with a split language model, for the semantic score of generated text.

No key/value cache: every step runs the rows, up to the longest so far, through the model and
reads the logits at each row's last position. That costs a whole forward pass per new token, and
keeps decoding on exactly the code path that training and evaluation use (causal attention makes
the padding after a row's end irrelevant).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def greedy_decode(
    model: nn.Module, prompts: list[list[int]], seq_len: int, eos_id: int, pad_id: int, max_new: int
) -> list[list[int]]:
    """The tokens `model` (ids [B, T] -> logits [B, T, V]) appends to each prompt, greedily,
    until EOS (not included), `max_new` tokens, or the row is full."""
    device = next(iter(model.buffers())).device
    rows = torch.full((len(prompts), seq_len), pad_id, dtype=torch.int64, device=device)
    ends = torch.tensor([len(p) for p in prompts], device=device)
    for i, prompt in enumerate(prompts):
        rows[i, : len(prompt)] = torch.tensor(prompt, device=device)
    done = ends >= seq_len
    was_training = model.training
    model.eval()
    for _ in range(max_new):
        if bool(done.all()):
            break
        last = (ends - 1).clamp_max(seq_len - 1)
        logits = model(rows[:, : int(ends.max())])[torch.arange(len(prompts), device=device), last]
        token = logits.argmax(dim=-1)
        done |= token == eos_id
        for i in torch.nonzero(~done).flatten().tolist():
            rows[i, ends[i]] = token[i]
        ends = torch.where(done, ends, ends + 1)
        done |= ends >= seq_len
    model.train(was_training)
    return [rows[i, len(p) : int(ends[i])].tolist() for i, p in enumerate(prompts)]
