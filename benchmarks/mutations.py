"""Mutation check: does the fast test suite notice when the code is broken on purpose?

    python benchmarks/mutations.py                 # every mutation; writes docs/mutations.json
    python benchmarks/mutations.py --only header_bytes_doubled

Each mutation is one edit to one file of the package (or to one published figure), applied to a
temporary copy of the repository (every file git tracks); the whole fast suite (`pytest -m "not
slow" -x`, with the tests aimed at that edit first so that -x stops early) then runs on it. A
mutation is caught when a test fails (pytest exit status 1); a suite that cannot even run
(collection error, crash) does not count as catching it. The unmutated copy runs first and must
pass, or nothing below it means anything.
An edit whose text is no longer in the code stops the script: the list must follow the code,
not silently test nothing.
The JSON carries a `provenance` record (benchmarks/provenance.py) of the tree copied.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from provenance import record

ROOT = Path(__file__).resolve().parent.parent
# The suites that target these edits first, so that -x stops early; then everything else.
FIRST = ("tests/test_meter.py", "tests/test_averaging_placement.py", "tests/test_learning.py")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    first: tuple[str, ...] = ()
    """Test files run before the rest of the fast suite: the ones aimed at this edit."""


MUTATIONS = [
    Mutation(
        "fsl_sage_client_gradient_sign_flipped",
        "fsl_sage_dist/algorithms/fsl_sage.py",
        "z.backward(grad)",
        "z.backward(-grad)",
    ),
    Mutation(
        "lazy_server_optimizer_step_removed",
        "fsl_sage_dist/algorithms/lazy_server.py",
        "        self.server_opt.step()\n",
        "",
    ),
    Mutation(
        "cse_fsl_aux_loss_zero",
        "fsl_sage_dist/algorithms/cse_fsl.py",
        "        loss.backward()\n",
        "        (0 * loss).backward()\n",
    ),
    Mutation(
        "payload_categories_changed",
        "fsl_sage_dist/wire/meter.py",
        'PAYLOAD_CATEGORIES = ("activations", "cut_grads", "client_model", "aux_model")',
        'PAYLOAD_CATEGORIES = ("activations", "cut_grads", "client_model", "labels")',
    ),
    Mutation(
        "header_bytes_doubled",
        "fsl_sage_dist/wire/channel.py",
        'self.meter.record(client, direction, "control", CONTROL_NBYTES)',
        'self.meter.record(client, direction, "control", 2 * CONTROL_NBYTES)',
    ),
    Mutation(
        "averaging_weights_equal",
        "fsl_sage_dist/algorithms/averaging.py",
        "weights = [n / total for n in sizes]",
        "weights = [1 / len(sizes)] * len(sizes)",
    ),
    Mutation(
        "averaging_summed_in_host_order",
        "fsl_sage_dist/runtime/server.py",
        "        sizes = [self.sizes[c] for c in chosen]\n",
        "        chosen = sorted(chosen, key=self.ctx.placement.host_of)\n"
        "        sizes = [self.sizes[c] for c in chosen]\n",
    ),
    # Beyond the list of issue 13: the other places a sign or a step could go missing.
    Mutation(
        "splitfed_client_gradient_sign_flipped",
        "fsl_sage_dist/algorithms/splitfed.py",
        "z.backward(grad)",
        "z.backward(-grad)",
    ),
    Mutation(
        "splitfed_server_optimizer_step_removed",
        "fsl_sage_dist/algorithms/splitfed.py",
        "        opt.step()\n",
        "",
    ),
    Mutation(
        "fedavg_optimizer_step_removed",
        "fsl_sage_dist/algorithms/fedavg.py",
        "        client.optimizer.step()\n",
        "",
    ),
    Mutation(
        "fsl_sage_alignment_step_removed",
        "fsl_sage_dist/algorithms/alignment.py",
        "            optimizer.step()\n",
        "",
    ),
    # Rules both the in-process and the distributed run share: only an independent
    # re-statement of the algorithms (tests/restated.py) sees them change.
    Mutation(
        "lazy_server_order_swapped",
        "fsl_sage_dist/plan/spec.py",
        'return fsl.server_order == "client_major"',
        'return fsl.server_order != "client_major"',
        ("tests/test_semantics.py",),
    ),
    Mutation(
        "cse_fsl_aux_lr_is_model_lr",
        "fsl_sage_dist/algorithms/cse_fsl.py",
        "adam(client.aux, self.ctx.fsl.aux_lr, weight_decay=0.0)",
        "adam(client.aux, self.ctx.train.lr, weight_decay=0.0)",
        ("tests/test_semantics.py",),
    ),
    Mutation(
        "splitfed_v2_interleaved_instead_of_whole_turns",
        "fsl_sage_dist/plan/spec.py",
        'AlgorithmSpec("splitfed_v2", "every", True, "whole",',
        'AlgorithmSpec("splitfed_v2", "every", True, "lockstep",',
        ("tests/test_semantics.py",),
    ),
    # Data: every sample used once, and only a batch of one left out.
    Mutation(
        "dirichlet_partition_repeats_samples",
        "fsl_sage_dist/data/partition.py",
        "pieces.append(pools[c][taken[c] : taken[c] + counts[c]])",
        "pieces.append(pools[c][: counts[c]])",
        ("tests/test_dirichlet_equal.py", "tests/test_data.py"),
    ),
    Mutation(
        "epoch_leaves_out_more_than_a_batch_of_one",
        "fsl_sage_dist/data/client_data.py",
        "    return num_samples - (",
        "    return num_samples - 2 * (",
        ("tests/test_data.py", "tests/test_rank_errors.py"),
    ),
    # Trust and reliability: what the wire, the launcher and the checkpoints promise.
    Mutation(
        "checkpoint_hash_not_verified",
        "fsl_sage_dist/checkpoint.py",
        'if hashlib.sha256(data).hexdigest() != entry["sha256"]:',
        "if False:",
        ("tests/test_checkpoint_integrity.py",),
    ),
    Mutation(
        "spilled_state_hash_not_verified",
        "fsl_sage_dist/client_store.py",
        "if len(data) != ref.bytes or hashlib.sha256(data).hexdigest() != ref.sha256:",
        "if len(data) != ref.bytes:",
        ("tests/test_client_store.py",),
    ),
    Mutation(
        "payload_length_not_checked",
        "fsl_sage_dist/wire/channel.py",
        "    if length != nbytes:  # -1: the body was shorter than the frame\n",
        "    if False:\n",
        ("tests/test_channel.py", "tests/test_wire_framing.py"),
    ),
    Mutation(
        "save_agreement_skipped_on_a_failed_save",
        "fsl_sage_dist/runtime/rank_checkpoint.py",
        "        row[0], error = err.errno or -1, err\n",
        '        raise CheckpointError(f"rank {info.rank}: cannot save: {err}") from None\n',
        ("tests/test_agreement.py",),
    ),
    Mutation(
        "resume_agreement_skipped_on_a_failed_load",
        "fsl_sage_dist/runtime/rank_checkpoint.py",
        "    codes = [code for (code,) in gather_rows([code], info, transport)]\n"
        "    if error:\n        raise error\n",
        "    if error:\n        raise error\n"
        "    codes = [code for (code,) in gather_rows([code], info, transport)]\n",
        ("tests/test_agreement.py",),
    ),
    Mutation(
        "launcher_gloo_not_pinned_to_loopback",
        "fsl_sage_dist/runtime/launcher.py",
        "        GLOO_SOCKET_IFNAME=LOOPBACK_INTERFACE,\n",
        "",
        ("tests/test_rendezvous.py",),
    ),
    Mutation(
        "launcher_nccl_not_pinned_to_loopback",
        "fsl_sage_dist/runtime/launcher.py",
        "        NCCL_SOCKET_IFNAME=LOOPBACK_INTERFACE,\n",
        "",
        ("tests/test_rendezvous.py",),
    ),
    Mutation(
        "rendezvous_folder_kept",
        "fsl_sage_dist/runtime/launcher.py",
        "        shutil.rmtree(folder, ignore_errors=True)\n",
        "",
        ("tests/test_rendezvous.py",),
    ),
    Mutation(
        "spilled_state_loaded_with_pickle",
        "fsl_sage_dist/client_store.py",
        'torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")',
        'torch.load(io.BytesIO(data), map_location="cpu")',
        ("tests/test_no_pickle.py",),
    ),
    Mutation(
        "raw_input_leaked_inside_smashed_upload",
        "fsl_sage_dist/runtime/client_host.py",
        "            smashed = SmashedBatch(client.id, self.ctx.slot(it), z.detach(), y)\n",
        "            leaked = torch.cat("
        "[x.flatten(1), z.detach().flatten(1)[:, x[0].numel() :]], 1)\n"
        "            smashed = SmashedBatch(client.id, self.ctx.slot(it), leaked.view_as(z), y)\n",
        ("tests/test_raw_inputs.py",),
    ),
    Mutation(
        "benchmark_reuses_run_folders_silently",
        "benchmarks/run_folders.py",
        "    if not reuse:\n        action",
        "    if False:\n        action",
        ("tests/test_run_folders.py",),
    ),
    Mutation(
        "readme_gpu_bullet_quotes_the_cpu_run",
        "README.md",
        "(0.31× CSE-FSL's payload to it, 1380.9 against 4415.1 MiB)",
        "(0.30× CSE-FSL's payload to it, 1380.9 against 4647.4 MiB)",
        ("tests/test_doc_figures.py",),
    ),
]


def copy_repo(dest: Path) -> None:
    """Every file git tracks or would track (the working tree's content), so the copy's suite
    sees what a clean clone's would, uncommitted edits included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    # A repository of its own, as a clone is: tests that record provenance read its commit.
    for git in (
        ["init", "-q"],
        ["add", "-A"],
        [
            "-c",
            "user.name=mutations",
            "-c",
            "user.email=mutations@localhost",
            "commit",
            "-qm",
            "copy",
        ],
    ):
        subprocess.run(["git", *git], cwd=dest, check=True, capture_output=True)


def apply(mutation: Mutation, repo: Path) -> None:
    path = repo / mutation.path
    text = path.read_text()
    if text.count(mutation.old) != 1:
        sys.exit(
            f"error: mutation {mutation.name}: the text to edit occurs "
            f"{text.count(mutation.old)} times in {mutation.path}, expected once; "
            "update benchmarks/mutations.py"
        )
    path.write_text(text.replace(mutation.old, mutation.new))


def suite_order(repo: Path, first: tuple[str, ...]) -> list[str]:
    """Every test file, the aimed ones first. Named one by one: given a folder as well, pytest
    would collect it in its own order and the aimed files would not run first."""
    every = sorted(str(path.relative_to(repo)) for path in (repo / "tests").glob("test_*.py"))
    return list(dict.fromkeys((*first, *FIRST, *every)))


def fast_suite(repo: Path, first: tuple[str, ...]) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "not slow",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            *suite_order(repo, first),
        ],
        check=False,
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.MULTILINE)
    return {
        "caught": proc.returncode == 1 and bool(failed),
        "exit_status": proc.returncode,
        "first_failure": failed[0] if failed else None,
        "seconds": round(time.perf_counter() - start, 1),
        "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
    }


def check(mutation: Mutation | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="fsl-sage-mutant-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        if mutation is not None:
            apply(mutation, repo)
        return fast_suite(repo, mutation.first if mutation else ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutation names to run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "mutations.json")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    provenance = record()  # of the tree the copies are made from; pytest runs no ranks
    baseline = check(None)
    print(
        f"unmutated: {'FAILS' if baseline['exit_status'] else 'passes'} "
        f"({baseline['seconds']} s) {baseline['summary']}",
        flush=True,
    )
    if baseline["exit_status"]:
        sys.exit(f"error: the fast suite fails without any mutation ({baseline['first_failure']})")
    results = []
    for mutation in chosen:
        result = {"mutation": mutation.name, "file": mutation.path, **check(mutation)}
        results.append(result)
        verdict = "caught" if result["caught"] else "MISSED"
        print(
            f"{mutation.name:40s} {verdict:7s} {result['seconds']:6.1f} s  "
            f"{result['first_failure'] or ''}",
            flush=True,
        )
    caught = sum(r["caught"] for r in results)
    print(f"{caught} of {len(results)} mutations caught by the fast suite")
    if args.only is None:
        args.out.write_text(
            json.dumps(
                {
                    "provenance": provenance,
                    "baseline": baseline,
                    "mutations": results,
                    "caught": caught,
                    "total": len(results),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
