"""Each algorithm's run equals, to the last bit, an independent re-statement of its rules.

    PYTHONPATH=$PWD python -m pytest tests/test_semantics.py -q

The other fast tests compare the package's runs with each other (in-process against
distributed, one layout against another), so a rule both share could change unnoticed.
Here the package's in-process run (`runtime/in_process.py`, over loopback) is held to
`restated.py`, which re-states each algorithm from ALGORITHMS.md in plain loops without the
package's algorithm, role, wire or averaging code: every per-round metric (participants,
aligned clients, training and client losses, test accuracy and loss) and every final parameter
of the client and the server must be equal, with `==` and `torch.equal`.

The setting makes the rules matter: clients of unequal size (Dirichlet) so averaging weights
count; 3 of 4 clients sampled per round, different ones each round; several upload slots per
client and round (q = 2) so the server's order counts; a smashed store smaller than what
clients upload, so rows are evicted; FSL-SAGE aligning every second participation, so some
clients align inside the run and some take part without aligning; an aux learning rate unlike
the models' so the two cannot be swapped. The model is simple_conv on 8x8 synthetic images
(a 256-feature cut), the smallest registered one: the re-statement only calls the client,
server and aux modules, so their inner layers do not matter, and each run takes about a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from restated import restate

from fsl_sage_dist.runtime.in_process import run_in_process

from harness import small_config

SEMANTICS = [
    "rounds=3",
    "clients.num=4",
    "clients.per_round=3",
    "launch.client_hosts=2",
    "data.synthetic_shape=[1,8,8]",
    "data.synthetic_size=[240,100]",
    "data.partition=dirichlet",
    "data.alpha=1.0",
    "train.batch_size=16",
    "fsl.server_interval=2",
    "fsl.align_interval=2",
    "fsl.store_size=40",
    "fsl.align_epochs=5",
    "fsl.aux_lr=2e-3",
]
# What the re-statement may take from the package: inputs, never rules (restated.py's docstring).
SHARED_MODULES = {
    "fsl_sage_dist.config",
    "fsl_sage_dist.data",
    "fsl_sage_dist.models",
    "fsl_sage_dist.plan.placement",
    "fsl_sage_dist.plan.seeds",
    "fsl_sage_dist.seeding",
}
CASES = {
    "fedavg": ["algorithm=fedavg"],
    "splitfed_v1": ["algorithm=splitfed_v1"],
    "splitfed_v2": ["algorithm=splitfed_v2"],
    "cse_fsl": ["algorithm=cse_fsl"],
    "cse_fsl_client_major": ["algorithm=cse_fsl", "fsl.server_order=client_major"],
    "fsl_sage": ["algorithm=fsl_sage"],
    "fsl_sage_client_major": ["algorithm=fsl_sage", "fsl.server_order=client_major"],
    # Alignment batches smaller than the store (targets scaled per batch), two local epochs
    # (iterations and upload slots counted across epochs), staleness counted in rounds.
    "fsl_sage_small_align_batches": [
        "algorithm=fsl_sage",
        "fsl.align_batch_size=16",
        "train.local_epochs=2",
        "fsl.align_staleness=rounds",
    ],
}


def _check_setting(ours, clients: int) -> None:
    """What makes the comparison meaningful, so a change of SEMANTICS cannot quietly weaken it."""
    assert len(set(ours.sizes)) == clients, f"client sizes must differ: {ours.sizes}"
    chosen = [r["participants"] for r in ours.rounds]
    assert all(len(p) < clients for p in chosen), chosen
    assert len({tuple(p) for p in chosen}) > 1, f"sampling must vary by round: {chosen}"
    if "aligned" in ours.rounds[0]:
        aligned = [r["aligned"] for r in ours.rounds]
        assert any(a for a in aligned[1:]), f"an alignment must fall inside the run: {aligned}"
        assert any(set(r["participants"]) - set(r["aligned"]) for r in ours.rounds), aligned


@pytest.mark.parametrize("case", CASES)
def test_run_equals_the_restatement(case, tmp_path):
    cfg = small_config(tmp_path, *SEMANTICS, *CASES[case])
    records = run_in_process(cfg)
    final = torch.load(cfg.run_dir / "final_model.pt", weights_only=True)["full"]
    ours = restate(cfg)
    _check_setting(ours, cfg.clients.num)

    keys = list(ours.rounds[0])
    assert [{k: r[k] for k in keys} for r in records] == ours.rounds
    assert list(final) == list(ours.full)
    differing = [k for k in final if not torch.equal(final[k], ours.full[k])]
    assert not differing, f"final parameters differ from the re-statement: {differing}"


def test_restatement_imports_no_algorithm_code():
    """Were restated.py to import the package's algorithms, roles, wire or averaging, the
    comparison would hold the package to itself."""
    tree = ast.parse((Path(__file__).parent / "restated.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }
    package = {m for m in imported if m.split(".")[0] == "fsl_sage_dist"}
    assert package <= SHARED_MODULES, package - SHARED_MODULES
