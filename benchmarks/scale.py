"""Scale: round time and peak memory per rank as the number of virtual clients grows.

    python benchmarks/scale.py --clients 10 100 1000 --rounds 3

Runs FSL-SAGE on the shipped Fashion-MNIST config with N clients sharing the training set
(`clients.per_round` = 10, 2 client hosts + the server) and prints, per N: samples trained per
round, mean seconds per round and the peak RSS of each rank (from summary.json). The training set
is fixed, so a round trains fewer samples as N grows; what grows with N is the state kept per
client (on its host: model, optimizer, aux head; on the server, for clients seen so far: aux
head, its optimizer and smashed store), which is what the memory columns show. The table is
also written as JSON (OUT/scale.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fsl_sage_dist.text_table import align

ROOT = Path(__file__).resolve().parent.parent


def run(clients: int, args: argparse.Namespace) -> dict[str, Any]:
    name = f"clients{clients}"
    config = ROOT / "configs" / "fmnist_fsl_sage.toml"
    cmd = [sys.executable, "-m", "fsl_sage_dist", "run", str(config),
           f"clients.num={clients}", f"clients.per_round={args.per_round}",
           f"rounds={args.rounds}", f"data.train_limit={args.train_limit}",
           f"launch.client_hosts={args.hosts}", f"output.dir={args.out}", f"output.name={name}",
           "checkpoint.every=0", *args.set]
    print(f"== N={clients}: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    summary = json.loads((args.out / name / "summary.json").read_text())
    partition = json.loads((args.out / name / "partition.json").read_text())
    samples = sum(c["samples"] for c in partition["clients"])
    return {"clients": clients, "samples_per_round": samples * args.per_round // clients,
            "mean_round_s": summary["mean_round_s"], "peak_rss_mib": summary["peak_rss_mib"]}


def table(rows: list[dict[str, Any]]) -> str:
    ranks = len(rows[0]["peak_rss_mib"])
    header = ["clients", "samples/round", "s/round",
              *[f"peak RSS MiB rank {r}{' (server)' if r == 0 else ''}" for r in range(ranks)]]
    lines = [header] + [[str(row["clients"]), str(row["samples_per_round"]),
                         f"{row['mean_round_s']:.2f}",
                         *[f"{m:.0f}" for m in row["peak_rss_mib"]]] for row in rows]
    return align(lines, left=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=0,
                        help="data.train_limit: total training samples (0 = all 60,000)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scale")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra config overrides for every run")
    args = parser.parse_args()
    rows = [run(n, args) for n in args.clients]
    print()
    print(table(rows))
    out = {"per_round": args.per_round, "rounds": args.rounds, "hosts": args.hosts,
           "train_limit": args.train_limit, "extra_overrides": args.set, "runs": rows}
    (args.out / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out / 'scale.json'}")


if __name__ == "__main__":
    main()
