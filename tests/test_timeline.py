"""The simulated timeline against hand-computed round times, and its sanity properties.

Every closed form below is written from the algorithm's dependencies (ALGORITHMS.md, the module
docstring of fsl_sage_dist/timeline/round_graph.py) with declared compute and homogeneous links;
a message of b bytes takes 8*b/W + rtt/2, and back-to-back messages on one link pipeline.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from fsl_sage_dist.config import NetworkConfig
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.rundir.messages import Message, RoundMessages
from fsl_sage_dist.timeline import simulate_round
from fsl_sage_dist.units import NO_ITERATION

UP_BPS, DOWN_BPS = 1e6, 2e6  # bytes per second: 8 and 16 Mbit/s
RTT = 0.040
L = RTT / 2
ITER, STEP, ALIGN = 0.030, 0.005, 0.100
F, U = ITER / 3, 2 * ITER / 3
ACT, LABELS, GRAD = 20_000, 1_000, 20_000
MODEL, AUX = 500_000, 40_000
ITERS, Q = 10, 5

NET = NetworkConfig(
    up_mbps=8 * UP_BPS / 1e6,
    down_mbps=8 * DOWN_BPS / 1e6,
    rtt_ms=RTT * 1000,
    compute="declared",
    client_iter_ms=ITER * 1000,
    server_step_ms=STEP * 1000,
    align_ms=ALIGN * 1000,
)
UP_T = (ACT + LABELS) / UP_BPS + L  # a smashed batch (activations + labels) up
DOWN_T = GRAD / DOWN_BPS + L  # its cut gradient down
MODEL_UP, MODEL_DOWN = MODEL / UP_BPS + L, MODEL / DOWN_BPS + L
P = F + UP_T + STEP + DOWN_T + U  # one SplitFed iteration, nobody else in the way


def plan_of(
    algorithm: str, clients: int, hosts: int, async_align: bool = False, client_major: bool = False
) -> Plan:
    config = {
        "algorithm": algorithm,
        "seed": 1,
        "clients": {"num": clients, "per_round": 0},
        "launch": {"client_hosts": hosts},
        "fsl": {
            "server_interval": Q,
            "server_order": "client_major" if client_major else "interleaved",
            "async_align": async_align,
        },
    }
    return Plan.of_dict(config)


def round_log(
    algorithm: str,
    clients: int,
    aligned: bool = False,
    async_align: bool = False,
    act: int = ACT,
    iters: int = ITERS,
) -> RoundMessages:
    """The messages each algorithm's runtime meters in one round, in the order they are metered."""
    msgs: list[Message] = []
    every = {"fedavg": None, "splitfed_v1": 1, "splitfed_v2": 1, "cse_fsl": Q, "fsl_sage": Q}
    interval = every[algorithm]
    for c in range(clients):
        for it in range(iters):
            if interval and it % interval == 0:
                msgs += [
                    Message(c, it, "activations", "up", act),
                    Message(c, it, "labels", "up", LABELS),
                ]
            if algorithm.startswith("splitfed"):
                msgs.append(Message(c, it, "cut_grads", "down", GRAD))
            if algorithm == "fsl_sage" and aligned and not async_align and it == 0:
                msgs.append(Message(c, 0, "aux_model", "down", AUX))
        averaged = ["client_model"] + (["aux_model"] if algorithm == "cse_fsl" else [])
        sizes = {"client_model": MODEL, "aux_model": AUX}
        msgs += [Message(c, NO_ITERATION, cat, "up", sizes[cat]) for cat in averaged]
        msgs += [Message(c, NO_ITERATION, cat, "down", sizes[cat]) for cat in averaged]
        if algorithm == "fsl_sage" and aligned and async_align:
            msgs.append(Message(c, NO_ITERATION, "aux_model", "down", AUX))
    client_s = {(c, it): (1.0, 1.0) for c in range(clients) for it in range(iters)}
    # declared compute reads only who aligns
    align_s = {c: 9.0 for c in range(clients)} if aligned and algorithm == "fsl_sage" else {}
    return RoundMessages(0, list(range(clients)), msgs, client_s, align_s=align_s)


def sim(
    algorithm: str, clients: int = 1, hosts: int = 1, net: NetworkConfig = NET, **kwargs
) -> float:
    async_align = kwargs.get("async_align", False)
    return simulate_round(
        plan_of(algorithm, clients, hosts, async_align),
        round_log(algorithm, clients, **kwargs),
        net,
    ).seconds


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


# -- closed forms ------------------------------------------------------------------------------


def test_fedavg_is_download_iterations_upload():
    expected = ITERS * ITER + MODEL_UP + MODEL_DOWN
    assert close(sim("fedavg"), expected)
    assert close(sim("fedavg", clients=3, hosts=3), expected)  # nobody waits for anybody


def test_splitfed_v1_waits_for_every_cut_gradient():
    assert close(sim("splitfed_v1"), ITERS * P + MODEL_UP + MODEL_DOWN)


def test_splitfed_v1_two_clients_share_the_server():
    """Client 1's step queues behind client 0's in every iteration: it ends STEP later."""
    assert close(sim("splitfed_v1", clients=2, hosts=2), ITERS * P + STEP + MODEL_UP + MODEL_DOWN)


def test_splitfed_v1_cohosted_clients_advance_in_lockstep():
    """One host: both start each iteration together, so the pair's period is P + STEP."""
    assert close(sim("splitfed_v1", clients=2, hosts=1), ITERS * (P + STEP) + MODEL_UP + MODEL_DOWN)


def test_splitfed_v2_clients_take_whole_turns():
    """Client 1's first upload waits for client 0's whole turn; the rest follows at P."""
    assert close(
        sim("splitfed_v2", clients=2, hosts=2), (2 * ITERS - 1) * P + STEP + MODEL_UP + MODEL_DOWN
    )


def test_cse_fsl_uploads_overlap_compute():
    """Compute-bound: uploads hide behind compute; averaging sends client model then aux."""
    expected = ITERS * ITER + MODEL_UP + MODEL / DOWN_BPS + AUX / DOWN_BPS + L
    assert (ACT + LABELS) / UP_BPS < Q * ITER
    assert close(sim("cse_fsl"), expected)


def test_cse_fsl_saturated_uplink_delays_the_round_end():
    """Uplink-bound: each smashed batch takes longer than q iterations, so the uploads queue
    on the uplink and the client model leaves only after the last of them."""
    act = 200_000
    per_upload = (act + LABELS) / UP_BPS
    assert per_upload > Q * ITER
    uploads = math.ceil(ITERS / Q)
    leaves = F + uploads * per_upload
    expected = leaves + MODEL_UP + MODEL / DOWN_BPS + AUX / DOWN_BPS + L
    assert close(sim("cse_fsl", act=act), expected)


def test_fsl_sage_waits_for_the_aux_head_after_an_alignment():
    first = F + UP_T + STEP + ALIGN + AUX / DOWN_BPS + L + U
    assert close(sim("fsl_sage", aligned=True), first + (ITERS - 1) * ITER + MODEL_UP + MODEL_DOWN)


def test_fsl_sage_without_alignment_never_waits():
    assert close(sim("fsl_sage"), ITERS * ITER + MODEL_UP + MODEL_DOWN)


def test_fsl_sage_async_alignment_sends_the_head_at_the_round_end():
    """The client does not wait; the head follows the averaged client model down."""
    expected = ITERS * ITER + MODEL_UP + MODEL / DOWN_BPS + AUX / DOWN_BPS + L
    assert close(sim("fsl_sage", aligned=True, async_align=True), expected)


def test_fsl_sage_long_async_fit_ends_the_round():
    net = dataclasses.replace(NET, align_ms=5000)
    expected = F + UP_T + STEP + 5.0 + AUX / DOWN_BPS + L
    assert close(sim("fsl_sage", net=net, aligned=True, async_align=True), expected)


# -- sanity ------------------------------------------------------------------------------------

INFINITE = dataclasses.replace(NET, up_mbps=math.inf, down_mbps=math.inf, rtt_ms=0.0)


@pytest.mark.parametrize(
    "algorithm, clients, hosts, expected",
    [
        ("fedavg", 2, 2, ITERS * ITER),
        ("splitfed_v1", 2, 2, ITERS * (ITER + STEP) + STEP),
        ("splitfed_v2", 2, 2, 2 * ITERS * (ITER + STEP) - ITER),
        ("cse_fsl", 2, 1, ITERS * ITER),
        ("fsl_sage", 2, 2, F + STEP + ALIGN + STEP + ALIGN + U + (ITERS - 1) * ITER),
    ],
)
def test_infinite_bandwidth_is_the_compute_critical_path(algorithm, clients, hosts, expected):
    """No transfer time left: the round is its compute critical path (FSL-SAGE: client 1's
    update waits for both alignments, which the server runs one after the other)."""
    got = sim(algorithm, clients=clients, hosts=hosts, net=INFINITE, aligned=True)
    assert close(got, expected)


PROFILES = [
    NET,
    dataclasses.replace(NET, spread=0.8),
    dataclasses.replace(NET, server_mbps=20),
    dataclasses.replace(NET, rtt_ms=0.0, up_mbps=0.5, spread=0.3, server_mbps=3),
]
CASES = [
    ("fedavg", {}),
    ("splitfed_v1", {}),
    ("splitfed_v2", {}),
    ("cse_fsl", {}),
    ("fsl_sage", {"aligned": True}),
    ("fsl_sage", {"aligned": True, "async_align": True}),
]


def halved(net: NetworkConfig) -> NetworkConfig:
    return dataclasses.replace(
        net, up_mbps=net.up_mbps / 2, down_mbps=net.down_mbps / 2, server_mbps=net.server_mbps / 2
    )


@pytest.mark.parametrize(
    "algorithm, kwargs", CASES, ids=[a + "-async" * bool(k.get("async_align")) for a, k in CASES]
)
@pytest.mark.parametrize("hosts", [1, 3])
def test_halving_every_bandwidth_never_shortens_a_round(algorithm, kwargs, hosts):
    for net in PROFILES:
        times = [
            sim(algorithm, clients=6, hosts=hosts, net=n, iters=7, **kwargs)
            for n in (net, halved(net), halved(halved(net)))
        ]
        assert times == sorted(times), (net, times)
        assert times[0] < times[2], "bandwidth must matter at all"


def test_time_shares_add_up_to_the_round():
    log = round_log("splitfed_v1", 3)
    got = simulate_round(plan_of("splitfed_v1", 3, 2), log, NET)
    assert close(got.client_s + got.server_s + got.transfer_s, got.seconds)
    assert got.transfer_s > 0 and got.server_s > 0 and 0 < got.client_idle < 1


def test_log_round_trips_through_json():
    log = round_log("fsl_sage", 2, aligned=True)
    assert RoundMessages.from_json(log.to_json()) == log


@pytest.mark.parametrize("hosts, period", [(1, 1.0), (2, 0.6)])
def test_measured_compute_and_the_lockstep_phases(hosts, period):
    """Measured times: client 0 forward 0.1 s, update 0.5 s; client 1 the reverse. On one host
    the updates start only when both forward passes are done (1.0 s an iteration); on two
    hosts each client goes at its own pace (0.6 s). Client compute is scaled by the slowdown."""
    log = round_log("fedavg", 2)
    log.client_s = {
        (c, it): ((0.1, 0.5) if c == 0 else (0.5, 0.1)) for c in range(2) for it in range(ITERS)
    }
    net = dataclasses.replace(INFINITE, compute="measured", client_slowdown=2.0)
    assert close(simulate_round(plan_of("fedavg", 2, hosts), log, net).seconds, 2 * ITERS * period)
