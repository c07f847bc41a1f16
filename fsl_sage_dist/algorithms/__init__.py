"""The five algorithms, by config name."""

from .base import Algorithm, Context, StepLoss, VirtualClient
from .cse_fsl import CSEFSL
from .fedavg import FedAvg
from .fsl_sage import FSLSAGE
from .splitfed import SplitFedV1, SplitFedV2

REGISTRY: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (FedAvg, SplitFedV1, SplitFedV2, CSEFSL, FSLSAGE)
}

__all__ = ["REGISTRY", "Algorithm", "Context", "StepLoss", "VirtualClient"]
