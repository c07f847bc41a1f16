"""Bytes to accuracy: all five algorithms on one config, one table.

    python benchmarks/bytes_to_accuracy.py --rounds 20 --train-limit 12000 --out runs/b2a
    python benchmarks/bytes_to_accuracy.py --model resnet18 --rounds 20 --out runs/b2a_resnet
    python benchmarks/bytes_to_accuracy.py --algorithms cse_fsl fsl_sage --dtypes bf16 int8
    python benchmarks/bytes_to_accuracy.py --seeds 200 201 202 --json docs/b2a_seeds.json
    python benchmarks/bytes_to_accuracy.py --model gpt2 --rounds 10 --targets 0.15 0.18

Runs `fsl-sage run configs/fmnist_<algorithm>.toml` for each algorithm (Fashion-MNIST, 10 iid
clients, same seed; checkpointed every round), then prints final/best test accuracy, payload and
wire MiB to first reach each target accuracy, total MiB, seconds per round, and the ratios
FSL-SAGE / CSE-FSL and FSL-SAGE / SplitFed-v1 of MiB to target. The table is also written as
JSON next to the run folders (OUT/bytes_to_accuracy.json); each run's row there also keeps the
test accuracy of every evaluated round (`acc_by_round`, for accuracy-against-time curves).
`--jobs N` runs N algorithms at once, each rank with its share of the cores.

The targets are declared before the runs (`--targets`, recorded in the JSON). One comparison is
not: the MiB each algorithm needs to reach CSE-FSL's best accuracy (`to_cse_fsl_best_acc`,
`mib_to_cse_fsl_best`) uses a target known only after the runs, CSE-FSL's realised best; the
JSON's `realised_targets` names those keys. Every JSON carries a `provenance` record
(benchmarks/provenance.py). An existing run folder under OUT is an error unless `--reuse` is
given: then a finished run is read and an interrupted one continues from its last checkpoint,
and `provenance.reused` lists them (benchmarks/run_folders.py).

With --model gpt2 the runs are configs/llm_tiny_<algorithm>.toml instead (split LoRA
fine-tuning of the tiny GPT-2 on offline E2E-like data, docs/llm.md): accuracy is next-token
accuracy, and the rows also give the final test loss (token cross-entropy) and slot error rate.

With --dtypes, FSL-SAGE also runs with each given `wire.activation_dtype` (folders
fsl_sage_<dtype>), and a second table gives, per dtype, the accuracy (and its difference from
fp32), the MiB to each target, and the MiB to reach CSE-FSL's best accuracy as a fraction of
CSE-FSL's own.

With --seeds, every algorithm runs once per seed (folders OUT/seed<S>/<algorithm>); the output
then gives each seed's table and ratios, and per algorithm the mean and the min-max spread over
seeds of final/best accuracy and of MiB to each target (with how many seeds reached it), and
the spread of the headline ratios. --json also writes the result to a second path (docs/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from provenance import record, threads_per_rank
from run_folders import claim

from fsl_sage_dist.algorithms import REGISTRY
from fsl_sage_dist.run_reader import Run, load_runs
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import MIB

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = tuple(REGISTRY)
# Keys whose accuracy bar is a result of these runs, not one declared before them.
REALISED_TARGETS = {
    "comparisons.to_cse_fsl_best_acc": "CSE-FSL's best test accuracy in these runs (realised)",
    "compression.*.mib_to_cse_fsl_best": "CSE-FSL's best test accuracy in these runs (realised)",
}


def plan_run(
    algorithm: str,
    args: argparse.Namespace,
    reused: list[dict[str, Any]],
    dtype: str = "fp32",
    seed: int | None = None,
) -> tuple[Path, list[str] | None]:
    """The run folder of `algorithm`, and the command that runs it (None: a finished run that
    --reuse lets the benchmark read; it is then listed in `reused`)."""
    name = algorithm if dtype == "fp32" else f"{algorithm}_{dtype}"
    out = args.out if seed is None else args.out / f"seed{seed}"
    overrides = [
        f"rounds={args.rounds}",
        f"data.train_limit={args.train_limit}",
        f"output.dir={out}",
        f"output.name={name}",
        "checkpoint.every=1",
        f"launch.client_hosts={args.hosts}",
        f"wire.activation_dtype={dtype}",
        *([] if seed is None else [f"seed={seed}"]),
        *thread_overrides(args),
    ]
    if args.model == "resnet18":
        # train.batch_size unset: resnet18's default, 256 (ALGORITHMS.md decision 16)
        overrides += ["model.name=resnet18", "model.cut=layer2", "model.stem=imagenet"]
    config = f"llm_tiny_{algorithm}" if args.model == "gpt2" else f"fmnist_{algorithm}"
    cmd = [
        sys.executable,
        "-m",
        "fsl_sage_dist",
        "run",
        str(ROOT / "configs" / f"{config}.toml"),
        *overrides,
    ]
    if claim(out / name, args.rounds, args.reuse, reused):
        print(f"== {algorithm}: reusing {out / name}, it has {args.rounds} rounds", flush=True)
        return out / name, None
    return out / name, cmd


def shared_threads(args: argparse.Namespace) -> int:
    """Intra-op threads per rank when `args.jobs` runs share the machine's cores."""
    return max(1, (os.cpu_count() or 1) // (args.jobs * (args.hosts + 1)))


def thread_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides every run gets after its own: the thread share, then --set (which wins)."""
    shared = [f"runtime.threads_per_rank={shared_threads(args)}"] if args.jobs > 1 else []
    return [*shared, *args.set]


def run_all(commands: list[list[str] | None], jobs: int) -> None:
    """Run the commands, `jobs` at a time; the first failure stops the benchmark."""

    def run(cmd: list[str]) -> None:
        print(f"== {' '.join(cmd[3:])}", flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)

    with ThreadPoolExecutor(jobs) as pool:
        for done in [pool.submit(run, cmd) for cmd in commands if cmd]:
            done.result()


def summarize_run(run: Run, targets: list[float]) -> dict[str, Any]:
    return {
        "algorithm": run.algorithm,
        "rounds": len(run.records),
        "final_acc": run.final_acc,
        "best_acc": run.best_acc,
        **{
            f"{kind}_mib_to": {f"{t:g}": run.mib_to_target(t, kind) for t in targets}
            for kind in ("payload", "wire")
        },
        "total_payload_mib": run.payload_mib,
        "total_wire_mib": run.records[-1]["cum_wire_bytes"] / MIB,
        "s_per_round": run.s_per_round,
        "acc_by_round": [[r["round"], r["test_acc"]] for r in run.evaluated],
        "final_loss": run.evaluated[-1]["test_loss"] if run.evaluated else None,
        **(
            {"final_ser": run.evaluated[-1]["test_ser"]}
            if run.evaluated and "test_ser" in run.evaluated[-1]
            else {}
        ),
    }


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "not reached" if value is None else format(value, spec)


def table(rows: dict[str, dict[str, Any]], targets: list[float]) -> str:
    keys = [f"{t:g}" for t in targets]
    header = [
        "algorithm",
        "final acc",
        "best acc",
        *[f"{kind} MiB@{k}" for k in keys for kind in ("payload", "wire")],
        "total payload MiB",
        "total wire MiB",
        "s/round",
    ]
    lines = [header]
    for name, row in rows.items():
        lines.append(
            [
                name,
                f"{row['final_acc']:.4f}",
                f"{row['best_acc']:.4f}",
                *[_fmt(row[f"{kind}_mib_to"][k]) for k in keys for kind in ("payload", "wire")],
                f"{row['total_payload_mib']:.1f}",
                f"{row['total_wire_mib']:.1f}",
                f"{row['s_per_round']:.1f}",
            ]
        )
    return align(lines)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def comparisons(
    rows: dict[str, dict[str, Any]], runs: dict[str, Run], targets: list[float]
) -> dict[str, Any]:
    """FSL-SAGE's MiB to each target over CSE-FSL's and SplitFed-v1's, and the MiB each needs
    to reach the best accuracy CSE-FSL reaches."""
    out: dict[str, Any] = {}
    sage = rows.get("fsl_sage")
    for other in ("cse_fsl", "splitfed_v1"):
        if sage and other in rows:
            out[f"fsl_sage/{other}"] = {
                f"{t:g}": ratio(
                    sage["payload_mib_to"][f"{t:g}"], rows[other]["payload_mib_to"][f"{t:g}"]
                )
                for t in targets
            }
    if sage and "cse_fsl" in rows:
        best = rows["cse_fsl"]["best_acc"]
        need = {name: runs[name].mib_to_target(best) for name in ("cse_fsl", "fsl_sage")}
        out["to_cse_fsl_best_acc"] = {
            "acc": best,
            "payload_mib": need,
            "fsl_sage/cse_fsl": ratio(need["fsl_sage"], need["cse_fsl"]),
        }
    return out


def compression(
    runs: dict[str, Run], by_dtype: dict[str, Run], targets: list[float]
) -> dict[str, dict[str, Any]]:
    """FSL-SAGE at each `wire.activation_dtype`: accuracy, MiB to each target, and the MiB it
    needs to reach CSE-FSL's best accuracy as a fraction of what CSE-FSL needs."""
    sage, cse = runs.get("fsl_sage"), runs.get("cse_fsl")
    rows: dict[str, dict[str, Any]] = {}
    for dtype, run in (({"fp32": sage} if sage else {}) | by_dtype).items():
        row = summarize_run(run, targets)
        if cse:
            need = run.mib_to_target(cse.best_acc)
            row["mib_to_cse_fsl_best"] = need
            row["vs_cse_fsl"] = ratio(need, cse.mib_to_target(cse.best_acc))
        if sage:
            row["final_acc_minus_fp32"] = run.final_acc - sage.final_acc
        rows[dtype] = row
    return rows


def compression_table(rows: dict[str, dict[str, Any]], targets: list[float]) -> str:
    keys = [f"{t:g}" for t in targets]
    lines = [
        [
            "fsl_sage dtype",
            "final acc",
            "- fp32",
            "best acc",
            *[f"payload MiB@{k}" for k in keys],
            "MiB@CSE best",
            "/ CSE-FSL",
        ]
    ]
    for dtype, row in rows.items():
        delta = row.get("final_acc_minus_fp32")
        lines.append(
            [
                dtype,
                f"{row['final_acc']:.4f}",
                _fmt(delta, "+.4f"),
                f"{row['best_acc']:.4f}",
                *[_fmt(row["payload_mib_to"][k]) for k in keys],
                _fmt(row.get("mib_to_cse_fsl_best")),
                _fmt(row.get("vs_cse_fsl"), ".2f"),
            ]
        )
    return align(lines)


def spread(values: list[float | None]) -> dict[str, Any]:
    """Mean and min-max over the seeds that have a value; `n` says how many did."""
    have = [v for v in values if v is not None]
    if not have:
        return {"mean": None, "min": None, "max": None, "n": 0, "of": len(values)}
    return {
        "mean": sum(have) / len(have),
        "min": min(have),
        "max": max(have),
        "n": len(have),
        "of": len(values),
    }


def over_seeds(per_seed: dict[int, dict[str, Any]], targets: list[float]) -> dict[str, Any]:
    """Per algorithm: the spread over seeds of accuracy and MiB to each target; and the spread
    of each headline ratio."""
    seeds = list(per_seed)
    algorithms = list(per_seed[seeds[0]]["runs"])
    rows: dict[str, Any] = {}
    for a in algorithms:
        runs = [per_seed[s]["runs"][a] for s in seeds]
        rows[a] = {
            key: spread([r[key] for r in runs])
            for key in ("final_acc", "best_acc", "total_payload_mib", "s_per_round")
        }
        rows[a]["payload_mib_to"] = {
            f"{t:g}": spread([r["payload_mib_to"][f"{t:g}"] for r in runs]) for t in targets
        }
    ratios: dict[str, Any] = {}
    for name, value in per_seed[seeds[0]]["comparisons"].items():
        if name == "to_cse_fsl_best_acc":
            ratios[name] = spread(
                [per_seed[s]["comparisons"][name]["fsl_sage/cse_fsl"] for s in seeds]
            )
        else:
            ratios[name] = {
                k: spread([per_seed[s]["comparisons"][name][k] for s in seeds]) for k in value
            }
    return {"runs": rows, "ratios": ratios}


def _fmt_spread(s: dict[str, Any], spec: str) -> str:
    if s["mean"] is None:
        return "not reached"
    text = f"{s['mean']:{spec}} ({s['min']:{spec}}-{s['max']:{spec}})"
    return text if s["n"] == s["of"] else f"{text} [{s['n']}/{s['of']} seeds]"


def seeds_table(summary: dict[str, Any], targets: list[float]) -> str:
    keys = [f"{t:g}" for t in targets]
    lines = [["algorithm", "final acc", "best acc", *[f"payload MiB@{k}" for k in keys]]]
    for name, row in summary["runs"].items():
        lines.append(
            [
                name,
                _fmt_spread(row["final_acc"], ".4f"),
                _fmt_spread(row["best_acc"], ".4f"),
                *[_fmt_spread(row["payload_mib_to"][k], ".1f") for k in keys],
            ]
        )
    return align(lines)


def one_seed(
    args: argparse.Namespace, seed: int | None, reused: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run every algorithm and dtype at one seed (read or continue runs only with --reuse);
    print and return its results."""
    planned = [plan_run(a, args, reused, seed=seed) for a in args.algorithms]
    planned += [plan_run("fsl_sage", args, reused, dtype, seed) for dtype in args.dtypes]
    run_all([cmd for _, cmd in planned], args.jobs)
    run_dirs = [run_dir for run_dir, _ in planned]
    loaded, messages = load_runs(run_dirs)
    if messages or None in loaded:
        sys.exit("\n".join(messages) or "a run could not be read")
    runs = dict(zip(args.algorithms, loaded))
    by_dtype = dict(zip(args.dtypes, loaded[len(args.algorithms) :]))
    rows = {a: summarize_run(run, args.targets) for a, run in runs.items()}
    print(f"\n{'' if seed is None else f'seed {seed}'}")
    print(table(rows, args.targets))
    if args.model == "gpt2":
        print(
            align(
                [
                    ["algorithm", "final test loss", "final slot error rate"],
                    *[
                        [a, f"{r['final_loss']:.4f}", f"{r.get('final_ser', float('nan')):.3f}"]
                        for a, r in rows.items()
                    ],
                ]
            )
        )
    extra = comparisons(rows, runs, args.targets)
    for name, value in extra.items():
        print(f"{name}: {json.dumps(value)}")
    result = {"comparisons": extra, "runs": rows}
    if args.dtypes:
        result["compression"] = compression(runs, by_dtype, args.targets)
        print()
        print(compression_table(result["compression"], args.targets))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--train-limit",
        type=int,
        default=0,
        help="data.train_limit: total training samples (0 = all 60,000)",
    )
    parser.add_argument(
        "--model", choices=("simple_conv", "resnet18", "gpt2"), default="simple_conv"
    )
    parser.add_argument("--hosts", type=int, default=2, help="launch.client_hosts")
    parser.add_argument(
        "--targets",
        type=float,
        nargs="+",
        default=[0.80, 0.85],
        help="test accuracies to report the MiB to, declared before the runs",
    )
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument(
        "--dtypes",
        nargs="*",
        choices=("fp16", "bf16", "int8"),
        default=[],
        help="also run FSL-SAGE with these wire.activation_dtype values and "
        "print the compression table",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bytes_to_accuracy")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra config overrides for every run",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="run every algorithm once per seed and report the spread "
        "(default: the configs' seed, one run each)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the result JSON here (e.g. under docs/)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read finished run folders under --out and continue interrupted ones instead of "
        "stopping at them; the JSON's provenance lists each",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time (each with its share of the cores; s/round is then measured "
        "while sharing the machine)",
    )
    args = parser.parse_args()
    reused: list[dict[str, Any]] = []
    result = {
        "provenance": record(threads_per_rank=threads_per_rank(thread_overrides(args))),
        "model": args.model,
        "rounds": args.rounds,
        "train_limit": args.train_limit,
        "targets": args.targets,
        "realised_targets": REALISED_TARGETS,
        "extra_overrides": args.set,
    }
    if args.seeds is None:
        result |= one_seed(args, None, reused)
    else:
        per_seed = {seed: one_seed(args, seed, reused) for seed in args.seeds}
        result |= {
            "seeds": args.seeds,
            "over_seeds": over_seeds(per_seed, args.targets),
            "per_seed": {str(s): r for s, r in per_seed.items()},
        }
        print(f"\nover seeds {args.seeds}: mean (min-max)")
        print(seeds_table(result["over_seeds"], args.targets))
        for name, value in result["over_seeds"]["ratios"].items():
            print(f"{name}: {json.dumps(value)}")
    result["provenance"]["reused"] = reused
    for path in [args.out / "bytes_to_accuracy.json", *([args.json] if args.json else [])]:
        write_json(path, result)  # atomic: an interrupted benchmark leaves the old file whole
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
