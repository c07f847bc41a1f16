"""Simulated time to accuracy of the five algorithms on three link profiles.

    python benchmarks/time_to_accuracy.py --model simple_conv \
        --json docs/time_to_accuracy_simple_conv.json
    python benchmarks/time_to_accuracy.py --model resnet18 \
        --json docs/time_to_accuracy_resnet18.json

The bytes-to-accuracy benchmark (benchmarks/bytes_to_accuracy.py, docs/bytes_to_accuracy_*.json)
says after how many payload MiB each algorithm first reached 80% and 85%. Every round of one
algorithm moves the same messages (FSL-SAGE: alignment rounds, t % 10 == 0, add the aux
download), so that is a number of rounds. This script runs each algorithm for two rounds on the
same config (round 0 aligns, round 1 does not), takes its message log (`messages.jsonl`),
declares compute from the measured times (`declared_compute`: one set for all split
algorithms, so every profile and algorithm uses the same times), replays both rounds on each
profile with every client on its own device, and adds up the rounds to each target. It checks
that the two-round run's payload per round reproduces the recorded MiB to target exactly, so
the round counts are those of the recorded runs.

`--recorded` names another bytes-to-accuracy JSON (e.g. runs made on a GPU). Where its rows
keep the accuracy of every round (`acc_by_round`), the result also has, per algorithm and
profile, the simulated time at the end of each evaluated round with its accuracy (`curve`), and
`--plot` draws accuracy against simulated time on the mobile link; otherwise it draws the
minutes to the first target as bars.

Profiles: a data centre (10 Gbit/s both ways, 0.1 ms RTT), broadband (100 Mbit/s down, 20 up,
20 ms) and a mobile link (10 Mbit/s down, 2 up, 60 ms).

The JSON carries a `provenance` record (benchmarks/provenance.py). An existing two-round run
folder under OUT is an error unless `--reuse` is given; `provenance.reused` then lists it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance import record, relative, threads_per_rank
from run_folders import claim

from fsl_sage_dist.config import NetworkConfig
from fsl_sage_dist.plan import SPECS, Plan
from fsl_sage_dist.run_reader import read_config
from fsl_sage_dist.rundir.messages import RoundMessages, read_messages
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.text_table import align, duration
from fsl_sage_dist.timeline import simulate_round
from fsl_sage_dist.units import MIB

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ("fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage")
PROFILES = {
    "data centre": {"up_mbps": 10_000, "down_mbps": 10_000, "rtt_ms": 0.1},
    "broadband": {"up_mbps": 20, "down_mbps": 100, "rtt_ms": 20},
    "mobile": {"up_mbps": 2, "down_mbps": 10, "rtt_ms": 60},
}
ALIGN_INTERVAL = 10  # the benchmark's fsl.align_interval (the configs' default)


def run_two_rounds(
    algorithm: str,
    recorded: dict[str, Any],
    args: argparse.Namespace,
    reused: list[dict[str, Any]],
) -> Path:
    out = args.out / recorded["model"]
    overrides = [
        "rounds=2",
        f"data.train_limit={recorded['train_limit']}",
        f"output.dir={out}",
        f"output.name={algorithm}",
        "eval.every=1000",
        *recorded["extra_overrides"],
        *args.set,
    ]
    if recorded["model"] == "resnet18":  # as benchmarks/bytes_to_accuracy.py runs it
        overrides += ["model.name=resnet18", "model.cut=layer2", "model.stem=imagenet"]
    if claim(out / algorithm, 2, args.reuse, reused):
        print(f"== {algorithm}: reusing {out / algorithm}, it has 2 rounds", flush=True)
        return out / algorithm
    cmd = [
        sys.executable,
        "-m",
        "fsl_sage_dist",
        "run",
        str(ROOT / "configs" / f"fmnist_{algorithm}.toml"),
        *overrides,
    ]
    print(f"== {algorithm}: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return out / algorithm


def samples_ms(logs: list[RoundMessages]) -> dict[str, list[float]]:
    """The measured compute of the logged rounds, in ms, by declared-compute key."""
    return {
        "client_iter_ms": [(f + u) * 1000 for log in logs for f, u in log.client_s.values()],
        "server_step_ms": [s * 1000 for log in logs for s in log.server_step_s.values()],
        "align_ms": [s * 1000 for log in logs for s in log.align_s.values()],
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def declared_compute(logs: dict[str, list[RoundMessages]]) -> dict[str, dict[str, float]]:
    """One declared set for every split algorithm, the medians of all their measured times
    pooled (they do the same client and server work up to an aux head, and one set keeps
    measurement noise out of the ranking); FedAvg's clients train the whole model, so its
    client iteration is its own median."""
    pooled: dict[str, list[float]] = {"client_iter_ms": [], "server_step_ms": [], "align_ms": []}
    for algorithm, rounds in logs.items():
        if not SPECS[algorithm].full_model_on_client:
            for key, values in samples_ms(rounds).items():
                pooled[key] += values
    common = {key: median(values) for key, values in pooled.items()}
    return {
        a: (
            common | {"client_iter_ms": median(samples_ms(rounds)["client_iter_ms"])}
            if SPECS[a].full_model_on_client
            else common
        )
        for a, rounds in logs.items()
    }


def rounds_to(mib_to: float | None, payload: list[int]) -> int | None:
    """The number of rounds whose cumulative payload is exactly `mib_to` MiB."""
    if mib_to is None:
        return None
    cum = 0
    for t in range(10_000):
        cum += payload[0] if t % ALIGN_INTERVAL == 0 else payload[1]
        if cum / MIB == mib_to:
            return t + 1
        if cum / MIB > mib_to:
            break
    raise SystemExit(
        f"no round count gives {mib_to} MiB with {payload} bytes per round: the "
        "two-round runs do not match the recorded benchmark's config"
    )


def one_algorithm(
    run_dir: Path,
    logs: list[RoundMessages],
    compute: dict[str, float],
    recorded_run: dict[str, Any],
    targets: list[str],
) -> dict[str, Any]:
    config = read_config(run_dir, [])
    plan = Plan.of_dict(config).with_client_hosts(config["clients"]["num"])
    payload = [
        json.loads(line)["round_payload_bytes"]
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    rounds = {t: rounds_to(recorded_run["payload_mib_to"][t], payload) for t in targets}
    result: dict[str, Any] = {
        "declared_compute": compute,
        "measured_median": {k: median(v) for k, v in samples_ms(logs).items()},
        "payload_bytes_per_round": payload,
        "rounds_to": rounds,
        "round_s": {},
        "time_to_s": {},
    }
    curves = "acc_by_round" in recorded_run
    if curves:
        result["curve"] = {}
    for name, links in PROFILES.items():
        net = NetworkConfig(**links, compute="declared", **compute)
        aligned, plain = (simulate_round(plan, log, net).seconds for log in logs)
        result["round_s"][name] = {"aligned": aligned, "plain": plain}
        result["time_to_s"][name] = {
            t: None if k is None else elapsed(k, aligned, plain) for t, k in rounds.items()
        }
        if curves:  # simulated seconds at the end of each evaluated round, and its accuracy
            result["curve"][name] = [
                [elapsed(r + 1, aligned, plain), acc] for r, acc in recorded_run["acc_by_round"]
            ]
    return result


def elapsed(rounds: int, aligned: float, plain: float) -> float:
    """Simulated seconds of the first `rounds` rounds (every ALIGN_INTERVAL-th one aligns)."""
    return sum(aligned if r % ALIGN_INTERVAL == 0 else plain for r in range(rounds))


def table(results: dict[str, dict[str, Any]], targets: list[str]) -> str:
    cells = [
        [
            "algorithm",
            "rounds to " + " / ".join(f"{float(t):.0%}" for t in targets),
            *[f"{p}: {int(float(t) * 100)}%" for p in PROFILES for t in targets],
        ]
    ]
    for algorithm, r in results.items():
        counts = " / ".join(
            "not reached" if r["rounds_to"][t] is None else str(r["rounds_to"][t]) for t in targets
        )
        cells.append(
            [
                algorithm,
                counts,
                *[
                    "not reached"
                    if r["time_to_s"][p][t] is None
                    else duration(r["time_to_s"][p][t])
                    for p in PROFILES
                    for t in targets
                ],
            ]
        )
    return align(cells, left=1, rule=True)


def markdown(results: dict[str, dict[str, Any]], targets: list[str]) -> str:
    """The docs/timeline.md table (tests/test_readme_numbers.py checks it against the JSON)."""
    names = {
        "fedavg": "FedAvg",
        "splitfed_v1": "SplitFed-v1",
        "splitfed_v2": "SplitFed-v2",
        "cse_fsl": "CSE-FSL",
        "fsl_sage": "FSL-SAGE",
    }
    text = table(results, targets).splitlines()
    header = [c.strip() for c in text[0].split("  ") if c.strip()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for algorithm, r in results.items():
        cells = [
            names[algorithm],
            " / ".join(
                "not reached" if r["rounds_to"][t] is None else str(r["rounds_to"][t])
                for t in targets
            ),
        ]
        cells += [
            "not reached" if r["time_to_s"][p][t] is None else duration(r["time_to_s"][p][t])
            for p in PROFILES
            for t in targets
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], target: str, path: Path) -> None:
    """Accuracy against simulated time on the mobile link where the recorded runs kept their
    per-round accuracy, else the minutes to `target` as bars."""
    if all("curve" in r for r in results.values()):
        plot_curves(results, "mobile", path)
    else:
        plot_bars(results, target, path)


def plot_curves(results: dict[str, dict[str, Any]], profile: str, path: Path) -> None:
    """Test accuracy after each round against simulated minutes on `profile` (log scale)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for algorithm, r in results.items():
        seconds, acc = zip(*r["curve"][profile])
        ax.plot([s / 60 for s in seconds], acc, marker=".", label=algorithm)
    links = PROFILES[profile]
    ax.set_xscale("log")
    ax.set(
        xlabel="simulated minutes",
        ylabel="test accuracy",
        title=f"{profile} link: {links['down_mbps']:g} Mbit/s down, {links['up_mbps']:g} up, "
        f"{links['rtt_ms']:g} ms RTT",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)


def plot_bars(results: dict[str, dict[str, Any]], target: str, path: Path) -> None:
    """Simulated minutes to `target` per algorithm, one group of bars per profile (log scale)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(results)
    for i, (algorithm, r) in enumerate(results.items()):
        minutes = [(r["time_to_s"][p][target] or float("nan")) / 60 for p in PROFILES]
        ax.bar([x + i * width for x in range(len(PROFILES))], minutes, width, label=algorithm)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(PROFILES))], list(PROFILES))
    ax.set_yscale("log")
    ax.set(
        ylabel=f"simulated minutes to {float(target):.0%}",
        title=f"time to {float(target):.0%} test accuracy (missing bar: not reached)",
    )
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("simple_conv", "resnet18"), default="simple_conv")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument(
        "--recorded",
        type=Path,
        default=None,
        help="the bytes-to-accuracy JSON whose runs give the rounds to each target "
        "(default: docs/bytes_to_accuracy_MODEL.json)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "time_to_accuracy")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra overrides for every run (must not change the bytes)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="also draw accuracy against simulated time on the mobile link, or the minutes "
        "to the first target (needs matplotlib)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read finished two-round run folders under --out instead of stopping at them; "
        "the JSON's provenance lists each",
    )
    args = parser.parse_args()
    recorded_path = args.recorded or ROOT / "docs" / f"bytes_to_accuracy_{args.model}.json"
    recorded = json.loads(recorded_path.read_text())
    targets = [f"{t:g}" for t in recorded["targets"]]
    overrides = [*recorded["extra_overrides"], *args.set]
    provenance = record(threads_per_rank=threads_per_rank(overrides))
    reused: list[dict[str, Any]] = []
    run_dirs = {a: run_two_rounds(a, recorded, args, reused) for a in args.algorithms}
    logs = {a: read_messages(run_dir) for a, run_dir in run_dirs.items()}
    compute = declared_compute(logs)
    results = {
        a: one_algorithm(run_dirs[a], logs[a], compute[a], recorded["runs"][a], targets)
        for a in args.algorithms
    }
    print(table(results, targets))
    print(markdown(results, targets))
    if args.plot:
        plot(results, targets[0], args.plot)
    data = {
        "provenance": provenance | {"reused": reused},
        "model": args.model,
        "recorded": relative(recorded_path),
        "targets": targets,
        "profiles": PROFILES,
        "per_client_devices": True,
        "results": results,
    }
    write_json(args.out / args.model / "time_to_accuracy.json", data)
    if args.json:
        write_json(args.json, data)


if __name__ == "__main__":
    main()
