"""The five algorithms by config name, each as its client half and its server half (keyed as
`plan.SPECS`, which holds their schedules)."""

from fsl_sage_dist.algorithms.base import (
    ClientSide,
    Context,
    RoundNotes,
    ServerSide,
    Step,
    StepLoss,
    VirtualClient,
)
from fsl_sage_dist.algorithms.cse_fsl import CSEFSLClient, CSEFSLServer
from fsl_sage_dist.algorithms.fedavg import FedAvgClient, FedAvgServer
from fsl_sage_dist.algorithms.fsl_sage import FSLSAGEClient, FSLSAGEServer
from fsl_sage_dist.algorithms.splitfed import SplitFedClient, SplitFedV1Server, SplitFedV2Server

REGISTRY: dict[str, tuple[type[ClientSide], type[ServerSide]]] = {
    "fedavg": (FedAvgClient, FedAvgServer),
    "splitfed_v1": (SplitFedClient, SplitFedV1Server),
    "splitfed_v2": (SplitFedClient, SplitFedV2Server),
    "cse_fsl": (CSEFSLClient, CSEFSLServer),
    "fsl_sage": (FSLSAGEClient, FSLSAGEServer),
}

__all__ = [
    "REGISTRY",
    "ClientSide",
    "Context",
    "RoundNotes",
    "ServerSide",
    "Step",
    "StepLoss",
    "VirtualClient",
]
