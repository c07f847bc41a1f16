"""What a split model is trained and scored on: the loss of a batch, and its evaluation counts.

Every algorithm, the alignment and the evaluation go through a model's `Objective`, so a model
says once what its outputs and labels mean. Classification heads emit log-probabilities of
[B, classes] against int64 labels [B]; a language model emits logits [B, T, vocab] against the
next-token targets [B, T], IGNORE where a position has no target (prompt, padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100
"""Target id of positions that are not scored (the prompt and the padding)."""


class Classification:
    """NLL of log-probabilities; a sample is one labelled input."""

    perplexity = False

    def mean(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(out, y)

    def sum(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum of the per-sample losses: the batch's `mean` times its sample count."""
        return F.nll_loss(out, y, reduction="sum")

    def eval_counts(self, out: torch.Tensor, y: torch.Tensor) -> tuple[int, float, int]:
        """(correct predictions, summed loss, scored units) of one test batch."""
        return int((out.argmax(dim=1) == y).sum()), float(self.sum(out, y)), len(y)


class NextToken:
    """Token cross-entropy on the target positions only.

    A sample's loss is the mean over its own target tokens, and a batch's loss the mean over its
    samples. Per-sample losses keep every algorithm's scale rules exact: the server's batch loss,
    the aux head's, and FSL-SAGE's alignment targets (the gradient of each sample's own loss,
    scaled by 1/|batch|) all mean the same thing as for a classifier. Evaluation scores tokens:
    test_loss is the mean cross-entropy over all test target tokens, test_acc the share of them
    predicted exactly (greedy), and exp(test_loss) the perplexity.
    """

    perplexity = True

    @staticmethod
    def _token_losses(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.transpose(1, 2), y, ignore_index=IGNORE, reduction="none")

    def per_sample(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        counts = (y != IGNORE).sum(dim=1).clamp_min(1)
        return self._token_losses(out, y).sum(dim=1) / counts

    def mean(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(out, y).mean()

    def sum(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(out, y).sum()

    def eval_counts(self, out: torch.Tensor, y: torch.Tensor) -> tuple[int, float, int]:
        scored = y != IGNORE
        correct = int(((out.argmax(dim=-1) == y) & scored).sum())
        return correct, float(self._token_losses(out, y).sum()), int(scored.sum())


Objective = Classification | NextToken
CLASSIFICATION = Classification()
NEXT_TOKEN = NextToken()
