"""The quickstart's main job: FSL-SAGE against CSE-FSL and FedAvg on a reduced Fashion-MNIST,
then the comparison table, the accuracy-vs-MiB plot and one sentence with the measured ratios.

    python launch/headline.py                  # what `bash launch/quickstart.sh` runs
    python launch/headline.py rounds=4         # extra key=value pass through to every run

The reduced setting (QUICK below) keeps the paper's model, clients, batch size, q and l, and
trains on 6,000 of the 60,000 images for 10 rounds so the three runs end within minutes on two
cores. Runs go to runs/quickstart/<algorithm>; a rerun skips the runs that are complete and
resumes the others (another setting needs another output.dir=...).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def run_all(extra: list[str]) -> list[Path]:
    out = Path(
        next(
            (a.split("=", 1)[1] for a in reversed(QUICK + extra) if a.startswith("output.dir=")),
            "runs/quickstart",
        )
    )
    for algorithm in ALGORITHMS:
        print(f"\n=== {NAMES[algorithm]} ===", flush=True)
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


def common_target(best: list[float]) -> float:
    """The highest whole-percent accuracy every run reached: the bar all are measured to."""
    return math.floor(min(best) * 100) / 100


def headline(runs: list[Run], target: float) -> str:
    mib = {run.algorithm: run.mib_to_target(target) for run in runs}
    ours = mib["fsl_sage"]
    others = [f"{ours / mib[a]:.2f}x {NAMES[a]}'s {mib[a]:,.0f} MiB" for a in ALGORITHMS[1:]]
    return (
        f"FSL-SAGE reached {target:.0%} test accuracy with {ours:,.0f} MiB of payload: "
        f"{others[0]} and {others[1]} (measured in these runs)."
    )


def main(extra: list[str]) -> int:
    run_dirs = run_all(extra)
    runs, messages = load_runs(run_dirs)
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)
    if any(run is None or not run.best_acc for run in runs):
        print("error: a run could not be read or never got above 0 accuracy", file=sys.stderr)
        return 1
    target = max(0.01, common_target([run.best_acc for run in runs]))
    targets = sorted({f"{t:g}" for t in (target, 0.8)})
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
    print("\n" + headline(runs, target))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
