"""Round-end time with many participants: runtime.averaging = exact against reduce, in one run.

    python benchmarks/averaging_modes.py --clients 100 --hosts 2 --rounds 4

FedAvg on synthetic Fashion-MNIST-shaped data, simple_conv (whose FedAvg state is the whole
model, 5.5 MB), every client participating every round with two samples, so a round is almost
only its round end: exact sends one state message per client to the server, which sums them in
client-id order; reduce sums on each host and sends one reduction per state vector. Prints the
steady seconds per round (mean of rounds 1..R-2: round 0 includes start-up, the last round an
evaluation) and the ratio; writes --json (default docs/averaging_modes.json) with a
`provenance` record (benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from provenance import record

from fsl_sage_dist.run_reader import load_runs
from fsl_sage_dist.rundir.records import write_json

ROOT = Path(__file__).resolve().parent.parent


def run(mode: str, args: argparse.Namespace) -> float:
    out = Path(args.out)
    job = [
        "algorithm=fedavg",
        "data.name=synthetic",
        f"clients.num={args.clients}",
        f"data.synthetic_size=[{2 * args.clients},100]",
        "train.batch_size=2",
        f"launch.client_hosts={args.hosts}",
        f"rounds={args.rounds}",
        f"eval.every={args.rounds}",
        "checkpoint.every=0",
        f"runtime.averaging={mode}",
        f"output.dir={out}",
        f"output.name={mode}",
    ]
    print(f"== {mode}: {' '.join(job)}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "fsl_sage_dist", "run", *job],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    (loaded,), _ = load_runs([out / mode])
    return statistics.mean(r["round_s"] for r in loaded.records[1:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "runs" / "averaging_modes"))
    parser.add_argument("--json", default=str(ROOT / "docs" / "averaging_modes.json"))
    args = parser.parse_args()
    assert args.rounds >= 3, "rounds 1..R-2 are the steady ones"
    provenance = record(threads_per_rank=0)  # the runs set none: the config's auto
    steady = {mode: run(mode, args) for mode in ("exact", "reduce")}
    ratio = steady["exact"] / steady["reduce"]
    print(
        f"{args.clients} participants on {args.hosts} hosts, FedAvg simple_conv: exact "
        f"{steady['exact']:.2f} s/round, reduce {steady['reduce']:.2f} s/round, "
        f"exact/reduce = {ratio:.2f}x"
    )
    write_json(
        Path(args.json),
        {
            "provenance": provenance,
            "clients": args.clients,
            "hosts": args.hosts,
            "rounds": args.rounds,
            "steady_s_per_round": steady,
            "exact_over_reduce": ratio,
        },
    )


if __name__ == "__main__":
    main()
