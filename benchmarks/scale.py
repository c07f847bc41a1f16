"""Scale: round time, peak memory per rank and spilled bytes as the number of clients grows.

    python benchmarks/scale.py --clients 100 1000 --fraction 0.1 --spill both \\
        --set eval.every=1000 --json docs/scale_every_client.json
    python benchmarks/scale.py --clients 10 100 1000 --rounds 3 --train-limit 12000

Runs FSL-SAGE on the shipped Fashion-MNIST config (or any config and overrides) with N clients
sharing the training set, `--per-round` of them (or a `--fraction` of N) sampled per round, 2
client hosts + the server. Without `--rounds` a run lasts until every client has taken part at
least once (the sampling is a function of the seed, so the number of rounds is known before the
run), which is when a store that grows with the clients seen would show it; `--rounds` sets it
instead, for every N or per N (the table's "took part" column says how many distinct clients
did). `--spill both` runs every N with `runtime.spill` off and on. Per run it prints samples
trained per round, mean seconds per round, the peak RSS of each rank (summary.json) and the
bytes of spilled client state left on disk (RUN_DIR/client_state). The table is also written
as JSON (`--json`, default OUT/scale.json) with a `provenance` record (benchmarks/provenance.py);
`config` is relative to the repository when the file lies in it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance import record, relative, threads_per_rank

from fsl_sage_dist.atomic_write import write_atomic
from fsl_sage_dist.plan.placement import participants
from fsl_sage_dist.text_table import align

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def rounds_until_every_client(seed: int, clients: int, per_round: int) -> int:
    seen: set[int] = set()
    rounds = 0
    while len(seen) < clients:
        seen.update(participants(seed, rounds, clients, per_round))
        rounds += 1
    return rounds


def clients_seen(seed: int, clients: int, per_round: int, rounds: int) -> int:
    """How many distinct clients took part in the first `rounds` rounds."""
    return len({c for t in range(rounds) for c in participants(seed, t, clients, per_round)})


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def run(clients: int, rounds: int, spill: bool, args: argparse.Namespace) -> dict[str, Any]:
    per_round = round(clients * args.fraction) if args.fraction else args.per_round
    rounds = rounds or rounds_until_every_client(args.seed, clients, per_round)
    name = f"clients{clients}{'_spill' if spill else ''}"
    cmd = [
        sys.executable,
        "-m",
        "fsl_sage_dist",
        "run",
        str(args.config),
        f"clients.num={clients}",
        f"clients.per_round={per_round}",
        f"rounds={rounds}",
        f"seed={args.seed}",
        f"data.train_limit={args.train_limit}",
        f"launch.client_hosts={args.hosts}",
        f"output.dir={args.out}",
        f"output.name={name}",
        f"runtime.spill={str(spill).lower()}",
        "checkpoint.every=0",
        *args.set,
    ]
    print(f"== N={clients}: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    run_dir = args.out / name
    summary = json.loads((run_dir / "summary.json").read_text())
    partition = json.loads((run_dir / "partition.json").read_text())
    samples = sum(c["samples"] for c in partition["clients"])
    return {
        "clients": clients,
        "per_round": per_round,
        "spill": spill,
        "rounds": rounds,
        "clients_seen": clients_seen(args.seed, clients, per_round, rounds),
        "samples_per_round": samples * per_round // clients,
        "mean_round_s": summary["mean_round_s"],
        "peak_rss_mib": summary["peak_rss_mib"],
        "spill_mib": folder_bytes(run_dir / "client_state") / MIB,
    }


def table(rows: list[dict[str, Any]]) -> str:
    ranks = len(rows[0]["peak_rss_mib"])
    header = [
        "clients",
        "per round",
        "rounds",
        "took part",
        "spill",
        "samples/round",
        "s/round",
        "spilled MiB",
        *[f"peak RSS MiB rank {r}{' (server)' if r == 0 else ''}" for r in range(ranks)],
    ]
    lines = [header] + [
        [
            str(row["clients"]),
            str(row["per_round"]),
            str(row["rounds"]),
            str(row["clients_seen"]),
            "on" if row["spill"] else "off",
            str(row["samples_per_round"]),
            f"{row['mean_round_s']:.2f}",
            f"{row['spill_mib']:.0f}",
            *[f"{m:.0f}" for m in row["peak_rss_mib"]],
        ]
        for row in rows
    ]
    return align(lines, left=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "fmnist_fsl_sage.toml")
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.0,
        help="sample this share of N per round instead of --per-round",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        nargs="+",
        default=[0],
        help="rounds per run, one value for every N or one per --clients value "
        "(0 = until every client has taken part)",
    )
    parser.add_argument(
        "--spill", choices=("off", "on", "both"), default="off", help="runtime.spill for each N"
    )
    parser.add_argument("--seed", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument(
        "--train-limit",
        type=int,
        default=0,
        help="data.train_limit: total training samples (0 = all 60,000)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scale")
    parser.add_argument("--json", type=Path, default=None, help="default: OUT/scale.json")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra config overrides for every run",
    )
    args = parser.parse_args()
    spills = {"off": [False], "on": [True], "both": [False, True]}[args.spill]
    if len(args.rounds) not in (1, len(args.clients)):
        parser.error("--rounds takes one value, or one per --clients value")
    rounds = args.rounds * len(args.clients) if len(args.rounds) == 1 else args.rounds
    provenance = record(threads_per_rank=threads_per_rank(args.set))
    rows = [run(n, r, spill, args) for n, r in zip(args.clients, rounds) for spill in spills]
    print()
    print(table(rows))
    out = {
        "provenance": provenance,
        "config": relative(args.config),
        "per_round": args.per_round,
        "fraction": args.fraction,
        "rounds": args.rounds,
        "seed": args.seed,
        "hosts": args.hosts,
        "train_limit": args.train_limit,
        "extra_overrides": args.set,
        "runs": rows,
    }
    path = args.json or args.out / "scale.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(out, indent=2) + "\n").encode())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
