"""The meter against closed-form counts, and against the bytes actually handed to the transport.

The formulas are written out here from layer sizes, batch sizes and the schedule; nothing is
read back from the package except what a run writes to RUN_DIR.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from fsl_sage_dist.wire import (
    SmashedBatch,
    counts_to_bytes,
    payload_bytes,
    recv_smashed,
    send_smashed,
    send_state,
    wire_bytes,
)

from harness import (
    ALGORITHMS,
    CLIENT_TRAFFIC_OPS,
    handed_bytes,
    loopback_pair,
    read_metrics,
    small_config,
    spawn_job,
)

HEADER = 14 * 8  # int64 header: magic, version, kind, round, client, seq, dtype, ndim, 6 dims
F32, I64 = 4, 8
TRAIN, CLASSES, B = 480, 10, 32


PAYLOAD = ("activations", "cut_grads", "client_model", "aux_model")


def assert_payload_is_the_four_categories(rec: dict) -> None:
    """The paper's counting: payload = activations + cut grads + client model + aux model."""
    four = sum(sum(rec["bytes"][cat].values()) for cat in PAYLOAD)
    assert rec["round_payload_bytes"] == four, rec["round"]
    assert rec["round_wire_bytes"] == sum(sum(v.values()) for v in rec["bytes"].values())


# --- the meter over the loopback channel (no processes) -------------------------------------


def test_every_message_is_metered_with_its_header_under_control():
    loopback, host, _ = loopback_pair()
    state = [torch.zeros(10), torch.zeros(3, dtype=torch.int64)]
    with loopback.baton:
        send_state(host, 0, 0, 2, "client_model", state, "up")
    got = counts_to_bytes(host.meter.round_counts())
    assert got["client_model"] == {"up": 10 * F32 + 3 * I64, "down": 0}
    assert got["control"] == {"up": 2 * HEADER, "down": 0}
    assert host.meter.round_counts()[[0, 1]].sum() == 0, "only client 2 sent"


def test_payload_is_four_categories_and_wire_is_all_six():
    counts = {
        cat: {"up": 2 ** (2 * i), "down": 2 ** (2 * i + 1)}
        for i, cat in enumerate(
            ("activations", "labels", "cut_grads", "client_model", "aux_model", "control")
        )
    }
    assert payload_bytes(counts) == sum(sum(counts[c].values()) for c in PAYLOAD)
    assert wire_bytes(counts) == 2**12 - 1


@pytest.mark.parametrize("mode, value_bytes", [("fp32", 4), ("fp16", 2), ("bf16", 2), ("int8", 1)])
def test_smashed_batch_is_metered_at_its_wire_size(mode, value_bytes):
    """7 rows of 5x3 activations, up from client 1: values at the wire dtype, int8's scales
    (2 float32 per row) counted as activations, labels as int64, one header per message."""
    loopback, host, server = loopback_pair(mode)
    z, y = torch.randn(7, 5, 3), torch.arange(7)
    with loopback.baton:
        send_smashed(host, 0, SmashedBatch(1, 0, z, y))
        got = recv_smashed(server, 1, 0, 1, 0, (5, 3), max_rows=7)
    assert torch.allclose(got.activations, z, atol=0.05) and torch.equal(got.labels, y)
    metered = counts_to_bytes(host.meter.round_counts())
    scales = 7 * 2 * F32 if mode == "int8" else 0
    assert metered["activations"] == {"up": 7 * 15 * value_bytes + scales, "down": 0}
    assert metered["labels"] == {"up": 7 * I64, "down": 0}
    messages = 3 if mode == "int8" else 2
    assert metered["control"] == {"up": messages * HEADER, "down": 0}


def simple_conv_sizes(c_in: int = 1, hw: int = 28) -> dict[str, int]:
    cut = 64 * math.ceil(hw / 4) ** 2  # two stride-2 max-pools (pad 1)
    client = (64 * c_in * 25 + 64) + (64 * 64 * 25 + 64)
    server = (cut * 384 + 384) + (384 * 192 + 192) + (192 * CLASSES + CLASSES)
    aux = cut * CLASSES + CLASSES
    return {"cut": cut, "client": client * F32, "server": server * F32, "aux": aux * F32}


def batch_sizes(clients: int) -> list[int]:
    """One client's batch sizes in a round (iid: floor(N/m) samples, last batch partial)."""
    n = TRAIN // clients
    return [min(B, n - start) for start in range(0, n, B)]


def expected_round(
    algorithm: str, round_: int, clients: int, q: int = 5, l_rounds: int = 10
) -> dict[str, dict[str, int]]:
    s = simple_conv_sizes()
    sizes = batch_sizes(clients)
    every = {"fedavg": None, "splitfed_v1": 1, "splitfed_v2": 1, "cse_fsl": q, "fsl_sage": q}
    interval = every[algorithm]
    uploaded = [b for it, b in enumerate(sizes) if interval and it % interval == 0]
    e = {
        cat: {"up": 0, "down": 0}
        for cat in ("activations", "labels", "cut_grads", "client_model", "aux_model", "control")
    }
    model = s["client"] + (s["server"] if algorithm == "fedavg" else 0)
    per_client = {
        ("activations", "up"): sum(uploaded) * s["cut"] * F32,
        ("labels", "up"): sum(uploaded) * I64,
        ("client_model", "up"): model,
        ("client_model", "down"): model,
        ("control", "up"): 2 * len(uploaded) * HEADER + HEADER,  # + one state message
    }
    if algorithm.startswith("splitfed"):
        per_client[("cut_grads", "down")] = sum(uploaded) * s["cut"] * F32
        per_client[("control", "down")] = len(uploaded) * HEADER
    if algorithm == "cse_fsl":
        per_client[("aux_model", "up")] = per_client[("aux_model", "down")] = s["aux"]
        per_client[("control", "up")] += HEADER
    if algorithm == "fsl_sage" and round_ % l_rounds == 0:
        per_client[("aux_model", "down")] = s["aux"]
        per_client[("control", "down")] = HEADER
    for (cat, direction), nbytes in per_client.items():
        e[cat][direction] = clients * nbytes
    return e


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_meter_equals_closed_form_and_transport(tmp_path, algorithm):
    """Rounds 0 and 1 with l=2: FSL-SAGE aligns in round 0 and not in round 1. One client per
    host, so every logical message is exactly one tensor handed to the transport."""
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        "clients.num=2",
        "launch.client_hosts=2",
        "fsl.align_interval=2",
        "fsl.server_interval=5",
    )
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic")
    records = read_metrics(cfg.run_dir)
    for rec in records:
        assert rec["bytes"] == expected_round(algorithm, rec["round"], 2, l_rounds=2), rec["round"]
        assert_payload_is_the_four_categories(rec)
    metered = sum(r["round_wire_bytes"] for r in records)
    handed = sum(handed_bytes(rank_log) for rank_log in traffic[1:])
    print(f"{algorithm}: metered {metered} B, handed to the transport by client hosts {handed} B")
    assert handed == metered
    # the server hands over the same client traffic from its side (sends + broadcast copies)
    served = sum(
        e["nbytes"] * (cfg.launch.client_hosts if e["op"] == "broadcast" else 1)
        for e in traffic[0]
        if e["op"] in CLIENT_TRAFFIC_OPS
    )
    assert served == metered


@pytest.mark.slow
def test_virtual_clients_share_one_broadcast(tmp_path):
    """4 clients on 2 hosts: the meter counts a download per client, the transport one
    broadcast per host; the difference is exactly the documented sharing."""
    cfg = small_config(tmp_path, "algorithm=fedavg")
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic")
    records = read_metrics(cfg.run_dir)
    for rec in records:
        assert_payload_is_the_four_categories(rec)
    s = simple_conv_sizes()
    model = s["client"] + s["server"]
    handed = sum(handed_bytes(rank_log) for rank_log in traffic[1:])
    metered = sum(r["round_wire_bytes"] for r in records)
    shared = cfg.rounds * (4 - 2) * model  # each host serves 2 clients with one copy
    assert metered - handed == shared


# ResNet-18 at 3x32x32 with the ImageNet stem, cut after layer2, 10 classes: sizes of the
# reference implementation (params + buffers, fp32 and int64 num_batches_tracked).
RESNET_CLIENT, RESNET_AUX, RESNET_CUT = 2_740_048, 8_419_408, 128 * 4 * 4


@pytest.mark.slow
def test_resnet18_fsl_sage_on_dirichlet_clients_matches_closed_form(tmp_path):
    """FSL-SAGE, ResNet-18 cut at layer2, Dirichlet(0.3) clients of unequal size, CIFAR-shaped
    synthetic data: every round's bytes equal the formula, with each client's own batches."""
    cfg = small_config(
        tmp_path,
        "algorithm=fsl_sage",
        "model.name=resnet18",
        "model.cut=layer2",
        "data.synthetic_shape=[3,32,32]",
        "data.partition=dirichlet",
        "data.alpha=0.3",
        "fsl.align_interval=2",
        "fsl.align_epochs=2",
    )
    spawn_job(cfg)
    partition = json.loads((cfg.run_dir / "partition.json").read_text())
    sizes = [c["samples"] for c in partition["clients"]]
    assert len(set(sizes)) > 1, "Dirichlet(0.3) should give clients of different sizes"
    for rec in read_metrics(cfg.run_dir):
        assert_payload_is_the_four_categories(rec)
        uploads = [
            min(B, n - start)
            for n in sizes
            for it, start in enumerate(range(0, n, B))
            if it % 5 == 0
        ]
        aligns = rec["round"] % 2 == 0
        state_messages = 2  # float and int64 vectors of the client's state
        assert rec["bytes"]["activations"] == {"up": sum(uploads) * RESNET_CUT * F32, "down": 0}
        assert rec["bytes"]["labels"] == {"up": sum(uploads) * I64, "down": 0}
        assert rec["bytes"]["client_model"] == {"up": 4 * RESNET_CLIENT, "down": 4 * RESNET_CLIENT}
        assert rec["bytes"]["aux_model"] == {"up": 0, "down": 4 * RESNET_AUX if aligns else 0}
        assert rec["bytes"]["control"] == {
            "up": (2 * len(uploads) + 4 * state_messages) * HEADER,
            "down": 4 * state_messages * HEADER if aligns else 0,
        }
        assert rec["bytes"]["cut_grads"] == {"up": 0, "down": 0}


@pytest.mark.slow
def test_sampled_clients_only_are_metered_and_ranks_agree(tmp_path):
    """clients.per_round=2 of 4: every rank derives the same participants (a disagreement
    would desynchronise the protocol), and only they send and receive."""
    cfg = small_config(tmp_path, "algorithm=splitfed_v1", "clients.per_round=2")
    spawn_job(cfg)
    s = simple_conv_sizes()
    for rec in read_metrics(cfg.run_dir):
        assert_payload_is_the_four_categories(rec)
        assert rec["bytes"]["client_model"] == {"up": 2 * s["client"], "down": 2 * s["client"]}
        batches = batch_sizes(4)
        assert rec["bytes"]["activations"]["up"] == 2 * sum(batches) * s["cut"] * F32


@pytest.mark.slow
@pytest.mark.parametrize("mode, value_bytes", [("fp16", 2), ("bf16", 2), ("int8", 1)])
def test_compressed_activations_and_gradients_are_metered_at_their_size(
    tmp_path, mode, value_bytes
):
    """SplitFed-v1 (activations up and cut gradients down every iteration), 2 clients on 2
    hosts: bytes equal the compressed sizes, int8 scales (2 float32 per row) included, and
    the meter still equals what the transport was handed."""
    cfg = small_config(
        tmp_path,
        "algorithm=splitfed_v1",
        "clients.num=2",
        f"wire.activation_dtype={mode}",
        "rounds=1",
    )
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic")
    (rec,) = read_metrics(cfg.run_dir)
    assert_payload_is_the_four_categories(rec)
    s, batches = simple_conv_sizes(), batch_sizes(2)
    scales = 2 * F32 if mode == "int8" else 0
    per_direction = 2 * sum(b * (s["cut"] * value_bytes + scales) for b in batches)
    assert rec["bytes"]["activations"]["up"] == per_direction
    assert rec["bytes"]["cut_grads"]["down"] == per_direction
    messages = 2 if mode == "int8" else 1  # values (+ scales) per activation or gradient
    assert rec["bytes"]["control"] == {
        "up": 2 * len(batches) * (messages + 1) * HEADER + 2 * HEADER,
        "down": 2 * len(batches) * messages * HEADER,
    }
    assert sum(handed_bytes(log) for log in traffic[1:]) == rec["round_wire_bytes"]


RESNET_SERVER = 42_025_080


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl"])
def test_resnet18_other_algorithms_match_closed_form(tmp_path, algorithm):
    """The other four algorithms on ResNet-18 (layer2 cut) with CIFAR-shaped data, one round:
    activation, gradient and model bytes from the reference sizes and the 4x120-sample iid
    split (batches 32, 32, 32, 24)."""
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        "model.name=resnet18",
        "model.cut=layer2",
        "data.synthetic_shape=[3,32,32]",
        "rounds=1",
    )
    spawn_job(cfg)
    (rec,) = read_metrics(cfg.run_dir)
    assert_payload_is_the_four_categories(rec)
    batches = batch_sizes(4)
    uploaded = {"fedavg": [], "cse_fsl": batches[::5]}.get(algorithm, batches)
    smashed = 4 * sum(uploaded) * RESNET_CUT * F32
    model = RESNET_CLIENT + (RESNET_SERVER if algorithm == "fedavg" else 0)
    assert rec["bytes"]["activations"]["up"] == smashed
    assert rec["bytes"]["cut_grads"]["down"] == (smashed if "splitfed" in algorithm else 0)
    assert rec["bytes"]["client_model"] == {"up": 4 * model, "down": 4 * model}
    aux = 4 * RESNET_AUX if algorithm == "cse_fsl" else 0
    assert rec["bytes"]["aux_model"] == {"up": aux, "down": aux}
