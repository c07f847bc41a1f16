"""TokenSet: prompt + target pairs as fixed-length token rows, for split language modelling.

Row i holds the input ids of one sequence, `prompt + target + EOS`, right-padded to `seq_len`,
and the next-token targets of each position: the following token where it belongs to the
target (so only the target text is scored, the prompt is context), IGNORE elsewhere. The
`labels` are what partitions draw over (for E2E: the restaurant's name), not what is learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fsl_sage_dist.data.tokenizer import Tokenizer

IGNORE = -100
"""Target of a position that is not scored; torch's cross_entropy skips it by default."""
PROMPT_END = " || "


def encode_pair(
    tokenizer: Tokenizer, prompt: str, target: str, seq_len: int
) -> tuple[list[int], list[int]]:
    """(input ids, targets) of one pair, each `seq_len` long. A long prompt keeps its first
    seq_len // 2 tokens, so every row has target tokens; a long target is cut at the end."""
    head = tokenizer.encode(prompt + PROMPT_END)[: seq_len // 2]
    seq = (head + tokenizer.encode(target) + [tokenizer.eos_id])[: seq_len + 1]
    ids = seq[:-1] + [tokenizer.pad_id] * (seq_len + 1 - len(seq))
    targets = [seq[t + 1] if len(head) <= t + 1 < len(seq) else IGNORE for t in range(seq_len)]
    return ids, targets


@dataclass(eq=False)
class TokenSet:
    ids: torch.Tensor
    """[N, seq_len] int64 input ids."""
    targets: torch.Tensor
    """[N, seq_len] int64 next-token targets, IGNORE outside the target text."""
    labels: torch.Tensor
    """[N] int64 group of each row (what partitions and the summary are drawn over)."""
    num_classes: int
    """The vocabulary size: a language model's output classes."""
    partition_classes: int
    """Number of groups in `labels`."""
    prompts: list[str]
    references: list[str]
    tokenizer: Tokenizer

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int]:
        return (self.ids.shape[1],)

    def subset(self, indices: torch.Tensor) -> TokenSet:
        keep = indices.tolist()
        return TokenSet(
            self.ids[indices],
            self.targets[indices],
            self.labels[indices],
            self.num_classes,
            self.partition_classes,
            [self.prompts[i] for i in keep],
            [self.references[i] for i in keep],
            self.tokenizer,
        )

    def prompt_ids(self, i: int) -> list[int]:
        """Row i's input ids up to its first target: the prompt, as the model sees it."""
        first_target = int((self.targets[i] != IGNORE).nonzero()[0])
        return self.ids[i, : first_target + 1].tolist()

    def batch(
        self, indices: torch.Tensor, augment: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and targets of `indices` (text is never augmented)."""
        return self.ids[indices], self.targets[indices]


def make_token_set(
    tokenizer: Tokenizer,
    prompts: list[str],
    references: list[str],
    groups: list[int],
    num_groups: int,
    seq_len: int,
) -> TokenSet:
    rows = [encode_pair(tokenizer, p, r, seq_len) for p, r in zip(prompts, references)]
    ids = torch.tensor([r[0] for r in rows], dtype=torch.int64).reshape(-1, seq_len)
    targets = torch.tensor([r[1] for r in rows], dtype=torch.int64).reshape(-1, seq_len)
    return TokenSet(
        ids,
        targets,
        torch.tensor(groups, dtype=torch.int64),
        tokenizer.vocab_size,
        num_groups,
        list(prompts),
        list(references),
        tokenizer,
    )
