"""SmashedStore: the most recent uploaded activation rows of one client, kept by the server.

FIFO by sample (row), not by batch: appending a batch that overflows the capacity drops the
oldest rows. Rows are never recomputed, so they may come from older client models.
"""

from __future__ import annotations

import torch


class SmashedStore:
    def __init__(self, capacity_rows: int) -> None:
        self.capacity = capacity_rows
        self.activations: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    def append(self, activations: torch.Tensor, labels: torch.Tensor) -> None:
        if self.activations is not None:
            activations = torch.cat([self.activations, activations])
            labels = torch.cat([self.labels, labels])
        self.activations = activations[-self.capacity :].detach()
        self.labels = labels[-self.capacity :]
