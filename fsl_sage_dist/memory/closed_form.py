"""The shape-determined parts of each side's memory, from the model and the algorithm's spec
alone: what the meter must find (a test), what `fsl-sage run --dry-run` prints, and what the
memory benchmark reports where a model is too large to run here.

Once a model has stepped, Adam holds two moments per trainable element and one float32 step
count per trainable tensor, and every trainable tensor has a gradient of its own size. Frozen
tensors (a language model's base, shared by every copy a rank builds, as a real server would
share it) count once per side.

    client = client_parts(spec, template)            # params, frozen, grads, optimizer, aux
    server = server_parts(spec, template, participants=10)
    per_sample = activation_bytes_per_sample(template.client, x[:1])   # x: a batch
"""

from __future__ import annotations

import torch
from torch import nn

from fsl_sage_dist.memory.holdings import Holdings
from fsl_sage_dist.memory.saved import SavedTensors
from fsl_sage_dist.models import SplitModel, clone, state_nbytes
from fsl_sage_dist.plan import AlgorithmSpec

SHAPE_PARTS = ("params", "frozen", "grads", "optimizer", "aux")
"""The parts the model's shapes and the spec determine (activations and inputs grow with the
batch, and the server's stores with what was uploaded)."""
ADAM_STEP_BYTES = 4
"""Adam keeps each parameter's step count as a float32 scalar tensor (torch's default)."""


def trainable_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)


def adam_bytes(module: nn.Module) -> int:
    trainable = [p for p in module.parameters() if p.requires_grad]
    return 2 * trainable_bytes(module) + ADAM_STEP_BYTES * len(trainable)


def _trained(held: Holdings, module: nn.Module, part: str | None = None) -> None:
    """A model that has stepped once: its tensors, gradients and Adam state."""
    held.module(module, part)
    held.parts[part or "grads"] += trainable_bytes(module)
    held.parts[part or "optimizer"] += adam_bytes(module)


def client_parts(spec: AlgorithmSpec, template: SplitModel) -> dict[str, int]:
    """A client's shape-determined parts once it has stepped (activations and inputs aside)."""
    held = Holdings()
    _trained(held, template.client_side(spec.full_model_on_client))
    if spec.aux_trained_by == "client":
        _trained(held, template.aux, "aux")
    elif spec.aux_trained_by == "server":
        held.module(template.aux, "aux")  # the fitted head's weights, used but never stepped
    return _shape_parts(held)


def server_parts(spec: AlgorithmSpec, template: SplitModel, participants: int) -> dict[str, int]:
    """The server's shape-determined parts with `participants` clients in its round, once
    every model it keeps has stepped: the global client model it averages into, its server
    part(s) and, for FSL-SAGE, each participant's aux head (stores and activations aside)."""
    held = Holdings().module(template.client_side(spec.full_model_on_client))
    if spec.server_models == "shared":
        _trained(held, template.server)
    elif spec.server_models == "per_client":
        held.module(template.server)  # the averaged copy, never stepped itself
        # one stepped copy per participant, its frozen tensors shared with the averaged one
        held.parts["params"] += participants * state_nbytes(template.server)
        held.parts["grads"] += participants * trainable_bytes(template.server)
        held.parts["optimizer"] += participants * adam_bytes(template.server)
    if spec.aux_trained_by == "server":
        held.module(template.aux, "aux")  # one head, and the frozen tensors all heads share
        aux = template.aux
        held.parts["aux"] += (participants - 1) * state_nbytes(aux)
        held.parts["aux"] += participants * (trainable_bytes(aux) + adam_bytes(aux))
    return _shape_parts(held)


def _shape_parts(held: Holdings) -> dict[str, int]:
    return {p: held.parts[p] for p in SHAPE_PARTS}


def activation_bytes_per_sample(module: nn.Module, example: torch.Tensor) -> int:
    """Bytes autograd saves per sample in `module`'s forward pass (train mode), from two
    batches: (saved at 4 samples - saved at 2) / 2, so what does not grow with the batch (a
    BatchNorm's statistics) drops out. `example` is a batch holding one sample. The pass runs on
    a copy, so the module's BatchNorm statistics stay as they were."""
    probe = clone(module).train()
    counts = []
    for n in (2, 4):
        x = example.expand(n, *example.shape[1:]).clone()
        counter = SavedTensors()
        held = Holdings().module(probe).add("inputs", [x]).storages
        with counter.watch("probe", held) as saved:
            out = probe(x)
        counts.append(saved["peak"])
        del out
    return (counts[1] - counts[0]) // 2
