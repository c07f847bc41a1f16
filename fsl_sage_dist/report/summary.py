"""What rank 0 concludes from metrics.jsonl's records: a round whose loss is not finite stops
the run (`check_losses_finite`), and a finished run's totals are summary.json (`summarize`).
"""

from __future__ import annotations

import math
from typing import Any


class DivergedError(RuntimeError):
    """A round's training or test loss is not a finite number; going on would only waste time."""


def check_losses_finite(record: dict[str, Any]) -> None:
    """Raise DivergedError naming the round (1-based, as the progress line) and algorithm."""
    bad = [
        f"{key} is {record[key]}"
        for key in ("train_loss", "test_loss")
        if isinstance(record[key], float) and not math.isfinite(record[key])
    ]
    if bad:
        raise DivergedError(
            f"{record['algorithm']} diverged in round {record['round'] + 1}: "
            f"{' and '.join(bad)}; metrics.jsonl (this round's line with null "
            "losses) and the checkpoints before it are kept; lower train.lr "
            "(or fsl.aux_lr)"
        )


def summarize(
    records: list[dict[str, Any]], world_size: int, num_clients: int, peak_rss_mib: list[float]
) -> dict[str, Any]:
    accs = [r["test_acc"] for r in records if r["test_acc"] is not None]
    last = records[-1]
    return {
        "algorithm": last["algorithm"],
        "rounds": len(records),
        "final_test_acc": last["test_acc"],
        "best_test_acc": max(accs) if accs else None,
        "total_payload_bytes": last["cum_payload_bytes"],
        "total_wire_bytes": last["cum_wire_bytes"],
        "mean_round_s": sum(r["round_s"] for r in records) / len(records),
        "world_size": world_size,
        "num_clients": num_clients,
        "peak_rss_mib": peak_rss_mib,
        "memory": memory_maxima(records),
    }


def memory_maxima(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's largest client and server peaks (accounting) and each rank's largest measured
    round peak, from the records' `memory` (`memory/`)."""
    memory = [r["memory"] for r in records if "memory" in r]
    if not memory:
        return {}
    ranks = [m["rank_peak_bytes"] for m in memory]
    return {
        "client_peak_bytes": max(m["client_peak_bytes"] for m in memory),
        "server_peak_bytes": max(m["server_peak_bytes"] for m in memory),
        "rank_peak_bytes": [max(column) for column in zip(*ranks)],
    }
