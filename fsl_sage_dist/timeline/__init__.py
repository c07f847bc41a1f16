"""Simulated wall time of a run's rounds on a network profile, replayed from its message log.

    fsl-sage timeline runs/fsl_sage runs/splitfed_v1 --up-mbps 2 --down-mbps 10 --rtt-ms 60

Two layers: a generic discrete-event engine (`engine.py`: tasks on resources with dependencies)
and the round model (`round_graph.py`: which tasks a round has and who waits for whom, read off
the message log and the run's `Plan`). Pure Python and numpy: it never imports torch, so it runs
wherever RUN_DIR is copied to.
"""

from fsl_sage_dist.timeline.engine import KINDS, Schedule, Tasks
from fsl_sage_dist.timeline.round_graph import (
    FORWARD_SHARE,
    Compute,
    RoundGraph,
    RoundTime,
    bandwidth_factors,
    replay,
    simulate_round,
)

__all__ = [
    "FORWARD_SHARE",
    "KINDS",
    "Compute",
    "RoundGraph",
    "RoundTime",
    "Schedule",
    "Tasks",
    "bandwidth_factors",
    "replay",
    "simulate_round",
]
