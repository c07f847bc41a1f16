"""The SplitModel type: a client half, a server half and an auxiliary head, plus the build-time
shape probe that every model builder finishes with."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fsl_sage_dist.models.objective import CLASSIFICATION, Objective

# Two samples, not one: BatchNorm refuses a single value per channel, and the probe must work
# for cuts with 1x1 spatial size.
_PROBE_BATCH = 2


@dataclass
class SplitModel:
    """A network cut in two, with the auxiliary head that stands in for the server on clients.

    `client`, `server` and `aux` each take a batch; what the heads emit and how it is scored
    is the `objective`'s business (log-probabilities [B, num_classes] for classifiers).
    `cut_shape` is the per-sample shape of the smashed activations that `client` emits and both
    `server` and `aux` accept, e.g. (3136,), (128, 4, 4) or, for a language model, (T, d).
    `label_shape` is the per-sample shape of the labels that travel with them: () for a class
    id, (T,) for next-token targets.
    """

    client: nn.Module
    server: nn.Module
    aux: nn.Module
    cut_shape: tuple[int, ...]
    objective: Objective = CLASSIFICATION
    label_shape: tuple[int, ...] = ()
    eval_batch_size: int = 256
    """Test samples per evaluation batch (a language model's logits are [B, T, vocab])."""

    def full(self) -> nn.Module:
        """The unsplit network `server(client(x))`, as used by FedAvg.

        The returned Sequential shares `client` and `server` (no copy): training or loading
        weights into it changes this SplitModel too. Deep-copy it for an independent model.
        """
        return nn.Sequential(self.client, self.server)

    def client_side(self, whole_model: bool) -> nn.Module:
        """What a client trains and averages: the client part, or the whole model where its
        algorithm says so (`AlgorithmSpec.full_model_on_client`: FedAvg). Shared, as `full`."""
        return self.full() if whole_model else self.client

    @classmethod
    def from_parts(
        cls,
        client: nn.Module,
        server: nn.Module,
        aux: nn.Module,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> SplitModel:
        """Probe the cut shape and check that server and aux accept it and emit [B, classes]."""
        cut_shape = probe_cut_shape(client, input_shape)
        for role, head in (("server", server), ("aux", aux)):
            out_shape = _probe_output_shape(head, (_PROBE_BATCH, *cut_shape), role)
            if out_shape != (_PROBE_BATCH, num_classes):
                raise ValueError(
                    f"{role} head maps a cut of shape {cut_shape} to per-batch shape "
                    f"{out_shape}, expected ({_PROBE_BATCH}, {num_classes})"
                )
        return cls(client=client, server=server, aux=aux, cut_shape=cut_shape)


def probe_cut_shape(client: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """Per-sample output shape of `client` on inputs of `input_shape` (C, H, W)."""
    return _probe_output_shape(client, (_PROBE_BATCH, *input_shape), "client")[1:]


def require_min_size(input_shape: tuple[int, int, int], min_hw: int, model: str) -> None:
    """Reject inputs smaller than the client's downsampling factor, where every cut pixel would
    be computed from padding rather than from the image."""
    _, height, width = input_shape
    if height < min_hw or width < min_hw:
        raise ValueError(
            f"{model} needs input height and width >= {min_hw} (its client downsamples by "
            f"{min_hw}), got input_shape {input_shape}"
        )


def _probe_output_shape(
    module: nn.Module, batch_shape: tuple[int, ...], role: str
) -> tuple[int, ...]:
    # Eval mode so the probe does not move BatchNorm running statistics (they are model state
    # that gets metered and averaged); zeros so it draws nothing from the RNG.
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(batch_shape))
    except RuntimeError as err:
        raise ValueError(f"{role} rejects a batch of shape {batch_shape}: {err}") from err
    finally:
        module.train()
    return tuple(out.shape)
