"""The five algorithms, by config name."""

from fsl_sage_dist.algorithms.base import Algorithm, Context, StepLoss, VirtualClient
from fsl_sage_dist.algorithms.cse_fsl import CSEFSL
from fsl_sage_dist.algorithms.fedavg import FedAvg
from fsl_sage_dist.algorithms.fsl_sage import FSLSAGE
from fsl_sage_dist.algorithms.splitfed import SplitFedV1, SplitFedV2

REGISTRY: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (FedAvg, SplitFedV1, SplitFedV2, CSEFSL, FSLSAGE)
}

__all__ = ["REGISTRY", "Algorithm", "Context", "StepLoss", "VirtualClient"]
