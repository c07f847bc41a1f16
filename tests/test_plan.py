"""plan/ states each algorithm's schedule once; these hold the statement to the implementations.

The specs name exactly the registered algorithms, and a real run over the in-process loopback
meters exactly the (category, direction) pairs its spec declares: a spec field that drifts from
what the algorithm does (it stops waiting for cut gradients, averages its aux head, uploads
never) changes what the meter records, and the test names the algorithm and the difference.
"""

from __future__ import annotations

import dataclasses

import pytest

from fsl_sage_dist.algorithms import REGISTRY
from fsl_sage_dist.algorithms.expected_bytes import ModelBytes, client_round_payload
from fsl_sage_dist.config import config_to_dict
from fsl_sage_dist.plan import SPECS, FSLSchedule, Placement, Plan
from fsl_sage_dist.plan.schedule import step_order, upload_order
from fsl_sage_dist.runtime.in_process import run_in_process

from harness import small_config


def test_the_specs_name_exactly_the_registered_algorithms():
    assert SPECS.keys() == REGISTRY.keys()
    assert all(spec.name == name for name, spec in SPECS.items())


def metered_pairs(records: list[dict]) -> frozenset[tuple[str, str]]:
    return frozenset(
        (category, direction)
        for record in records
        for category, ways in record["bytes"].items()
        for direction, nbytes in ways.items()
        if nbytes
    )


@pytest.mark.parametrize("algorithm", sorted(SPECS))
def test_a_run_meters_what_its_spec_declares(tmp_path, algorithm):
    """One round (FSL-SAGE aligns every client in round 0) with two clients per host."""
    cfg = small_config(tmp_path, f"algorithm={algorithm}", "rounds=1", "fsl.server_interval=2")
    assert metered_pairs(run_in_process(cfg)) == SPECS[algorithm].metered()


def test_what_is_metered_follows_the_fields_not_the_name():
    v1 = SPECS["splitfed_v1"]
    lazy = dataclasses.replace(v1, uploads="every_q", waits_for_cut_grad=False)
    assert v1.metered() - lazy.metered() == {("cut_grads", "down"), ("control", "down")}
    averaging_aux = dataclasses.replace(v1, averaged=("client_model", "aux_model"))
    assert averaging_aux.metered() - v1.metered() == {("aux_model", "up"), ("aux_model", "down")}


@pytest.mark.parametrize("algorithm", sorted(SPECS))
def test_the_closed_form_counts_the_payload_pairs_the_spec_meters(algorithm):
    """Labels and headers are metered but not payload; everything else is in both."""
    spec, fsl = SPECS[algorithm], FSLSchedule(2, "interleaved", False)
    sizes = ModelBytes(client=100, server=1000, aux=10, cut_elements=3)
    payload = client_round_payload(spec, fsl, [8, 8, 8, 4], sizes, "fp32", aligned=True)
    counted = {(c, way) for c, ways in payload.items() for way, n in ways.items() if n}
    assert counted == {(c, way) for c, way in spec.metered() if c not in ("labels", "control")}


def test_the_plan_of_a_config_and_of_its_tables_agree(tmp_path):
    cfg = small_config(
        tmp_path, "algorithm=cse_fsl", "clients.per_round=3", "fsl.server_order=client_major"
    )
    plan = Plan.of(cfg)
    assert plan == Plan.of_dict(config_to_dict(cfg))
    assert plan.spec is SPECS["cse_fsl"] and plan.whole_turns
    assert plan.placement == Placement(4, 2)
    assert plan.participants(1) == Plan.of(cfg).participants(1)
    assert len(plan.participants(1)) == 3


def test_a_plan_without_a_schedule_key_names_it():
    with pytest.raises(KeyError, match="server_interval"):
        Plan.of_dict(
            {
                "algorithm": "fsl_sage",
                "seed": 1,
                "clients": {"num": 2, "per_round": 0},
                "launch": {"client_hosts": 1},
                "fsl": {"server_order": "interleaved", "async_align": False},
            }
        )


ITERATIONS = {0: 3, 2: 1, 3: 2}.__getitem__  # uneven: client 0 trains longest


def test_lockstep_goes_iteration_by_iteration_and_whole_turns_client_by_client():
    assert step_order([0, 2, 3], ITERATIONS, whole_turns=False) == [
        (0, 0), (2, 0), (3, 0), (0, 1), (3, 1), (0, 2)
    ]  # fmt: skip
    assert step_order([0, 2, 3], ITERATIONS, whole_turns=True) == [
        (0, 0), (0, 1), (0, 2), (2, 0), (3, 0), (3, 1)
    ]  # fmt: skip


def test_the_upload_order_is_the_step_order_at_upload_iterations():
    every_second = upload_order([0, 2, 3], ITERATIONS, lambda it: it % 2 == 0, False)
    assert every_second == [(0, 0), (2, 0), (3, 0), (0, 2)]


def test_hosts_group_participants_as_the_ranks_run_them():
    assert Placement(7, 3).hosts_of([6, 1, 4, 2]) == [[6], [1, 4], [2]]  # ranks 1, 2, 3
    assert Placement(7, 3).hosts_of([5, 2, 0]) == [[0], [2, 5]]  # host 2 has nobody
