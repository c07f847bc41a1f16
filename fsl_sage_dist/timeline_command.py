"""`fsl-sage timeline`: simulated time to accuracy of finished (or running) runs, on any link.

    fsl-sage timeline runs/fedavg runs/fsl_sage --up-mbps 2 --down-mbps 10 --rtt-ms 60
    fsl-sage timeline runs/* --up-mbps 20 --down-mbps 100 --rtt-ms 20 --compute declared \\
        --client-iter-ms 40 --server-step-ms 15 --align-ms 900 --plot mobile.png

Replays each run's `messages.jsonl` under the profile (`timeline/`); without --up-mbps, the
profile the run itself was configured with (`network.*`). Per run it prints the simulated
seconds per round, the simulated time to each target accuracy (at the end of the first
evaluated round that reached it), and where the time goes: the shares of the critical path
spent computing and transferring, and the share of a round a client waits. Reads only RUN_DIR
files and imports nothing of torch.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsl_sage_dist.compare import DEFAULT_TARGETS, NOT_REACHED, target_accuracy
from fsl_sage_dist.config import ConfigError, NetworkConfig, config_from_dict
from fsl_sage_dist.errors import WriteError
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.run_reader import labels, read_config
from fsl_sage_dist.rundir.messages import LogError, read_messages
from fsl_sage_dist.rundir.records import RunError, read_metrics, write_json
from fsl_sage_dist.text_table import align, duration
from fsl_sage_dist.timeline import RoundTime, replay

PROFILE_FLAGS = (
    "up_mbps",
    "down_mbps",
    "rtt_ms",
    "spread",
    "server_mbps",
    "compute",
    "client_iter_ms",
    "server_step_ms",
    "align_ms",
    "client_slowdown",
)


@dataclass
class RunTimeline:
    label: str
    algorithm: str
    records: list[dict[str, Any]]
    rounds: list[RoundTime]

    @property
    def cum_s(self) -> list[float]:
        total, out = 0.0, []
        for r in self.rounds:
            total += r.seconds
            out.append(total)
        return out

    def seconds_to_target(self, target: float) -> float | None:
        for record, cum in zip(self.records, self.cum_s):
            if record["test_acc"] is not None and record["test_acc"] >= target:
                return cum
        return None

    def shares(self) -> dict[str, float]:
        total = sum(r.seconds for r in self.rounds) or 1.0
        return {
            "compute": sum(r.client_s + r.server_s for r in self.rounds) / total,
            "transfer": sum(r.transfer_s for r in self.rounds) / total,
            "client_idle": sum(r.client_idle * r.seconds for r in self.rounds) / total,
        }


def profile(args: argparse.Namespace, config: dict[str, Any]) -> NetworkConfig:
    """The flags' profile, or the run's own `network` section when no --up-mbps is given."""
    given = {k: getattr(args, k) for k in PROFILE_FLAGS if getattr(args, k) is not None}
    if args.up_mbps is None:
        net = config_from_dict({"network": config.get("network", {})}).network
        if not net.enabled:
            raise ConfigError(
                "no profile: give --up-mbps and --down-mbps (the run was not "
                "configured with network.up_mbps)"
            )
        return net
    return config_from_dict({"network": given}).network


def load_timeline(
    run_dir: Path, label: str, args: argparse.Namespace, warnings: list[str]
) -> RunTimeline:
    records = read_metrics(run_dir / "metrics.jsonl", warnings)
    config = read_config(run_dir, warnings)
    logs = read_messages(run_dir)[: len(records)]
    if len(logs) < len(records):
        raise LogError(
            f"{run_dir}/messages.jsonl has {len(logs)} rounds, metrics.jsonl {len(records)}"
        )
    try:
        plan = Plan.of_dict(config)
    except (KeyError, TypeError) as err:
        raise LogError(f"{run_dir}/config.toml lacks {err} (needed for the schedule)") from None
    if args.per_client_devices:
        plan = plan.with_client_hosts(plan.num_clients)
    net = profile(args, config)
    try:
        rounds = replay(plan, logs, net)
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as err:  # parsed, checked, but
        raise LogError(  # not this run's schedule (clients or iterations config.toml lacks)
            f"{run_dir}/messages.jsonl does not fit the schedule of its config.toml "
            f"({type(err).__name__}: {str(err)[:120]})"
        ) from None
    return RunTimeline(label, records[-1]["algorithm"], records[: len(rounds)], rounds)


def summary(run: RunTimeline, targets: list[float]) -> dict[str, Any]:
    return {
        "run": run.label,
        "algorithm": run.algorithm,
        "rounds": len(run.rounds),
        "sim_s_per_round": run.cum_s[-1] / len(run.rounds),
        "seconds_to_target": {f"{t:g}": run.seconds_to_target(t) for t in targets},
        "shares": run.shares(),
    }


def format_table(rows: list[dict[str, Any]], targets: list[float]) -> str:
    keys = [f"{t:g}" for t in targets]
    cells = [
        [
            "run",
            "algorithm",
            "rounds",
            "sim s/round",
            *[f"time@{k}" for k in keys],
            "compute",
            "transfer",
            "client idle",
        ]
    ]
    for row in rows:
        shares = row["shares"]
        cells.append(
            [
                row["run"],
                row["algorithm"],
                str(row["rounds"]),
                f"{row['sim_s_per_round']:.2f}",
                *[
                    NOT_REACHED
                    if row["seconds_to_target"][k] is None
                    else duration(row["seconds_to_target"][k])
                    for k in keys
                ],
                *[f"{100 * shares[k]:.0f}%" for k in ("compute", "transfer", "client_idle")],
            ]
        )
    return align(cells, left=2, rule=True)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "timeline",
        help="simulated time to accuracy of runs on a network profile",
        description="Replay each run's message log on a network profile: simulated time per "
        "round and to each target accuracy, and where the time goes.",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--up-mbps", type=float, help="each client's uplink, Mbit/s")
    p.add_argument("--down-mbps", type=float, help="each client's downlink, Mbit/s")
    p.add_argument("--rtt-ms", type=float, help="round-trip time of a client's link")
    p.add_argument(
        "--spread",
        type=float,
        help="sigma of a log-normal per-client bandwidth factor (default 0: all alike)",
    )
    p.add_argument(
        "--server-mbps",
        type=float,
        help="the server's link each way (default 0: never the bottleneck)",
    )
    p.add_argument(
        "--compute",
        choices=("measured", "declared"),
        help="the runs' measured compute times (default) or the declared ones below",
    )
    p.add_argument("--client-iter-ms", type=float)
    p.add_argument("--server-step-ms", type=float)
    p.add_argument("--align-ms", type=float)
    p.add_argument(
        "--client-slowdown",
        type=float,
        help="multiply client compute times (10: a device 10x slower)",
    )
    p.add_argument(
        "--per-client-devices",
        action="store_true",
        help="every client on its own device (a deployment), whatever "
        "launch.client_hosts the run had (default: co-hosted clients in lockstep, "
        "as the run executed them)",
    )
    p.add_argument(
        "--target-acc", nargs="+", type=target_accuracy, default=list(DEFAULT_TARGETS), metavar="A"
    )
    p.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="also draw accuracy against simulated time"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    p.set_defaults(func=cmd_timeline)


def cmd_timeline(args: argparse.Namespace) -> int:
    runs, warnings, skipped = [], [], 0
    for label, run_dir in zip(labels(args.run_dirs), args.run_dirs, strict=True):
        try:
            runs.append(load_timeline(run_dir, label, args, warnings))
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except (RunError, LogError) as err:
            warnings.append(f"skipping run {label}: {err}")
            skipped += 1
    for message in warnings:
        print(f"warning: {message}", file=sys.stderr)
    if not runs:
        print("error: none of the runs could be replayed", file=sys.stderr)
        return 2
    rows = [summary(run, args.target_acc) for run in runs]
    print(format_table(rows, args.target_acc))
    print(
        "compute/transfer: shares of the simulated time's critical path; client idle: "
        "share of a round a client waits"
    )
    status = 1 if skipped else 0
    return _write_outputs(args, runs, rows, status)


def _write_outputs(
    args: argparse.Namespace, runs: list[RunTimeline], rows: list[dict[str, Any]], status: int
) -> int:
    """--json and --plot; a failure is one line (the path and why), as in `compare`."""
    from fsl_sage_dist.compare_plot import PlotUnavailable, plot_time

    try:
        if args.json:
            write_json(args.json, {"targets": args.target_acc, "runs": rows})
        if args.plot:
            plot_time(
                [(r.label, r.algorithm, r.records, r.cum_s) for r in runs],
                args.target_acc,
                args.plot,
            )
            print(f"plot written to {args.plot}")
    except (PlotUnavailable, WriteError) as err:  # a WriteError names the path itself
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return 1
    except ValueError as err:  # matplotlib: a file name whose format it does not know
        print(f"error: cannot write {args.plot}: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    return status
