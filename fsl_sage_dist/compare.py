"""`fsl-sage compare`: accuracy against bytes, across runs.

    fsl-sage compare runs/fedavg runs/fsl_sage --target-acc 0.8 0.85 --plot cmp.png --json cmp.json

Reads only RUN_DIR contract files (metrics.jsonl, and config.toml for the planned rounds;
DESIGN.md section 6), so it works on runs copied from a cluster and on runs still going. It
imports nothing of torch. The columns:

- final acc / best acc: the last evaluated / the best test accuracy in metrics.jsonl;
- payload MiB: cumulative payload bytes after the last round (payload: DESIGN.md section 3);
- client peak MiB: the largest client peak of the run's memory accounting (`memory` in
  metrics.jsonl: what one client holds in a round, as if on its own device); "-" for a run
  without it;
- MiB@A: cumulative payload MiB at the end of the first *evaluated* round with test accuracy
  >= A, else "not reached" (so its resolution is `eval.every` rounds);
- s/round: mean `round_s`;
- ratio@A: this run's MiB@A over the baseline run's (`--baseline`, default the first RUN_DIR);
- time@A: where runs were configured with a network profile (`network.*`), the simulated time
  (`cum_sim_s`) at the same round as MiB@A; "-" for a run without one. Any profile, after the
  fact: `fsl-sage timeline`.

A run whose metrics.jsonl is missing, empty or has a bad line (not JSON, a key missing, a round
out of sequence) is skipped as a whole, with a message naming the file and line: a run with a
hole in it would report numbers it never measured. The other runs are still reported and the
exit status is 1. Exit status 2: no run could be read, or a bad `--baseline`. Warnings, not
skips: an incomplete last line (read without it), a NaN accuracy (shown as missing), runs on
different datasets.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fsl_sage_dist.compare_plot import PlotUnavailable, plot_runs
from fsl_sage_dist.errors import WriteError
from fsl_sage_dist.log import logger
from fsl_sage_dist.run_reader import Run, labels, load_runs
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.text_table import align, duration

DEFAULT_TARGETS = (0.80, 0.85)
NOT_REACHED = "not reached"


def resolve_baseline(choice: str | None, run_dirs: list[Path]) -> int:
    """--baseline as one of the RUN_DIRs given (path or folder name) or a 0-based index."""
    if choice is None:
        return 0
    for i, (label, run_dir) in enumerate(zip(labels(run_dirs), run_dirs, strict=True)):
        if choice == label or Path(choice).resolve() == run_dir.resolve():
            return i
    if choice.isdigit() and int(choice) < len(run_dirs):
        return int(choice)
    raise ValueError(
        f"--baseline {choice!r} is neither one of the RUN_DIRs given "
        f"({', '.join(labels(run_dirs))}) nor an index 0..{len(run_dirs) - 1}"
    )


def run_summary(run: Run, targets: list[float], baseline: Run | None) -> dict[str, Any]:
    """One run's row, as plain data (also what --json writes)."""
    mib = {t: run.mib_to_target(t) for t in targets}
    base = {t: baseline.mib_to_target(t) if baseline else None for t in targets}
    ratio = {t: mib[t] / base[t] if mib[t] is not None and base[t] else None for t in targets}
    return {
        "run": run.label,
        "path": str(run.path),
        "algorithm": run.algorithm,
        "rounds": len(run.records),
        "planned_rounds": run.planned_rounds,
        "final_acc": run.final_acc,
        "best_acc": run.best_acc,
        "payload_mib": run.payload_mib,
        "client_peak_mib": run.client_peak_mib,
        "mib_to_target": {f"{t:g}": mib[t] for t in targets},
        "ratio_to_baseline": {f"{t:g}": ratio[t] for t in targets},
        "s_per_round": run.s_per_round,
        "sim_s_to_target": (
            {f"{t:g}": run.sim_s_to_target(t) for t in targets} if run.has_timeline else None
        ),
    }


def _cell(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _sim_cell(sim: dict[str, float | None] | None, key: str) -> str:
    if sim is None:
        return "-"
    return duration(sim[key]) if sim[key] is not None else NOT_REACHED


def format_table(rows: list[dict[str, Any]], targets: list[float]) -> str:
    keys = [f"{t:g}" for t in targets]
    timed = any(row["sim_s_to_target"] is not None for row in rows)
    header = [
        "run",
        "algorithm",
        "rounds",
        "final acc",
        "best acc",
        "payload MiB",
        "client peak MiB",
        *[f"MiB@{k}" for k in keys],
        "s/round",
        *[f"ratio@{k}" for k in keys],
        *[f"time@{k}" for k in keys if timed],
    ]
    cells = [header]
    for row in rows:
        sim = row["sim_s_to_target"]
        planned = f"/{row['planned_rounds']}" if row["planned_rounds"] is not None else ""
        cells.append(
            [
                row["run"],
                row["algorithm"],
                f"{row['rounds']}{planned}",
                _cell(row["final_acc"], ".4f"),
                _cell(row["best_acc"], ".4f"),
                _cell(row["payload_mib"], ".2f"),
                _cell(row["client_peak_mib"], ".2f"),
                *[_cell(row["mib_to_target"][k], ".2f", NOT_REACHED) for k in keys],
                _cell(row["s_per_round"], ".2f"),
                *[_cell(row["ratio_to_baseline"][k], ".2f") for k in keys],
                *[_sim_cell(sim, k) for k in keys if timed],
            ]
        )
    return align(cells, left=2, rule=True)


def target_accuracy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"a target accuracy is a number in (0, 1] (0.85 for 85%), got {text!r}"
        )
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare runs: accuracy against payload MiB, as a table and a plot",
        description="A table of accuracy against payload MiB per run (MiB to reach each target "
        "accuracy, ratios against a baseline run), optionally as JSON and as a plot.",
    )
    p.add_argument(
        "run_dirs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="a run's folder (output.dir/output.name)",
    )
    p.add_argument(
        "--target-acc",
        nargs="+",
        type=target_accuracy,
        default=list(DEFAULT_TARGETS),
        metavar="A",
        help="test accuracies (0..1) to report MiB-to-reach for (default: 0.80 0.85)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw accuracy vs cumulative payload MiB and vs round",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    p.add_argument(
        "--baseline",
        metavar="RUN_DIR_OR_INDEX",
        help="the run ratios are taken against: a RUN_DIR given, its folder name, "
        "or a 0-based index (default: 0, the first)",
    )
    p.set_defaults(func=cmd_compare)


def _write_outputs(
    args: argparse.Namespace, runs: list[Run], rows: list[dict[str, Any]], baseline: Run | None
) -> int:
    status = 0
    try:
        if args.json:
            write_json(
                args.json,
                {
                    "targets": args.target_acc,
                    "runs": rows,
                    "baseline": baseline.label if baseline else None,
                },
            )
        if args.plot:
            plot_runs(runs, args.target_acc, args.plot)
            logger.info(f"plot written to {args.plot}")
    except (PlotUnavailable, WriteError) as err:  # a WriteError names the path itself
        logger.error(f"{err}")
        status = 1
    except OSError as err:
        logger.error(f"cannot write {err.filename}: {err.strerror}")
        status = 1
    return status


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        baseline_index = resolve_baseline(args.baseline, args.run_dirs)
    except ValueError as err:
        logger.error(f"{err}")
        return 2
    loaded, messages = load_runs(args.run_dirs)
    for message in messages:
        logger.warning(f"{message}")
    runs = [run for run in loaded if run is not None]
    if not runs:
        logger.error("none of the runs could be read")
        return 2
    baseline = loaded[baseline_index]
    rows = [run_summary(run, args.target_acc, baseline) for run in runs]
    print(format_table(rows, args.target_acc))
    if baseline:
        print(f"ratio@A = MiB@A / MiB@A of the baseline run {baseline.label}")
    else:
        print(f"no ratios: the baseline run {args.run_dirs[baseline_index]} was skipped")
    status = _write_outputs(args, runs, rows, baseline)
    return 1 if len(runs) < len(loaded) else status
