"""The quickstart's main job: FSL-SAGE against CSE-FSL and FedAvg on a reduced Fashion-MNIST,
then the comparison table, the accuracy-vs-MiB plot and one sentence per declared target with
the measured ratios.

    python launch/headline.py                  # what `bash launch/quickstart.sh` runs
    python launch/headline.py rounds=4         # extra key=value pass through to every run
    python launch/headline.py --targets 0.7 0.8 output.dir=runs/q2
    python launch/headline.py --reuse          # read/continue the runs already in runs/quickstart

The reduced setting (QUICK below) keeps the paper's model, clients, batch size, q and l, and
trains on 6,000 of the 60,000 images for 10 rounds so the three runs end within minutes on two
cores. Runs go to runs/quickstart/<algorithm>. A run folder that already holds a run stops the
script unless --reuse is given: then a complete run is read and an interrupted one resumed, and
the script says which (another setting needs another output.dir=...).

The target accuracies are declared before the runs (TARGETS, or --targets), never taken from
the results: each gets one closing sentence, which says so plainly where an algorithm did not
reach it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from run_folders import claim  # noqa: E402

from fsl_sage_dist.cli import main as fsl_sage  # noqa: E402  (after the path is set)
from fsl_sage_dist.run_reader import Run, load_runs  # noqa: E402

ALGORITHMS = ("fsl_sage", "cse_fsl", "fedavg")
NAMES = {"fsl_sage": "FSL-SAGE", "cse_fsl": "CSE-FSL", "fedavg": "FedAvg"}
# A checkpoint every round: rerun with more rounds and the runs go on where they stopped.
# Evaluating every other round: the server's pass over all 10,000 test images is a large share
# of a round this small, and the accuracy-vs-MiB curve needs no more points than that.
QUICK = [
    "data.name=fashion_mnist",
    "data.train_limit=6000",
    "rounds=10",
    "clients.num=10",
    "launch.client_hosts=2",
    "checkpoint.every=1",
    "eval.every=2",
    "output.dir=runs/quickstart",
]
# Fixed here, before any run, and never moved to where the runs ended: each gets a sentence.
TARGETS = (0.75, 0.80)


def setting(key: str, overrides: list[str]) -> str:
    """The value the runs get for `key`: the last override that sets it (QUICK sets each)."""
    return next(a.split("=", 1)[1] for a in reversed(overrides) if a.startswith(f"{key}="))


def run_all(extra: list[str], reuse: bool) -> list[Path]:
    out = Path(setting("output.dir", QUICK + extra))
    rounds = int(setting("rounds", QUICK + extra))
    for algorithm in ALGORITHMS:
        print(f"\n=== {NAMES[algorithm]} ===", flush=True)
        reused: list[dict] = []
        if claim(ROOT / out / algorithm, rounds, reuse, reused, "another output.dir=..."):
            print(f"reusing the complete run in {out / algorithm}", flush=True)
            continue
        if reused:
            print(f"resuming the run in {out / algorithm}", flush=True)
        args = [
            sys.executable,
            "-m",
            "fsl_sage_dist",
            "run",
            f"algorithm={algorithm}",
            *QUICK,
            f"output.name={algorithm}",
            *extra,
        ]
        status = subprocess.run(args, cwd=ROOT, check=False).returncode
        if status != 0:
            sys.exit(status)
    return [out / algorithm for algorithm in ALGORITHMS]


def headline(runs: list[Run], target: float) -> str:
    """One sentence for one declared target: FSL-SAGE's payload to reach it and its ratio to
    each other algorithm's, or which of them did not reach it."""
    mib = {run.algorithm: run.mib_to_target(target) for run in runs}
    ours = mib["fsl_sage"]

    def other(algorithm: str) -> str:
        theirs, name = mib[algorithm], NAMES[algorithm]
        if theirs is None:
            return f"{name} did not reach it"
        if ours is None:
            return f"{name} needed {theirs:,.0f} MiB"
        return f"{ours / theirs:.2f}x {name}'s {theirs:,.0f} MiB"

    others = " and ".join(other(a) for a in ALGORITHMS[1:])
    if ours is None:
        return (
            f"FSL-SAGE did not reach {target:.0%} test accuracy; {others} (measured in these runs)."
        )
    return (
        f"FSL-SAGE reached {target:.0%} test accuracy with {ours:,.0f} MiB of payload: "
        f"{others} (measured in these runs)."
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--targets",
        type=float,
        nargs="+",
        default=list(TARGETS),
        help="test accuracies to report, declared before the runs (default: %(default)s)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read complete runs already in output.dir and resume interrupted ones",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="for every run")
    args = parser.parse_args(argv)
    bad = [t for t in args.targets if not 0 < t <= 1]
    if bad:
        parser.error(f"--targets are accuracies in (0, 1], got {bad}")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    run_dirs = run_all(args.overrides, args.reuse)
    runs, messages = load_runs(run_dirs)
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)
    if any(run is None or not run.best_acc for run in runs):
        print("error: a run could not be read or never got above 0 accuracy", file=sys.stderr)
        return 1
    targets = [f"{t:g}" for t in args.targets]
    print("\n=== accuracy against payload bytes ===", flush=True)
    status = fsl_sage(
        [
            "compare",
            *map(str, run_dirs),
            "--target-acc",
            *targets,
            "--plot",
            str(run_dirs[0].parent / "compare.png"),
            "--baseline",
            "fedavg",
        ]
    )
    print()
    for target in args.targets:
        print(headline(runs, target))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
