"""What asynchronous alignment buys: FSL-SAGE with `fsl.async_align` false and true, same config.

    python benchmarks/async_align.py --rounds 3 --align-interval 2 --align-epochs 20 \
        --json docs/async_align_resnet18.json

Runs `fsl-sage run configs/fmnist_fsl_sage.toml` on ResNet-18 (docs/results.md's benchmark setting:
cut after layer2, ImageNet stem, 10 iid clients, batch 256) once per mode, then prints per
round the wall seconds, whether it was an alignment round, test accuracy and payload MiB, and
the mean seconds of alignment rounds and of the others per mode. Results go to
OUT/async_align.json (and --json), with a `provenance` record (benchmarks/provenance.py). An
existing run folder under OUT is an error unless `--reuse` is given: then a finished run is read,
an interrupted one continues from its checkpoint, and `provenance.reused` lists them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance import record, threads_per_rank
from run_folders import claim

from fsl_sage_dist.run_reader import load_runs
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import MIB

ROOT = Path(__file__).resolve().parent.parent


def run_mode(async_align: bool, args: argparse.Namespace, reused: list[dict[str, Any]]) -> Path:
    name = "async" if async_align else "sync"
    if claim(args.out / name, args.rounds, args.reuse, reused):
        print(f"== {name}: reusing {args.out / name}, it has {args.rounds} rounds", flush=True)
        return args.out / name
    overrides = [
        f"rounds={args.rounds}",
        f"data.train_limit={args.train_limit}",
        "model.name=resnet18",
        "model.cut=layer2",
        "model.stem=imagenet",
        f"fsl.align_interval={args.align_interval}",
        f"fsl.align_epochs={args.align_epochs}",
        f"fsl.async_align={str(async_align).lower()}",
        f"output.dir={args.out}",
        f"output.name={name}",
        "checkpoint.every=1",
        *args.set,
    ]
    cmd = [
        sys.executable,
        "-m",
        "fsl_sage_dist",
        "run",
        str(ROOT / "configs" / "fmnist_fsl_sage.toml"),
        *overrides,
    ]
    print(f"== {name}: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return args.out / name


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    rounds = [
        {
            "round": r["round"],
            "aligned": bool(r["aligned"]),
            "round_s": r["round_s"],
            "host_busy_s": r["host_busy_s"],
            "test_acc": r["test_acc"],
            "client_loss": r["client_loss"],
            "payload_mib": r["round_payload_bytes"] / MIB,
        }
        for r in records
    ]
    return {
        "rounds": rounds,
        "mean_align_round_s": mean([r["round_s"] for r in rounds if r["aligned"]]),
        "mean_other_round_s": mean([r["round_s"] for r in rounds if not r["aligned"]]),
        "final_acc": records[-1]["test_acc"],
        "total_payload_mib": records[-1]["cum_payload_bytes"] / MIB,
    }


def load_average() -> list[float]:
    return list(os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--align-interval", type=int, default=2, help="fsl.align_interval")
    parser.add_argument("--align-epochs", type=int, default=100, help="fsl.align_epochs")
    parser.add_argument("--train-limit", type=int, default=12000)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "async_align")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra config overrides for both runs",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read finished run folders under --out and continue interrupted ones; "
        "the JSON's provenance lists each",
    )
    args = parser.parse_args()
    provenance = record(threads_per_rank=threads_per_rank(args.set))
    reused: list[dict[str, Any]] = []
    load_before = load_average()
    dirs = [run_mode(False, args, reused), run_mode(True, args, reused)]
    runs, messages = load_runs(dirs)
    if messages or None in runs:
        sys.exit("\n".join(messages) or "a run could not be read")
    result = {
        "provenance": provenance | {"reused": reused},
        "rounds": args.rounds,
        "align_interval": args.align_interval,
        "align_epochs": args.align_epochs,
        "train_limit": args.train_limit,
        "extra_overrides": args.set,
        "cpu_cores": os.cpu_count(),
        "load_average_1_5_15_min": {"before": load_before, "after": load_average()},
        "modes": {
            name: summarize(run.records) for name, run in zip(("sync", "async"), runs, strict=True)
        },
    }
    lines = [["mode", "round", "aligned", "s", "test acc", "client loss", "payload MiB"]]
    for name, mode in result["modes"].items():
        lines += [
            [
                name,
                str(r["round"]),
                "yes" if r["aligned"] else "",
                f"{r['round_s']:.1f}",
                f"{r['test_acc']:.4f}",
                f"{r['client_loss']:.4f}",
                f"{r['payload_mib']:.1f}",
            ]
            for r in mode["rounds"]
        ]
    print(align(lines))
    for name, mode in result["modes"].items():
        print(
            f"{name}: alignment rounds {mode['mean_align_round_s']:.1f} s, others "
            f"{mode['mean_other_round_s'] or float('nan'):.1f} s"
        )
    for path in [args.out / "async_align.json", *([args.json] if args.json else [])]:
        write_json(path, result)  # atomic: an interrupted benchmark leaves the old file whole
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
