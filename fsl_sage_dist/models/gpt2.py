"""GPT-2 cut in two for split LoRA fine-tuning (the paper's LLM study; ALGORITHMS.md 6.3).

    model = build_gpt2(GPT2Spec(size="tiny", cut_blocks=1, aux_blocks=3), seq_len=128,
                       vocab_size=258)

Client: token and position embeddings and the first `cut_blocks` transformer blocks; it emits
the hidden states [B, T, d]. Server: the remaining blocks, the final LayerNorm and the LM head
(logits [B, T, vocab]). Aux head: `aux_blocks` fresh blocks, a LayerNorm and an LM head tied to
the client's token embeddings, as the reference builds it.

What trains: LoRA on q and v of every attention layer of client and server (`lora.py`), and the
whole aux head except its tied LM head, as the reference (its aux blocks are fully trainable and
randomly initialised). Everything else is frozen, and frozen tensors are kept as non-persistent
buffers: they are in no `state_dict`, so they are never averaged, sent, metered or checkpointed.
Every rank builds them itself from the seed or loads them from `pretrained`.

Attention is causal and sequences are right-padded, so no real token ever attends to padding:
the attention mask would change nothing the loss sees, and is not needed on the server.
Dropout in the frozen base is off (the reference's GPT-2 has none); LoRA dropout draws from
torch's global generator, so a run with `lora.dropout > 0` is not bitwise reproducible.

transformers is the optional `llm` extra (`pip install 'fsl-sage-dist[llm]'`): it is imported
only when a GPT-2 is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fsl_sage_dist.models.lora import LoRAQV
from fsl_sage_dist.models.objective import NEXT_TOKEN
from fsl_sage_dist.models.split import SplitModel

# (layers, width, heads, context); tiny is for CPU tests, the others are OpenAI's shapes.
# tiny's context of 256 holds an E2E pair in bytes (about 170).
SIZES = {"tiny": (4, 128, 4, 256), "small": (12, 768, 12, 1024), "medium": (24, 1024, 16, 1024)}
LM_EVAL_BATCH = 8


@dataclass(frozen=True)
class GPT2Spec:
    size: str = "tiny"
    cut_blocks: int = 1
    aux_blocks: int = 3
    pretrained: str = ""
    """A folder written by `save_pretrained` (or a hub name); its shape replaces `size`."""
    lora_r: int = 4
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0


def gpt2_config(spec: GPT2Spec, vocab_size: int):
    """The transformers config of `spec`: the pretrained one, or `size` with `vocab_size`."""
    from transformers import GPT2Config

    frozen_dropout = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    if spec.pretrained:
        config = GPT2Config.from_pretrained(spec.pretrained, **frozen_dropout)
    else:
        layers, width, heads, context = SIZES[spec.size]
        config = GPT2Config(
            vocab_size=vocab_size,
            n_positions=context,
            n_embd=width,
            n_layer=layers,
            n_head=heads,
            bos_token_id=None,
            eos_token_id=None,
            **frozen_dropout,
        )
    config._attn_implementation = "sdpa"  # its causal path needs no mask (see module doc)
    return config


def base_model(spec: GPT2Spec, vocab_size: int) -> nn.Module:
    """The unsplit transformers GPT2LMHeadModel the split is cut from (weights drawn from
    torch's global generator unless pretrained: call under `seeded_torch`)."""
    from transformers import GPT2LMHeadModel

    config = gpt2_config(spec, vocab_size)
    if config.vocab_size < vocab_size:
        raise ValueError(
            f"the tokenizer has {vocab_size} ids but the model only {config.vocab_size}"
        )
    if spec.pretrained:
        return GPT2LMHeadModel.from_pretrained(spec.pretrained, config=config)
    return GPT2LMHeadModel(config)


class GPT2Client(nn.Module):
    def __init__(self, wte: nn.Embedding, wpe: nn.Embedding, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.wte, self.wpe, self.blocks = wte, wpe, nn.ModuleList(blocks)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.wte(ids) + self.wpe(positions)
        for block in self.blocks:
            h = block(h)
        return h


class GPT2Head(nn.Module):
    """Blocks, final LayerNorm and an LM head whose weight is the token embedding matrix.

    `explicit_mask`: the blocks use eager attention and get the causal mask as an additive
    tensor. The aux head needs this: FSL-SAGE's alignment differentiates its input gradient
    again, and PyTorch's fused CPU attention has no second derivative."""

    def __init__(
        self,
        blocks: list[nn.Module],
        ln_f: nn.LayerNorm,
        embedding: torch.Tensor,
        explicit_mask: bool = False,
    ) -> None:
        super().__init__()
        self.blocks, self.ln_f = nn.ModuleList(blocks), ln_f
        self.explicit_mask = explicit_mask
        self.register_buffer("lm_head", embedding.detach(), persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        mask = causal_mask(h.shape[1], h) if self.explicit_mask else None
        for block in self.blocks:
            h = block(h, attention_mask=mask)
        return F.linear(self.ln_f(h), self.lm_head)


def causal_mask(length: int, like: torch.Tensor) -> torch.Tensor:
    """[1, 1, T, T]: 0 where a position may attend, the dtype's minimum above the diagonal."""
    blocked = torch.ones(length, length, dtype=torch.bool, device=like.device).triu(1)
    zeros = torch.zeros(length, length, dtype=like.dtype, device=like.device)
    return zeros.masked_fill(blocked, torch.finfo(like.dtype).min)[None, None]


def add_lora(blocks: list[nn.Module], spec: GPT2Spec) -> None:
    for block in blocks:
        block.attn.c_attn = LoRAQV(
            block.attn.c_attn, spec.lora_r, spec.lora_alpha, spec.lora_dropout
        )


def freeze_as_buffers(module: nn.Module, keep: tuple[str, ...] = ("lora_a", "lora_b")) -> None:
    """Turn every parameter not named in `keep` into a non-persistent buffer (see module doc)."""
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is not None and name not in keep:
                del sub._parameters[name]
                sub.register_buffer(name, param.detach(), persistent=False)


def _aux_blocks(spec: GPT2Spec, config) -> tuple[list[nn.Module], nn.LayerNorm]:
    """Fresh blocks and LayerNorm with GPT-2's own initialisation (depth-scaled projections)."""
    from transformers import GPT2Model

    aux_config = config.__class__(**{**config.to_dict(), "n_layer": spec.aux_blocks})
    aux_config._attn_implementation = "eager"  # twice differentiable (see GPT2Head)
    aux = GPT2Model(aux_config)
    return list(aux.h), aux.ln_f


def build_gpt2(spec: GPT2Spec, seq_len: int, vocab_size: int) -> SplitModel:
    """The split model for sequences of `seq_len` tokens (every batch is padded to it)."""
    base = base_model(spec, vocab_size)
    config = base.config
    if seq_len > config.n_positions:
        raise ValueError(
            f"data.seq_len={seq_len} exceeds the model's context of {config.n_positions} positions"
        )
    if not 1 <= spec.cut_blocks < config.n_layer:
        raise ValueError(
            f"model.cut_blocks={spec.cut_blocks} must leave at least one block on "
            f"each side of the cut: 1..{config.n_layer - 1} for this model"
        )
    blocks = list(base.transformer.h)
    embedding = base.transformer.wte.weight
    client = GPT2Client(base.transformer.wte, base.transformer.wpe, blocks[: spec.cut_blocks])
    server = GPT2Head(blocks[spec.cut_blocks :], base.transformer.ln_f, embedding)
    aux = GPT2Head(*_aux_blocks(spec, config), embedding, explicit_mask=True)
    for part in (client, server):
        add_lora(part.blocks, spec)
        freeze_as_buffers(part)
    return SplitModel(
        client=client,
        server=server,
        aux=aux,
        cut_shape=(seq_len, config.n_embd),
        objective=NEXT_TOKEN,
        label_shape=(seq_len,),
        eval_batch_size=LM_EVAL_BATCH,
    )
