"""The slot error rate of a language model on E2E-style data: greedy decoding of test MRs, and
the share of their slot values the generated text leaves out (the standard E2E semantic score;
`data/e2e.py` says how a value is matched)."""

from __future__ import annotations

from torch import nn

from fsl_sage_dist.data import TokenSet
from fsl_sage_dist.data.e2e import slot_errors
from fsl_sage_dist.data.token_set import IGNORE
from fsl_sage_dist.models.generate import greedy_decode


def slot_error_rate(model: nn.Module, test: TokenSet, samples: int) -> float:
    """Over the first `samples` distinct MRs of the test set (a fixed subset: the same every
    round, so rounds compare). A text may be at most 8 tokens longer than the longest of their
    references (a model that never stops costs no more than that)."""
    rows = list({prompt: i for i, prompt in reversed(list(enumerate(test.prompts)))}.values())
    rows = sorted(rows)[:samples]
    tok = test.tokenizer
    longest = int((test.targets[rows] != IGNORE).sum(dim=1).max())
    outputs = greedy_decode(
        model,
        [test.prompt_ids(i) for i in rows],
        test.input_shape[0],
        tok.eos_id,
        tok.pad_id,
        longest + 8,
    )
    counts = [slot_errors(test.prompts[i], tok.decode(out)) for i, out in zip(rows, outputs)]
    return sum(m for m, _ in counts) / max(1, sum(t for _, t in counts))
