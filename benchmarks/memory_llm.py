"""GPT-2 with LoRA at the paper's scale, for benchmarks/memory.py: a model too large to train
here, so each side's peak is the closed form (`memory/closed_form.py`) of what it holds, plus
inputs from the config's shapes and activations measured on the CPU.

The activations are what autograd saves in one side's step (as `memory/saved.py` counts them,
each storage once, the model and the step's inputs left out), measured at batches of one and two
samples: their difference is the bytes per sample, times the phase's rows. On PyTorch's meta
device attention saves other tensors than on a CPU (a few percent more), so the probe builds
the real model on the CPU with seeded random weights; values do not change what is saved.
The phases are restated from `algorithms/` (a client's forward and update; the server's step,
FSL-SAGE's per-sample cut gradients over a full store and its aux-head fit); a side's peak is
the largest phase total.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from fsl_sage_dist.algorithms.alignment import fit_aux, per_sample_cut_grads
from fsl_sage_dist.algorithms.lazy_server import aux_loss_and_grad
from fsl_sage_dist.config import Config
from fsl_sage_dist.memory import PARTS, Holdings
from fsl_sage_dist.memory.closed_form import client_parts, server_parts
from fsl_sage_dist.memory.saved import SavedTensors
from fsl_sage_dist.models import GPT2Spec, SplitModel, build_split_model
from fsl_sage_dist.plan import SPECS

GPT2_VOCAB = 50257  # GPT-2's BPE, as E2E is tokenised with it
I64, F32 = 8, 4


def saved_per_sample(
    step: Callable[..., Any], inputs: Callable[[int], tuple[torch.Tensor, ...]], *modules
) -> int:
    """Bytes autograd saves per sample in `step(*inputs(n))`: (at 2) - (at 1)."""
    peaks = []
    for n in (1, 2):
        batch = inputs(n)
        held = Holdings().add("inputs", batch)
        for module in modules:
            held.module(module)
        counter = SavedTensors()
        with counter.watch("probe", held.storages) as saved:
            out = step(*batch)
        peaks.append(saved["peak"])
        del out
    return peaks[1] - peaks[0]


def build(cfg: Config, size: str) -> SplitModel:
    spec = GPT2Spec(
        size, cfg.model.cut_blocks, cfg.model.aux_blocks, "", cfg.lora.r, cfg.lora.alpha
    )
    return build_split_model("gpt2", (cfg.data.seq_len,), GPT2_VOCAB, gpt2=spec, seed=cfg.seed)


def probes(model: SplitModel, seq_len: int) -> dict[str, int]:
    """Saved bytes per sample of each step the phases below are made of."""
    mean = model.objective.mean
    d = model.client(torch.zeros(1, seq_len, dtype=torch.long)).shape[-1]

    def ids(n: int) -> tuple[torch.Tensor, ...]:
        x = torch.randint(0, GPT2_VOCAB, (n, seq_len))
        return x, x.clone()

    def rows(n: int, grad: bool = False) -> tuple[torch.Tensor, ...]:
        z = torch.randn(n, seq_len, d).requires_grad_(grad)
        return z, torch.randint(0, GPT2_VOCAB, (n, seq_len)), torch.randn(n, seq_len, d)

    def sage(x, y):
        z = model.client(x)
        return z, aux_loss_and_grad(model.aux, z, y, objective=model.objective)

    aux_opt = torch.optim.Adam([p for p in model.aux.parameters() if p.requires_grad])
    gen = torch.Generator().manual_seed(0)
    return {
        "full": saved_per_sample(lambda x, y: mean(model.full()(x), y), ids, model.full()),
        "client": saved_per_sample(lambda x, y: model.client(x), ids, model.client),
        "client_aux": saved_per_sample(
            lambda x, y: mean(model.aux(model.client(x)), y), ids, model.client, model.aux
        ),
        "client_aux_grad": saved_per_sample(sage, ids, model.client, model.aux),
        "server_step": saved_per_sample(
            lambda z, y, _: mean(model.server(z), y), lambda n: rows(n, True), model.server
        ),
        "cut_grads": saved_per_sample(
            lambda z, y, _: per_sample_cut_grads(model.server, z, y, objective=model.objective),
            rows,
            model.server,
        ),
        "aux_fit": saved_per_sample(
            lambda z, y, t: fit_aux(
                model.aux, aux_opt, z, y, t, 1, len(y), gen, objective=model.objective
            ),
            rows,
            model.aux,
        ),
        "width": d,
    }


CLIENT_STEP = {
    "fedavg": "full",
    "splitfed_v1": "client",
    "splitfed_v2": "client",
    "cse_fsl": "client_aux",
    "fsl_sage": "client_aux_grad",
}


def sides(cfg: Config, model: SplitModel, per: dict[str, int], participants: int) -> dict:
    """Each algorithm's client and server peak parts, from the closed form and the probes."""
    batch, seq, d = cfg.train.batch_size, cfg.data.seq_len, per["width"]
    ids_bytes = batch * seq * I64
    row_bytes = seq * d * F32  # one smashed row (hidden states of one sequence)
    store = cfg.fsl.store_size
    out = {}
    for name, spec in SPECS.items():
        client = client_parts(spec, model) | {
            "activations": batch * per[CLIENT_STEP[name]],
            "inputs": 2 * ids_bytes,  # token ids and next-token targets
        }
        shape = server_parts(spec, model, participants)
        phases = [shape | {"activations": 0, "inputs": 0}]  # the round end: averaging alone
        if spec.uploads != "never":
            upload = batch * row_bytes + ids_bytes
            stores = participants * store * (row_bytes + seq * I64) if spec.aligns else 0
            phases.append(
                shape | {"activations": batch * per["server_step"], "inputs": upload + stores}
            )
            if spec.aligns:  # the last participant's alignment: every store full
                fit_rows = min(store, cfg.fsl.align_batch_size)
                phases.append(
                    shape | {"activations": store * per["cut_grads"], "inputs": upload + stores}
                )
                phases.append(
                    shape
                    | {
                        "activations": fit_rows * per["aux_fit"],
                        "inputs": upload + stores + store * row_bytes,  # + the fit's targets
                    }
                )
        server = max(phases, key=lambda p: sum(p.values()))
        out[name] = {
            "client_parts": {p: client[p] for p in PARTS},
            "server_parts": {p: server[p] for p in PARTS},
        }
    return out


def gpt2_memory(cfg: Config, size: str, participants: int) -> dict[str, Any]:
    torch.manual_seed(0)  # LoRA dropout and the probes' random rows; values change nothing
    model = build(cfg, size)
    model.full().train()
    per = probes(model, cfg.data.seq_len)
    return {
        "saved_bytes_per_sample": per,
        "algorithms": sides(cfg, model, per, participants),
    }
