"""The config's language-model settings as the plain GPT2Spec that `models` takes (models know
nothing of the config)."""

from __future__ import annotations

from fsl_sage_dist.config import Config
from fsl_sage_dist.models import GPT2Spec


def gpt2_spec(cfg: Config) -> GPT2Spec:
    m, lora = cfg.model, cfg.lora
    return GPT2Spec(
        m.gpt2_config, m.cut_blocks, m.aux_blocks, m.pretrained, lora.r, lora.alpha, lora.dropout
    )
