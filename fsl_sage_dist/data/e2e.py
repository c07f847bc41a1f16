"""E2E NLG (restaurant descriptions from meaning representations): the real CSV files, or an
offline generator of E2E-like pairs, both as TokenSets.

A meaning representation (MR) lists slot values in the E2E format,
`name[Aromi], eatType[pub], area[riverside]`; the target is a sentence that says them. The
generator draws an MR from the seed (the name and 2 to 4 other slots; real E2E MRs have 3 to 8)
and renders it with one of several templates (clause orders and phrasings): about 170 bytes per
pair, so byte-level rows fit a 256-token context. Partitions draw over the restaurant's name.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from fsl_sage_dist.data.sources import DatasetNotFoundError, resolve_root
from fsl_sage_dist.data.token_set import TokenSet, make_token_set
from fsl_sage_dist.data.tokenizer import Tokenizer
from fsl_sage_dist.plan.seeds import numpy_rng

SLOTS = (
    "name",
    "eatType",
    "food",
    "priceRange",
    "customerRating",
    "area",
    "familyFriendly",
    "near",
)
NAMES = (
    "Aromi",
    "The Eagle",
    "Zizzi",
    "Cotto",
    "Alimentum",
    "Giraffe",
    "Fitzbillies",
    "Loch Fyne",
    "Browns Cambridge",
    "The Vaults",
    "Wildwood",
    "Strada",
    "The Mill",
    "Clowns",
    "The Punter",
    "Blue Spice",
    "The Cricketers",
    "Green Man",
    "The Phoenix",
    "The Golden Curry",
    "The Wrestlers",
    "The Rice Boat",
    "The Olive Grove",
    "Cocum",
)
VALUES = {
    "eatType": ("coffee shop", "pub", "restaurant"),
    "food": ("English", "French", "Italian", "Chinese", "Indian", "Japanese", "Fast food"),
    "priceRange": ("cheap", "moderate", "high"),
    "customerRating": ("low", "average", "high", "1 out of 5", "3 out of 5", "5 out of 5"),
    "area": ("city centre", "riverside"),
    "familyFriendly": ("yes", "no"),
    "near": NAMES,
}
# Two phrasings per slot; a template picks one phrasing and one clause order.
PHRASES = {
    "food": ("serving {} food", "that offers {} food"),
    "priceRange": ("with {} prices", "in the {} price range"),
    "customerRating": ("rated {} by customers", "with a customer rating of {}"),
    "area": ("in the {}", "located in the {} area"),
    "near": ("near {}", "close to {}"),
    "familyFriendly": ("that is {}family friendly", "where children are {}welcome"),
}
ORDERS = (
    ("food", "area", "near", "priceRange", "customerRating", "familyFriendly"),
    ("area", "priceRange", "food", "familyFriendly", "near", "customerRating"),
    ("customerRating", "near", "familyFriendly", "food", "priceRange", "area"),
)
TEMPLATES = len(ORDERS) * 2
SPLIT_FILES = {"train": "trainset.csv", "test": "testset_w_refs.csv"}
E2E_URL = "https://github.com/tuetschek/e2e-dataset"
E2E_TRAIN_SIZE = 42061
_SLOT_RE = re.compile(r"(\w+)\[(.*?)\]")


def slot_errors(mr_text_: str, generated: str) -> tuple[int, int]:
    """(missing slot values, slot values) of one generated text: a value counts as realised
    when it appears in the text, case-insensitively; familyFriendly (yes/no, phrased freely) is
    left out, as the E2E semantic scripts only match it by pattern."""
    values = [v for slot, v in parse_mr(mr_text_).items() if slot != "familyFriendly"]
    text = generated.lower()
    return sum(v.lower() not in text for v in values), len(values)


def mr_text(mr: dict[str, str]) -> str:
    return ", ".join(f"{slot}[{mr[slot]}]" for slot in SLOTS if slot in mr)


def parse_mr(text: str) -> dict[str, str]:
    return dict(_SLOT_RE.findall(text))


def render(mr: dict[str, str], template: int) -> str:
    """The sentence of template `template` (0..TEMPLATES-1) that states every slot of `mr`."""
    order, phrasing = ORDERS[template % len(ORDERS)], template // len(ORDERS)
    clauses = []
    for slot in order:
        if slot not in mr:
            continue
        value = mr[slot]
        if slot == "familyFriendly":
            value = "" if value == "yes" else "not "
        clauses.append(PHRASES[slot][phrasing].format(value))
    head = f"{mr['name']} is a {mr.get('eatType', 'place')}"
    if len(clauses) > 1:
        clauses = [", ".join(clauses[:-1]) + " and " + clauses[-1]]
    return " ".join([head, *clauses]) + "."


def synthetic_pairs(size: int, rng: np.random.Generator) -> list[tuple[dict[str, str], str]]:
    pairs = []
    optional = [s for s in SLOTS if s != "name"]
    for _ in range(size):
        name = NAMES[rng.integers(len(NAMES))]
        chosen = rng.choice(len(optional), size=rng.integers(2, 5), replace=False)
        mr = {"name": name}
        for i in sorted(chosen):
            slot = optional[i]
            values = [v for v in VALUES[slot] if v != name]
            mr[slot] = values[rng.integers(len(values))]
        pairs.append((mr, render(mr, int(rng.integers(TEMPLATES)))))
    return pairs


def make_e2e_synthetic(
    split: str, size: int, seed: int, tokenizer: Tokenizer, seq_len: int
) -> TokenSet:
    rng = numpy_rng(seed, "e2e_synthetic", list(SPLIT_FILES).index(split))
    pairs = synthetic_pairs(size, rng)
    return make_token_set(
        tokenizer,
        [mr_text(mr) for mr, _ in pairs],
        [r for _, r in pairs],
        [NAMES.index(mr["name"]) for mr, _ in pairs],
        len(NAMES),
        seq_len,
    )


def _candidates(root: str | Path) -> list[Path]:
    base = resolve_root(root)
    return [base, base / "e2e-dataset"]


def find_e2e(root: str | Path) -> Path:
    """The folder holding all of SPLIT_FILES, or one DatasetNotFoundError saying where to get
    them."""
    for folder in _candidates(root):
        if all((folder / f).is_file() for f in SPLIT_FILES.values()):
            return folder
    searched = ", ".join(str(f) for f in _candidates(root))
    raise DatasetNotFoundError(
        f"E2E NLG needs {' and '.join(SPLIT_FILES.values())}; none of {searched} holds them. "
        f"Download e2e-dataset from {E2E_URL} and set data.root to the folder with the CSV "
        "files (or use data.name=e2e_synthetic offline)"
    )


def load_e2e_nlg(split: str, root: str | Path, tokenizer: Tokenizer, seq_len: int) -> TokenSet:
    with open(find_e2e(root) / SPLIT_FILES[split], newline="", encoding="utf-8") as f:
        rows = [(row["mr"], row["ref"]) for row in csv.DictReader(f)]
    names = sorted({parse_mr(mr).get("name", "") for mr, _ in rows})
    groups = [names.index(parse_mr(mr).get("name", "")) for mr, _ in rows]
    return make_token_set(
        tokenizer, [mr for mr, _ in rows], [ref for _, ref in rows], groups, len(names), seq_len
    )
