"""The figure of `fsl-sage compare --plot`: test accuracy against cumulative payload MiB (log x)
and against round, one line per run, dotted lines at the target accuracies.

matplotlib is an optional extra: `pip install 'fsl-sage-dist[plot]'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fsl_sage_dist.units import MIB

if TYPE_CHECKING:
    from fsl_sage_dist.run_reader import Run

INSTALL_HINT = "pip install 'fsl-sage-dist[plot]'  (or: pip install matplotlib)"


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to get it."""


def _legend_name(run: Run) -> str:
    return run.label if run.algorithm in run.label else f"{run.label} ({run.algorithm})"


def plot_runs(runs: list[Run], targets: list[float], path: Path) -> None:
    try:
        # The object-oriented API (no pyplot): no GUI backend, no global figure state.
        from matplotlib.figure import Figure
        from matplotlib.ticker import LogFormatter, MaxNLocator
    except ImportError:
        raise PlotUnavailable(
            f"--plot needs matplotlib, an optional extra: {INSTALL_HINT}"
        ) from None
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    by_mib, by_round = fig.subplots(1, 2, sharey=True)
    for run in runs:
        points = run.evaluated
        acc = [r["test_acc"] for r in points]
        (line,) = by_mib.plot(
            [r["cum_payload_bytes"] / MIB for r in points], acc, marker=".", label=_legend_name(run)
        )
        by_round.plot([r["round"] + 1 for r in points], acc, marker=".", color=line.get_color())
    for ax in (by_mib, by_round):
        for target in targets:
            ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        ax.grid(True, which="major", alpha=0.3)
    by_mib.set_xscale("log")
    # Plain numbers (20, 50, 100 rather than 2x10^1); some minor ticks labelled up to 2 decades.
    by_mib.xaxis.set_major_formatter(LogFormatter())
    by_mib.xaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
    by_round.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_mib.set(
        xlabel="cumulative payload MiB (log scale)",
        ylabel="test accuracy",
        title="accuracy vs communication",
    )
    by_round.set(xlabel="round", title="accuracy vs round")
    by_mib.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=120)


def plot_time(
    runs: list[tuple[str, str, list[dict], list[float]]], targets: list[float], path: Path
) -> None:
    """`fsl-sage timeline --plot`: test accuracy against simulated minutes, one line per run
    given as (label, algorithm, metrics records, cumulative simulated seconds per round)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable(
            f"--plot needs matplotlib, an optional extra: {INSTALL_HINT}"
        ) from None
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, algorithm, records, cum_s in runs:
        points = [
            (s / 60, r["test_acc"]) for r, s in zip(records, cum_s) if r["test_acc"] is not None
        ]
        name = label if algorithm in label else f"{label} ({algorithm})"
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=name)
    for target in targets:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
    ax.grid(True, alpha=0.3)
    ax.set(xlabel="simulated minutes", ylabel="test accuracy", title="accuracy vs simulated time")
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=120)
