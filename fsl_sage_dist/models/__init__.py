"""Split models: a client half, a server half and an auxiliary head per architecture.

Plain arguments only: this package knows nothing of ranks, torch.distributed or the config.

    from fsl_sage_dist.models import build_split_model, state_nbytes
    model = build_split_model("resnet18", (3, 32, 32), 10, cut="layer2", seed=200)
    state_nbytes(model.client)  # 2,740,048 B

The names below are imported on first use, so the torch-free `models.defaults` can be read
(by the config loader) without loading torch. `clone` is imported at once: it shares its name
with its module, which a later import of that module would otherwise put in its place.
"""

from fsl_sage_dist.first_use import names_on_first_use
from fsl_sage_dist.models.clone import clone

_HOMES = {
    "CUTS": "resnet",
    "GPT2Spec": "gpt2",
    "LANGUAGE_MODELS": "registry",
    "MODEL_NAMES": "registry",
    "STEMS": "resnet",
    "SplitModel": "split",
    "build_split_model": "registry",
    "state_nbytes": "sizes",
}

__all__ = ["clone", *_HOMES]


__getattr__ = names_on_first_use(__name__, _HOMES)
