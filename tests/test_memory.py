"""The memory meter (`fsl_sage_dist/memory/`): saved activations against hand counts, held parts
against the closed form for every algorithm on the image models, `params` against the bytes a
client's `client_model` upload carries, linear growth with the batch, and where it shows."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
import torch
from torch import nn

from fsl_sage_dist.algorithms import fsl_sage
from fsl_sage_dist.algorithms.alignment import fit_aux
from fsl_sage_dist.memory import PARTS, SERVER, Holdings, MemoryMeter
from fsl_sage_dist.memory import meter as meter_module
from fsl_sage_dist.memory.closed_form import (
    activation_bytes_per_sample,
    client_parts,
    server_parts,
)
from fsl_sage_dist.memory.saved import SavedTensors
from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.plan import SPECS
from fsl_sage_dist.rundir.records import unmeasured
from fsl_sage_dist.runtime.build import build_template, load_split
from fsl_sage_dist.runtime.in_process import run_in_process

from harness import ALGORITHMS, small_config

F32 = 4
LENGTH_SLOT = 8
"""Bytes a received message's buffer holds beyond it (`wire/channel.py`)."""


def forward_phase(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    meter = MemoryMeter()
    with meter.phase("client", lambda: Holdings().module(model), (x,)):
        out = model(x)
    del out
    return meter.take_round()["client"]


def test_linear_relu_linear_saves_the_hidden_layer_once():
    """Linear saves its input and weight, ReLU its output, the next Linear that same output:
    with the batch (an input) and the weights (params) counted apart, one hidden layer is left."""
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    for batch in (4, 9):
        parts = forward_phase(model, torch.randn(batch, 10))
        assert parts["activations"] == batch * 20 * F32
        assert parts["inputs"] == batch * 10 * F32
        assert parts["params"] == (10 * 20 + 20 + 20 * 3 + 3) * F32


def test_conv_batchnorm_block_by_hand():
    """BatchNorm (train mode) saves its input, its batch mean and inverse std (one float per
    channel each); ReLU its output, which Flatten views and the Linear saves again."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 5)
    )
    batch = 6
    parts = forward_phase(model, torch.randn(batch, 3, 8, 8))
    assert parts["activations"] == 2 * batch * 4 * 8 * 8 * F32 + 2 * 4 * F32


def test_saved_tensors_live_until_backward_frees_them():
    counter = SavedTensors()
    w = torch.randn(5, 5, requires_grad=True)
    x = torch.randn(3, 5)
    with counter.watch("a", set()) as first:
        h = (x @ w).relu()
        assert counter.live("a") > 0
    with counter.watch("b", set()) as second:  # another owner's graph alive at once
        (x @ w).sum().backward()
    assert first["peak"] > 0 and second["peak"] > 0
    assert counter.live("a") == first["peak"]  # still held: h's graph is alive
    h.sum().backward()
    assert counter.live("a") == 0 and counter.live("b") == 0


def test_the_double_backward_of_an_alignment_fit_is_counted():
    """fit_aux differentiates the aux head's input gradient (create_graph): that backward saves
    tensors of its own, kept until the fit's loss.backward frees them."""
    torch.manual_seed(0)
    aux = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3), nn.LogSoftmax(1)
    )
    opt = torch.optim.Adam(aux.parameters())
    z, y = torch.randn(8, 12), torch.randint(0, 3, (8,))
    meter = MemoryMeter()
    with meter.phase(SERVER, lambda: Holdings().module(aux), (z,)):
        aux(z.requires_grad_())  # the forward alone, dropped
    forward_only = meter.take_round()[SERVER]["activations"]
    with meter.phase(SERVER, lambda: Holdings().module(aux).optimizer(opt), (z,)):
        fit_aux(aux, opt, z.detach(), y, torch.randn(8, 12), 1, 8, torch.Generator().manual_seed(0))
    fit = meter.take_round()[SERVER]
    print(f"saved bytes: forward {forward_only}, fit with its double backward {fit['activations']}")
    assert fit["activations"] > forward_only > 0
    assert meter.saved.live(SERVER) == 0


@pytest.mark.parametrize("model", ["simple_conv", "resnet18", "gpt2"])
def test_activations_grow_linearly_with_the_batch_and_params_do_not(model):
    shape = {"simple_conv": (1, 28, 28), "resnet18": (3, 32, 32), "gpt2": (64,)}[model]
    template = build_split_model(model, shape, 258 if model == "gpt2" else 10, seed=0)
    example = torch.randint(0, 258, (1, *shape)) if model == "gpt2" else torch.randn(1, *shape)
    client = template.client
    saved = []
    for batch in (1, 2, 4):
        x = example.expand(batch, *example.shape[1:]).clone()
        saved.append(forward_phase(client, x))
    acts = [p["activations"] for p in saved]
    assert acts[2] - acts[1] == 2 * (acts[1] - acts[0]) > 0  # a + b * batch
    assert saved[0]["params"] == saved[2]["params"]
    assert activation_bytes_per_sample(client, example) == acts[1] - acts[0]


def _watch_server_parts(monkeypatch) -> dict[str, int]:
    """Each part's largest value over the server's phases (a part's own maximum)."""
    seen: dict[str, int] = {}
    offer = meter_module.MemoryMeter.offer

    def watched(self, key, parts):
        if key == SERVER:
            for part, value in parts.items():
                seen[part] = max(seen.get(part, 0), value)
        offer(self, key, parts)

    monkeypatch.setattr(meter_module.MemoryMeter, "offer", watched)
    return seen


MODELS = {
    "simple_conv": [],
    "resnet18": ["model.name=resnet18", "data.synthetic_shape=[3,32,32]"],
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_held_parts_equal_the_closed_form(tmp_path, monkeypatch, algorithm, model):
    """A round's client peak holds exactly the closed form's params, frozen, grads, optimizer
    and aux; the server reaches its closed form over the round; `params` is what the client's
    `client_model` upload carries."""
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        "rounds=1",
        "data.synthetic_size=[128,32]",
        "runtime.averaging=exact",
        *MODELS[model],
    )
    server_seen = _watch_server_parts(monkeypatch)
    (record,) = run_in_process(cfg)
    template = build_template(cfg, load_split(cfg, "train"))
    spec = SPECS[algorithm]
    memory = record["memory"]
    expected = client_parts(spec, template)
    assert {p: memory["client_parts"][p] for p in expected} == expected
    per_client_upload = record["bytes"]["client_model"]["up"] / len(record["participants"])
    assert memory["client_parts"]["params"] == per_client_upload
    expected = server_parts(spec, template, len(record["participants"]))
    assert {p: server_seen[p] for p in expected} == expected
    if spec.aux_trained_by == "server":
        # Every participant's store, its one batch of 32 rows (int64 labels beside them, each
        # tensor still in its receive buffer with the channel's 8-byte length slot), and the
        # targets of one alignment fit.
        cut = math.prod(template.cut_shape) * F32
        store = 32 * (cut + 8) + 2 * LENGTH_SLOT
        assert server_seen["inputs"] == len(record["participants"]) * store + 32 * cut
    assert memory["client_peak_bytes"] == sum(memory["client_parts"].values())
    assert memory["server_peak_bytes"] == sum(memory["server_parts"].values())
    assert memory["client_parts"]["activations"] > 0 and memory["client_parts"]["inputs"] > 0
    assert len(memory["rank_peak_bytes"]) == cfg.world_size
    assert all(b > 0 for b in memory["rank_peak_bytes"])


def test_memory_reaches_the_summary(tmp_path):
    """summary.json: the run's largest peaks (TensorBoard's memory/ tags: test_tensorboard)."""
    cfg = small_config(tmp_path, "algorithm=fsl_sage", "rounds=2")
    records = run_in_process(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())["memory"]
    for side in ("client", "server"):
        peaks = [r["memory"][f"{side}_peak_bytes"] for r in records]
        assert summary[f"{side}_peak_bytes"] == max(peaks) > 0
    ranks = [r["memory"]["rank_peak_bytes"] for r in records]
    assert summary["rank_peak_bytes"] == [max(c) for c in zip(*ranks)]
    assert set(records[0]["memory"]["client_parts"]) == set(PARTS)


@pytest.mark.parametrize("algorithm", ["splitfed_v1", "fsl_sage"])
def test_accounting_is_independent_of_the_host_layout(tmp_path, algorithm):
    """Four clients on one host (their graphs alive side by side in lockstep) or on four: each
    client's account is its own, so the records' memory (measured peaks aside) is the same."""
    memory = []
    for hosts in (1, 4):
        cfg = small_config(
            tmp_path / str(hosts),
            f"algorithm={algorithm}",
            f"launch.client_hosts={hosts}",
            "data.synthetic_size=[128,32]",
            "train.batch_size=16",  # two iterations each, in lockstep on one host
            "fsl.server_interval=1",
        )
        memory.append([unmeasured(r)["memory"] for r in run_in_process(cfg)])
    assert memory[0] == memory[1]


class _DoneAtOnce:
    """An executor that runs each fit as it is submitted: a background fit at its fastest."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def submit(self, fn, *args, **kwargs):
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_background_fits_are_accounted_whatever_their_timing(tmp_path, monkeypatch):
    """`fsl.async_align`: a fit that is done before the server's next step, or one still not
    begun when the round's uploads are all served, give the same account."""
    common = [
        "algorithm=fsl_sage",
        "fsl.async_align=true",
        "rounds=1",
        "data.synthetic_size=[128,32]",
        "train.batch_size=16",
        "fsl.server_interval=1",
    ]
    with monkeypatch.context() as patch:
        patch.setattr(fsl_sage, "ThreadPoolExecutor", _DoneAtOnce)
        at_once = run_in_process(small_config(tmp_path / "fast", *common))
    original = fsl_sage.fit_aux

    def late(*args, **kwargs):
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(fsl_sage, "fit_aux", late)
    slow = run_in_process(small_config(tmp_path / "slow", *common))
    assert [unmeasured(r) for r in at_once] == [unmeasured(r) for r in slow]


def test_a_disabled_meter_accounts_nothing_and_changes_nothing():
    """benchmarks/memory_overhead.py's control: no holdings, no saved-tensor hooks, the same
    gradients."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    x = torch.randn(4, 10)
    grads = []
    for enabled in (True, False):
        meter = MemoryMeter(enabled=enabled)
        model.zero_grad(set_to_none=True)
        with meter.phase("client", lambda: Holdings().module(model), (x,)):
            model(x).sum().backward()
        assert bool(meter.take_round()) == enabled
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
