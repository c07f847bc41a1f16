"""Split models: a client half, a server half and an auxiliary head per architecture.

Plain arguments only: this package knows nothing of ranks, torch.distributed or the config.

    from fsl_sage_dist.models import build_split_model, state_nbytes
    model = build_split_model("resnet18", (3, 32, 32), 10, cut="layer2", seed=200)
    state_nbytes(model.client)  # 2,740,048 B
"""

from fsl_sage_dist.models.clone import clone
from fsl_sage_dist.models.gpt2 import GPT2Spec
from fsl_sage_dist.models.registry import LANGUAGE_MODELS, MODEL_NAMES, build_split_model
from fsl_sage_dist.models.resnet import CUTS, STEMS
from fsl_sage_dist.models.sizes import state_nbytes
from fsl_sage_dist.models.split import SplitModel

__all__ = [
    "CUTS",
    "GPT2Spec",
    "LANGUAGE_MODELS",
    "MODEL_NAMES",
    "STEMS",
    "SplitModel",
    "build_split_model",
    "clone",
    "state_nbytes",
]
