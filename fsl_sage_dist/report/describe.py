"""One-paragraph descriptions of a run's model and partition, for the log at its start (and the
dry run's)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fsl_sage_dist.models import SplitModel, state_nbytes


def describe_model(name: str, model: SplitModel) -> str:
    cut = "x".join(map(str, model.cut_shape))
    per_sample = 4 * math.prod(model.cut_shape)
    return (
        f"model {name}: smashed activations {cut} per sample ({per_sample} B "
        f"fp32); state bytes client {state_nbytes(model.client):,}, server "
        f"{state_nbytes(model.server):,}, aux {state_nbytes(model.aux):,}"
    )


def describe_partition(path: Path, show: int = 20) -> str:
    """Samples and label histogram per client (the first `show`; all are in partition.json)."""
    summary = json.loads(path.read_text())
    clients = summary["clients"]
    lines = [
        f"partition {summary['scheme']}: {len(clients)} clients, samples "
        f"{min(c['samples'] for c in clients)}..{max(c['samples'] for c in clients)} "
        f"(label histograms in {path})"
    ]
    lines += [
        f"  client {c['client']:>4}: {c['samples']:>6} samples  labels {c['label_histogram']}"
        for c in clients[:show]
    ]
    return "\n".join(lines)
