"""fsl-sage-dist: federated split learning (FSL-SAGE and baselines) on torch.distributed."""

__version__ = "0.1.0"
