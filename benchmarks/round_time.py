"""Round time: what distributing the simulation buys, measured in one run.

    python benchmarks/round_time.py --rounds 4 --train-limit 12000 --hosts 1 2

For CSE-FSL and FSL-SAGE on the shipped Fashion-MNIST configs (simple_conv, 10 clients), times
- the in-process baseline: the server and all clients in this one process, taking turns, with
  every core given to torch's intra-op threads (`runtime/in_process.py`), and the same with one
  thread (how a plain single-threaded simulation runs);
- `fsl-sage run` with `launch.client_hosts` = each of --hosts, one process per rank and the
  cores shared among them (threads per rank = cores // ranks, at least 1).
Prints seconds per round and the speed-up over the all-cores baseline. Round 0 is reported on
its own: it includes start-up effects and, for FSL-SAGE, an alignment (every
`fsl.align_interval` rounds); "steady" is the mean over the later rounds, which is what a long
run mostly consists of.
The table is also written as JSON (OUT/round_time.json), with a `provenance` record
(benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance import record, threads_per_rank

from fsl_sage_dist.config import load_config
from fsl_sage_dist.runtime.in_process import run_in_process
from fsl_sage_dist.text_table import align

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "in-process, all cores"


def overrides(args: argparse.Namespace, name: str, hosts: int) -> list[str]:
    return [
        f"rounds={args.rounds}",
        f"data.train_limit={args.train_limit}",
        f"output.dir={args.out}",
        f"output.name={name}",
        "checkpoint.every=0",
        f"launch.client_hosts={hosts}",
        *args.set,
    ]


def timings(round_s: list[float]) -> dict[str, float]:
    return {"first_s": round_s[0], "steady_s": statistics.mean(round_s[1:])}


def in_process(algorithm: str, args: argparse.Namespace, threads: int) -> dict[str, float]:
    cfg = load_config(
        ROOT / "configs" / f"fmnist_{algorithm}.toml",
        overrides(args, f"{algorithm}_in_process", 1) + [f"runtime.threads_per_rank={threads}"],
    )
    print(f"== {algorithm}: in-process baseline, {threads} thread(s)", flush=True)
    return timings([r["round_s"] for r in run_in_process(cfg)])


def distributed(algorithm: str, hosts: int, args: argparse.Namespace) -> dict[str, float]:
    name = f"{algorithm}_hosts{hosts}"
    cmd = [
        sys.executable,
        "-m",
        "fsl_sage_dist",
        "run",
        str(ROOT / "configs" / f"fmnist_{algorithm}.toml"),
        *overrides(args, name, hosts),
    ]
    print(f"== {algorithm}: {1 + hosts} ranks ({' '.join(cmd[3:])})", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    lines = (args.out / name / "metrics.jsonl").read_text().splitlines()
    return timings([json.loads(line)["round_s"] for line in lines])


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [["algorithm", "layout", "round 0 s", "steady s/round", "speed-up (steady)"]]
    for algorithm, layouts in results.items():
        base = layouts[BASELINE]["steady_s"]
        for layout, t in layouts.items():
            lines.append(
                [
                    algorithm,
                    layout,
                    f"{t['first_s']:.2f}",
                    f"{t['steady_s']:.2f}",
                    f"{base / t['steady_s']:.2f}x",
                ]
            )
    return align(lines, left=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="at least 2 (round 0 + steady)")
    parser.add_argument(
        "--train-limit",
        type=int,
        default=12000,
        help="data.train_limit: total training samples (0 = all 60,000)",
    )
    parser.add_argument(
        "--hosts", type=int, nargs="+", default=[1, 2], help="launch.client_hosts values to time"
    )
    parser.add_argument(
        "--algorithms", nargs="+", choices=("cse_fsl", "fsl_sage"), default=["cse_fsl", "fsl_sage"]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "round_time")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra config overrides for every run",
    )
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2: round 0 is reported apart from the others")
    results: dict[str, dict[str, Any]] = {}
    cores = os.cpu_count() or 1
    # what each layout ran with: the in-process ones set it, the ranks take the config's auto
    threads = {BASELINE: cores, "in-process, 1 thread": 1}
    threads |= {f"{1 + h} ranks": threads_per_rank(args.set) for h in args.hosts}
    provenance = record(threads_per_rank=threads)
    for algorithm in args.algorithms:
        results[algorithm] = {BASELINE: in_process(algorithm, args, cores)}
        if cores > 1:
            results[algorithm]["in-process, 1 thread"] = in_process(algorithm, args, 1)
        for hosts in args.hosts:
            results[algorithm][f"{1 + hosts} ranks"] = distributed(algorithm, hosts, args)
    print()
    print(f"{os.cpu_count()} cores; rounds {args.rounds}, train_limit {args.train_limit}")
    print(table(results))
    out = {
        "provenance": provenance,
        "cores": os.cpu_count(),
        "rounds": args.rounds,
        "train_limit": args.train_limit,
        "extra_overrides": args.set,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "round_time.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out / 'round_time.json'}")


if __name__ == "__main__":
    main()
