"""Mutation check: does the fast test suite notice when the code is broken on purpose?

    python benchmarks/mutations.py                 # every mutation; writes docs/mutations.json
    python benchmarks/mutations.py --only header_bytes_doubled

Each mutation is one edit to one file of the package, applied to a temporary copy of the
repository (package, tests, configs, docs, README); the fast suite (`pytest -m "not slow" -x`,
the suites aimed at these edits first) then runs on that copy. A mutation is caught when the
suite fails. The unmutated copy runs first and must pass, or nothing below it means anything.
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
COPIED = ("fsl_sage_dist", "tests", "configs", "docs", "pyproject.toml", "README.md")
# The suites that target these edits first, so that -x stops early; then everything else.
FIRST = ("tests/test_meter.py", "tests/test_averaging_placement.py", "tests/test_learning.py")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str


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
]


def copy_repo(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)


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


def fast_suite(repo: Path) -> dict:
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
            *FIRST,
            "tests",
        ],
        check=False,
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.MULTILINE)
    return {
        "caught": proc.returncode != 0,
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
        return fast_suite(repo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutation names to run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "mutations.json")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    provenance = record()  # of the tree the copies are made from; pytest runs no ranks
    baseline = check(None)
    print(
        f"unmutated: {'FAILS' if baseline['caught'] else 'passes'} "
        f"({baseline['seconds']} s) {baseline['summary']}",
        flush=True,
    )
    if baseline["caught"]:
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
