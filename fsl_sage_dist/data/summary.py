"""The per-client partition summary printed at start-up and written to partition.json."""

from __future__ import annotations

from typing import Any

import numpy as np


def partition_summary(
    parts: list[np.ndarray], labels: np.ndarray, num_classes: int
) -> dict[str, Any]:
    """JSON-serialisable: sample count and label histogram per client, plus totals over the
    pool (`pool_samples`) and over the samples actually assigned (`assigned_samples`)."""
    labels = np.asarray(labels)
    clients = []
    for client, part in enumerate(parts):
        histogram = np.bincount(labels[part], minlength=num_classes)
        clients.append(
            {"client": client, "samples": int(len(part)), "label_histogram": histogram.tolist()}
        )
    assigned = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return {
        "num_clients": len(parts),
        "num_classes": num_classes,
        "pool_samples": int(len(labels)),
        "assigned_samples": int(len(assigned)),
        "label_histogram": np.bincount(labels[assigned], minlength=num_classes).tolist(),
        "clients": clients,
    }
