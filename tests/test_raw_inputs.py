"""Raw client inputs never leave a client host, in any form; nothing on the wire is pickled.

The leak check (`wire_leaks.py`) reads every tensor a client host hands to its transport as its
receiver would (a frame as the dtype and shape of the header before it; a collective as it is)
and looks for every raw training image at every offset, by normalised cross-correlation: a
copy, a cast (fp16, bf16), an int8 quantisation or any other affine map of an image is found,
smashed activations and model states are not. The server's broadcasts are checked too: they are
what reaches every host (a host's own broadcast tensor is the buffer it receives into).

Its positive controls: every leak form, framed, at aligned and unaligned offsets; and runs in
which a host leaks on purpose (`leaking_hosts.py`): each kind of message a host hands over
carries an image in a planned round, and each must be found, over the in-process loopback
transport (fast) and over Gloo (slow).

    pytest tests/test_raw_inputs.py -m "not slow"    # the check and in-process runs: seconds
"""

from __future__ import annotations

import functools

import pytest
import torch
from leaking_hosts import PATCHED, LeakPlan, install
from wire_leaks import ImageSearch, decoded

from fsl_sage_dist.data import load_dataset
from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.runtime.in_process import run_in_process
from fsl_sage_dist.wire.channel import frame
from fsl_sage_dist.wire.compression import compress
from fsl_sage_dist.wire.header import Header, Kind
from fsl_sage_dist.wire.state import flatten_state

from harness import (
    ALGORITHMS,
    OBJECT_OPS,
    host_sends,
    record_in_process,
    small_config,
    spawn_job,
)

IMAGE = (1, 16, 16)
PIXELS = 16 * 16
LEAK_JOB = [
    f"data.synthetic_shape={list(IMAGE)}",
    "data.synthetic_size=[64,16]",
    "train.batch_size=16",
]
"""Small images, and few: the search costs (images x values handed over), and a FedAvg state is
the whole model. Each of the 4 clients has one batch of 16 a round."""
BATCH = 16


def training_images(cfg) -> torch.Tensor:
    data = cfg.data
    return load_dataset(
        "synthetic",
        "train",
        synthetic_shape=tuple(data.synthetic_shape),
        synthetic_size=tuple(data.synthetic_size),
        seed=cfg.seed,
    ).images


def found_in(cfg, logs: list[list[dict]]) -> tuple[dict, dict]:
    """Images found in what the hosts handed over, and in what the server broadcast, by
    `Payload.key`; `logs` by rank."""
    search = ImageSearch(training_images(cfg))
    sent = [p for log in logs[1:] for p in decoded(host_sends(log))]
    broadcast = [p for p in decoded(logs[0]) if p.op == "broadcast"]
    return search.leaking(sent), search.leaking(broadcast)


def _framed(payload: torch.Tensor) -> list[dict]:
    """A log of the two tensors `Channel.send` hands its transport for `payload`."""
    header = Header(Kind.SMASHED, 0, 0, 0, payload.dtype, tuple(payload.shape))
    framed = frame(header, payload, torch.device("cpu"), 0)
    return [{"op": "isend", "tensor": header.encode()}, {"op": "isend", "tensor": framed}]


FILLER = torch.Generator().manual_seed(0)


def _filler(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Random values of `dtype` around a leak: what it is hidden among."""
    if dtype.is_floating_point:
        return torch.randn(shape, generator=FILLER).to(dtype)
    return torch.randint(-128, 128, shape, generator=FILLER).to(dtype)


def test_the_leak_check_finds_every_form_of_an_image_at_any_offset_in_a_frame(tmp_path):
    images = training_images(small_config(tmp_path, *LEAK_JOB))
    search = ImageSearch(images)
    ids = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:32]
    batch = images[ids]
    forms = {
        "copy": batch,
        "fp16": batch.half(),
        "bf16": batch.bfloat16(),
        "int8": compress(batch, "int8")[0],
        "affine": -0.3 * batch + 5,
    }
    for form, leak in forms.items():
        flat, dtype = leak.flatten(), leak.dtype
        placed = {
            "as it is": leak,
            "aligned, in a vector": torch.cat([_filler((PIXELS,), dtype), flat]),
            "unaligned, in a vector": torch.cat(
                [_filler((13,), dtype), flat, _filler((5,), dtype)]
            ),
            "in each sample's row": torch.cat(
                [_filler((32, 3), dtype), leak.flatten(1), _filler((32, 10), dtype)], dim=1
            ),
        }
        for where, payload in placed.items():
            for log in (_framed(payload), [{"op": "reduce", "tensor": payload}]):
                (message,) = decoded(log)
                found = search.leaking([message])
                assert found == {message.key: set(ids.tolist())}, (form, where, log[0]["op"])
    model = build_split_model("simple_conv", IMAGE, 10)
    clean = [model.client(batch), *flatten_state(model.client), *flatten_state(model.server)]
    for payload in clean:
        assert not search.leaking(decoded(_framed(payload))), tuple(payload.shape)


def test_a_frame_is_read_as_its_header_says():
    payload = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    (message,) = decoded(_framed(payload))
    assert message.header.dtype == torch.bfloat16 and message.header.shape == (2, 3)
    assert torch.equal(message.values, payload)


def _run_in_process(cfg, monkeypatch, plan: LeakPlan | None = None) -> list[list[dict]]:
    logs = record_in_process(monkeypatch)
    if plan is not None:
        install_for_this_test(monkeypatch, plan)
    run_in_process(cfg)
    return [logs[rank] for rank in range(cfg.world_size)]


def install_for_this_test(monkeypatch, plan: LeakPlan) -> None:
    """`install`, undone when the test ends."""
    for owner, name in PATCHED:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    install(plan)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_raw_input_leaves_a_host_in_process(tmp_path, monkeypatch, algorithm):
    cfg = small_config(tmp_path, f"algorithm={algorithm}", "rounds=1", *LEAK_JOB)
    logs = _run_in_process(cfg, monkeypatch)
    assert found_in(cfg, logs) == ({}, {})
    ops = {e["op"] for log in logs[1:] for e in log}
    assert ops >= {"isend", "reduce", "all_reduce"}, "uploads or states, and the round report"


EXACT = LeakPlan(PIXELS, smashed=0, client_model=1, report=1, aux_model=2, log=2)
"""CSE-FSL averaging by sending states (uploads, both state kinds): one kind after another."""
REDUCE = LeakPlan(PIXELS, reduction=0)
"""CSE-FSL averaging by reductions (`runtime.averaging=reduce`)."""


def leak_config(tmp_path, plan: LeakPlan, *overrides: str):
    averaging = "exact" if plan.reduction is None else "reduce"
    return small_config(
        tmp_path,
        "algorithm=cse_fsl",
        f"runtime.averaging={averaging}",
        f"rounds={plan.rounds}",
        *LEAK_JOB,
        *overrides,
    )


def check_leaking_run(logs: list[list[dict]], cfg, plan: LeakPlan) -> None:
    """Every planted leak is found, in its round and its message; nothing is found in a kind
    of message that carries none, or before its round (a planted state stays in the global
    model, so it is found in later states and in the averages the server broadcasts)."""
    sent, broadcast = found_in(cfg, logs)
    messages = {key: found for key, found in sent.items() if len(key) == 2}
    planted = {
        kind: round_
        for kind, round_ in (
            ("SMASHED", plan.smashed),
            ("CLIENT_STATE", plan.client_model),
            ("AUX_STATE", plan.aux_model),
        )
        if round_ is not None
    }
    assert set(planted.items()) <= messages.keys(), sorted(messages)
    assert all(kind in planted and round_ >= planted[kind] for kind, round_ in messages), messages
    if plan.smashed is not None:
        assert len(messages["SMASHED", plan.smashed]) == BATCH, "every sample's row"
    collectives = sorted((op, dtype) for op, dtype, _ in set(sent) - set(messages))
    expected = [("reduce", "torch.float64")] * (2 if plan.reduction is not None else 0)
    expected += [("reduce", "torch.float64")] * (plan.log is not None)
    expected += [("reduce", "torch.int64")] * (plan.report is not None)
    assert collectives == sorted(expected), sorted(set(sent) - set(messages))
    model = build_split_model("simple_conv", IMAGE, 10)
    states = {flatten_state(model.client)[0].numel(), flatten_state(model.aux)[0].numel()}
    assert {numel for op, _, numel in broadcast} == states, "both averages, as broadcast"


@pytest.mark.parametrize("plan", [EXACT, REDUCE], ids=["exact", "reduce"])
def test_a_leaking_host_is_caught_in_process(tmp_path, monkeypatch, plan):
    cfg = leak_config(tmp_path, plan)
    check_leaking_run(_run_in_process(cfg, monkeypatch, plan), cfg, plan)


# One run per algorithm, each with another wire dtype: all algorithms, all dtypes, and both
# ways of averaging (CSE-FSL averages two parts).
PAIRS = [
    ("fedavg", "fp32", "exact"),
    ("splitfed_v1", "int8", "exact"),
    ("splitfed_v2", "fp16", "exact"),
    ("cse_fsl", "bf16", "reduce"),
    ("fsl_sage", "int8", "exact"),
]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, dtype, averaging", PAIRS)
def test_no_raw_input_leaves_a_client_host(tmp_path, algorithm, dtype, averaging):
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        f"wire.activation_dtype={dtype}",
        f"runtime.averaging={averaging}",
        "rounds=1",
        "fsl.align_interval=1",
        *LEAK_JOB,
    )
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic", keep_tensors=True)
    handed = [e for log in traffic[1:] for e in host_sends(log)]
    assert {e["op"] for e in handed} >= {"isend", "reduce"}, "uploads and the meter reduction"
    assert found_in(cfg, traffic) == ({}, {})
    assert not [e["op"] for log in traffic for e in log if e["op"] in OBJECT_OPS]


@pytest.mark.slow
@pytest.mark.parametrize("plan", [EXACT, REDUCE], ids=["exact", "reduce"])
def test_a_leaking_host_is_caught_over_gloo(tmp_path, plan):
    cfg = leak_config(tmp_path, plan, "wire.activation_dtype=int8")
    patch = functools.partial(install, plan)
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic", keep_tensors=True, patch=patch)
    check_leaking_run(traffic, cfg, plan)
