"""Bytes of split LoRA fine-tuning at the paper's scale, from the model's shape alone.

    python benchmarks/llm_bytes.py [--config configs/e2e_gpt2m_fsl_sage.toml] [--json FILE]

For each algorithm on the config's schedule (GPT-2 medium on E2E: 10 clients, batch 8 of 512
tokens, q = 5), MiB per round by category as this project meters it: LoRA state only, hidden
states [B, T, d] up, cut gradients down, aux heads; the next-token targets are labels (wire,
not payload). The model is built on PyTorch's meta device, so no weight is drawn or loaded.

Beside it, what the reference's counter (llm branch: `calculate_load` of whole modules plus
`get_auxlist_memory_consumption` of the upload's extra inputs) reports for the same schedule:
model transfers at full size (frozen weights, each block's 1024x1024 attention-mask buffer and
the tied embedding matrix included) and, with every upload, the key/value cache of the client's
blocks (2 x the hidden states per block) and the input shape. FSL-SAGE's aux heads go down
once per `fsl.align_interval` rounds: its rows are the mean over such a cycle. The JSON carries a
`provenance` record (benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from provenance import record

from fsl_sage_dist.algorithms.expected_bytes import CATEGORIES, ModelBytes
from fsl_sage_dist.config import Config, load_config
from fsl_sage_dist.data import batch_sizes
from fsl_sage_dist.data.e2e import E2E_TRAIN_SIZE
from fsl_sage_dist.models import GPT2Spec, build_split_model
from fsl_sage_dist.models.gpt2 import SIZES
from fsl_sage_dist.plan import SPECS
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.runtime.dry_run import round_payload
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import MIB

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ("fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage")
GPT2_VOCAB = 50257  # GPT-2's BPE, as E2E is tokenised with it
F32 = 4


def our_sizes(cfg: Config, size: str) -> ModelBytes:
    spec = GPT2Spec(
        size, cfg.model.cut_blocks, cfg.model.aux_blocks, "", cfg.lora.r, cfg.lora.alpha
    )
    with torch.device("meta"):
        model = build_split_model("gpt2", (cfg.data.seq_len,), GPT2_VOCAB, gpt2=spec)
    return ModelBytes.of(model)


def reference_sizes(cfg: Config, size: str) -> dict[str, int]:
    """Bytes of the reference's modules (parameters + buffers, `calculate_load`)."""
    layers, d, _, context = SIZES[size]
    r, cut, aux = cfg.lora.r, cfg.model.cut_blocks, cfg.model.aux_blocks
    block = 12 * d * d + 13 * d + 4 * r * d + context * context  # + LoRA A, B + mask buffer
    embeddings = GPT2_VOCAB * d
    return {
        "client": F32 * (embeddings + context * d + cut * block),
        "server": F32 * ((layers - cut) * block + 2 * d + embeddings),
        "aux": F32 * (aux * block + 2 * d + embeddings),
    }


def client_samples(cfg: Config) -> list[int]:
    return [E2E_TRAIN_SIZE // cfg.clients.num] * cfg.clients.num  # iid: floor(N/m) each


def uploads(cfg: Config, n: int) -> tuple[int, int]:
    """(uploads, uploaded rows) of a client with `n` samples in one round."""
    batches = batch_sizes(n, cfg.train.batch_size) * cfg.train.local_epochs
    spec = SPECS[cfg.algorithm]
    sent = [b for it, b in enumerate(batches) if spec.uploads_at(cfg.fsl, it)]
    return len(sent), sum(sent)


def reference_round(cfg: Config, algorithm: str, ref: dict[str, int], d: int) -> float:
    """What the reference's counter adds up in one round, in bytes (mean over an alignment
    cycle for FSL-SAGE)."""
    count = 0.0
    for n in client_samples(cfg):
        if algorithm == "fedavg":
            count += 2 * (ref["client"] + ref["server"])
            continue
        count += 2 * ref["client"]
        sent, rows = uploads(cfg, n)
        hidden = rows * cfg.data.seq_len * d * F32
        # + the key/value cache of each client block, and the input shape (two int64)
        count += hidden * (1 + 2 * cfg.model.cut_blocks) + 16 * sent
        if algorithm.startswith("splitfed"):
            count += hidden
        if algorithm == "cse_fsl":
            count += 2 * ref["aux"]
        if algorithm == "fsl_sage":
            count += ref["aux"] / cfg.fsl.align_interval
    return count


def our_round(cfg: Config, sizes: ModelBytes) -> dict[str, float]:
    """MiB per category (and labels) in one round, mean over an alignment cycle."""
    plain = round_payload(cfg, client_samples(cfg), sizes, aligned=False)
    aligned = round_payload(cfg, client_samples(cfg), sizes, aligned=True)
    share = 1 / cfg.fsl.align_interval if SPECS[cfg.algorithm].aligns else 0.0
    mib = {
        c: ((1 - share) * sum(plain[c].values()) + share * sum(aligned[c].values())) / MIB
        for c in CATEGORIES
    }
    mib["payload"] = sum(mib[c] for c in CATEGORIES)
    rows = sum(uploads(cfg, n)[1] for n in client_samples(cfg))
    mib["labels"] = rows * cfg.data.seq_len * 8 / MIB  # int64 targets per token
    return mib


def report(cfg_path: Path, size: str) -> dict:
    rows, table = (
        [],
        [
            [
                "algorithm",
                *CATEGORIES,
                "payload",
                "labels (wire)",
                "reference counter",
                "reference / ours",
            ]
        ],
    )
    base = load_config(cfg_path)
    for algorithm in ALGORITHMS:
        cfg = load_config(cfg_path, [f"algorithm={algorithm}"])
        ours = our_round(cfg, our_sizes(cfg, size))
        reference = (
            reference_round(cfg, algorithm, reference_sizes(cfg, size), SIZES[size][1]) / MIB
        )
        rows.append({"algorithm": algorithm, "ours_mib": ours, "reference_mib": reference})
        table.append(
            [
                algorithm,
                *(f"{ours[c]:,.2f}" for c in CATEGORIES),
                f"{ours['payload']:,.1f}",
                f"{ours['labels']:,.1f}",
                f"{reference:,.1f}",
                f"{reference / ours['payload']:.1f}x",
            ]
        )
    print(
        f"MiB per round, GPT-2 {size} on E2E ({base.clients.num} clients, batch "
        f"{base.train.batch_size} x {base.data.seq_len} tokens, q {base.fsl.server_interval}, "
        f"LoRA r {base.lora.r}, cut after {base.model.cut_blocks} block(s))"
    )
    print(align(table, rule=True))
    return {"config": str(cfg_path.relative_to(ROOT)), "gpt2_size": size, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "e2e_gpt2m_fsl_sage.toml")
    parser.add_argument("--size", default="medium", choices=sorted(SIZES))
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    provenance = record()  # nothing runs: the bytes come from the model's shape
    result = {"provenance": provenance} | report(args.config.resolve(), args.size)
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    sys.exit(main())
