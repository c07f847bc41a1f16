"""What the memory meter costs: round time with the meter on and off, in one run.

    python benchmarks/memory_overhead.py [--repeats 3] [--rounds 4] [--algorithms fsl_sage]

simple_conv on synthetic Fashion-MNIST-shaped data (the shipped configs' model, 10 clients,
`--samples` training samples), in process (`runtime/in_process.py`, so every phase of every
client and of the server runs in this one process and a timing is not spread over ranks).
Each repeat runs the job twice, once with the meter as every run has it and once with
`MemoryMeter(enabled=False)` (its phases yield without holdings or saved-tensor hooks),
alternating which goes first so that a load change on the machine hits both. One thread
(`runtime.threads_per_rank=1`). Round 0 is left out (start-up, and an alignment for FSL-SAGE);
a run's time is the mean wall seconds of its later rounds (the process's CPU time is no better
a clock: threads waiting for their turn spin), and the overhead is
median(on) / median(off) - 1 over the repeats. On a loaded machine the repeats spread more
than the meter costs, so one more run with the meter on times the meter's own work (its
holdings, each saved tensor's packing and release: `METER_WORK`) and reports its share of the
run's round time, `inside_meter_share`: a lower bound that noise does not move much.
benchmarks/memory.py calls `measure` and records it in docs/memory.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from functools import partialmethod, wraps
from typing import Any, Iterator
from unittest import mock

from fsl_sage_dist.config import load_config
from fsl_sage_dist.memory import Holdings, MemoryMeter, saved
from fsl_sage_dist.runtime.in_process import run_in_process

GOAL = 0.03
"""The overhead the meter is meant to stay under."""


@contextmanager
def meter(enabled: bool) -> Iterator[None]:
    """Every MemoryMeter built inside is `enabled` or not (the Context's default factory)."""
    if enabled:
        yield
        return
    off = partialmethod(MemoryMeter.__init__, enabled=False)
    with mock.patch.object(MemoryMeter, "__init__", off):
        yield


# Where the meter's work is done: a phase's holdings (twice per phase) and each saved tensor's
# packing and release. What is left out (a phase's few dict operations, entering the hooks)
# makes `inside_meter` a lower bound.
METER_WORK = [
    (Holdings, "module"),
    (Holdings, "add"),
    (Holdings, "optimizer"),
    (saved._Saved, "__init__"),
    (saved._Saved, "__del__"),
    (MemoryMeter, "offer"),
]


@contextmanager
def inside_meter() -> Iterator[list[float]]:
    """Accumulate the wall seconds spent in METER_WORK (outermost calls only, per thread)."""
    spent, depth = [0.0], threading.local()

    def timed(work: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(work)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            depth.level = level + 1
            start = time.perf_counter()
            try:
                return work(*args, **kwargs)
            finally:
                depth.level = level
                if level == 0:
                    spent[0] += time.perf_counter() - start

        return wrapper

    with ExitStack() as stack:
        for owner, name in METER_WORK:
            stack.enter_context(mock.patch.object(owner, name, timed(getattr(owner, name))))
        yield spent


def steady_round_s(algorithm: str, args: argparse.Namespace, enabled: bool) -> float:
    """Mean wall seconds of the rounds after round 0."""
    return statistics.mean(r["round_s"] for r in records(algorithm, args, enabled)[1:])


def records(algorithm: str, args: argparse.Namespace, enabled: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out, meter(enabled):
        cfg = load_config(
            None,
            [
                f"algorithm={algorithm}",
                "data.name=synthetic",
                f"data.synthetic_size=[{args.samples},10]",
                f"rounds={args.rounds}",
                "eval.every=1000",
                "checkpoint.every=0",
                f"output.dir={out}",
                "output.name=run",
                "launch.client_hosts=1",
                "runtime.threads_per_rank=1",
                *args.set,
            ],
        )
        got = run_in_process(cfg)
    if enabled == (got[-1]["memory"]["client_peak_bytes"] == 0):
        raise RuntimeError(f"the meter was meant to be {'on' if enabled else 'off'}")
    return got


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Per algorithm: each repeat's steady s/round on and off, their medians and the ratio."""
    results: dict[str, Any] = {}
    for algorithm in args.algorithms:
        times: dict[str, list[float]] = {"on": [], "off": []}
        for repeat in range(args.repeats):
            order = ("on", "off") if repeat % 2 == 0 else ("off", "on")
            for mode in order:
                print(f"== overhead: {algorithm}, repeat {repeat + 1}, meter {mode}", flush=True)
                times[mode].append(steady_round_s(algorithm, args, mode == "on"))
        on, off = statistics.median(times["on"]), statistics.median(times["off"])
        print(f"== overhead: {algorithm}, meter on, its own work timed", flush=True)
        with inside_meter() as spent:
            rounds_s = sum(r["round_s"] for r in records(algorithm, args, True))
        results[algorithm] = {
            "inside_meter_s": spent[0],
            "timed_run_round_s": rounds_s,
            "inside_meter_share": spent[0] / rounds_s,
            "round_s_on": times["on"],
            "round_s_off": times["off"],
            "median_on_s": on,
            "median_off_s": off,
            "overhead": on / off - 1,
        }
    return {
        "model": "simple_conv",
        "samples": args.samples,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "extra_overrides": args.set,
        "goal": GOAL,
        "results": results,
    }


def table(overhead: dict[str, Any]) -> str:
    from fsl_sage_dist.text_table import align

    lines = [
        [
            "algorithm",
            "meter on s/round",
            "meter off s/round",
            "overhead",
            "runs on / off",
            "inside the meter",
        ]
    ]
    for algorithm, got in overhead["results"].items():
        runs = " / ".join(" ".join(f"{t:.2f}" for t in got[f"round_s_{m}"]) for m in ("on", "off"))
        lines.append(
            [
                algorithm,
                f"{got['median_on_s']:.3f}",
                f"{got['median_off_s']:.3f}",
                f"{got['overhead']:+.1%}",
                runs,
                f"{got['inside_meter_share']:.2%}",
            ]
        )
    return align(lines, left=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="runs with the meter on and off")
    parser.add_argument("--rounds", type=int, default=3, help="per run; round 0 is left out")
    parser.add_argument("--samples", type=int, default=3000, help="training samples (10 clients)")
    parser.add_argument("--algorithms", nargs="+", default=["fsl_sage"], metavar="ALGORITHM")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2: round 0 is left out")
    overhead = measure(args)
    print(table(overhead))


if __name__ == "__main__":
    main()
