"""Client and server memory of the five algorithms, by part, as the memory meter accounts it.

    python benchmarks/memory.py --json docs/memory.json     # 10 to 18 min on 2 loaded cores
    python benchmarks/memory.py --quick --json /tmp/m.json  # simple_conv and a tiny GPT-2

Image models (ResNet-18 at Fashion-MNIST's 1x28x28 and CIFAR's 3x32x32, batch 256, cut after
layer2, ImageNet stem, the default aux head; simple_conv at its default batch) are real
in-process runs (`runtime/in_process.py`) on synthetic data of that shape, with 10 clients, all
taking part in every round (the paper configs' number; the server figures depend on it). Each
figure is the reported round's `memory` record of metrics.jsonl: a side's peak phase and its
parts (`memory/meter.py`). Every algorithm but FSL-SAGE runs one round of two iterations per
client (so the client model's gradients and Adam state are held when the second batch's
activations are). FSL-SAGE runs one iteration per client per round (one upload of a batch) for
ceil(fsl.store_size / batch) rounds and then one more with fsl.align_interval set to that
count, so that the reported round aligns every client with its store full; the script checks
that each alignment found `fsl.store_size` rows and all participants' stores held, and that
each run's shape-determined parts equal the closed form. fsl.align_epochs is 1 (a fit's peak is
that of one batch; more epochs repeat it).

GPT-2 medium with LoRA (configs/e2e_gpt2m_fsl_sage.toml: batch 8 x 512 tokens, cut after one
block, a three-block aux head, LoRA r 4, fsl.store_size as that config sets it) cannot train
here: closed form plus activations measured on the CPU (benchmarks/memory_llm.py).

Prints the peaks, the parts and the ratios of FSL-SAGE to each baseline per side, then the
meter's round-time overhead (benchmarks/memory_overhead.py). The JSON carries a `provenance`
record (benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import memory_overhead
from memory_llm import gpt2_memory
from provenance import record

from fsl_sage_dist.algorithms.fsl_sage import FSLSAGEServer
from fsl_sage_dist.config import load_config
from fsl_sage_dist.memory import PARTS
from fsl_sage_dist.memory.closed_form import client_parts
from fsl_sage_dist.plan import SPECS
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.runtime.build import build_template, load_split
from fsl_sage_dist.runtime.in_process import run_in_process
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import MIB

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ("fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage")
BASELINES = ("fedavg", "cse_fsl", "splitfed_v1", "splitfed_v2")
RESNET = ["model.name=resnet18", "model.cut=layer2", "model.stem=imagenet"]
IMAGE_MODELS = {
    "resnet18_fmnist": {"overrides": [*RESNET, "data.synthetic_shape=[1,28,28]"], "batch": 256},
    "resnet18_cifar": {"overrides": [*RESNET, "data.synthetic_shape=[3,32,32]"], "batch": 256},
    "simple_conv": {"overrides": ["model.name=simple_conv"], "batch": 128},
}
QUICK = {"clients": 2, "store_size": 256, "llm_size": "tiny", "llm_seq_len": 64}


def image_run(model: str, algorithm: str, clients: int, store: int, threads: int) -> dict:
    """One in-process run; its last round's memory record, the alignments it saw and the
    closed form's shape parts of its client."""
    batch = IMAGE_MODELS[model]["batch"]
    aligning = SPECS[algorithm].aligns
    fill = math.ceil(store / batch)  # rounds of one upload each to fill a store
    rounds, iterations = (fill + 1, 1) if aligning else (1, 2)
    with tempfile.TemporaryDirectory() as out:
        overrides = [
            f"algorithm={algorithm}",
            *IMAGE_MODELS[model]["overrides"],
            "data.name=synthetic",
            f"data.synthetic_size=[{clients * batch * iterations},10]",
            f"clients.num={clients}",
            f"train.batch_size={batch}",
            f"rounds={rounds}",
            f"fsl.store_size={store}",
            f"fsl.align_interval={fill}",
            "fsl.align_epochs=1",
            "eval.every=1000",
            "checkpoint.every=0",
            "launch.client_hosts=1",
            f"runtime.threads_per_rank={threads}",
            "runtime.timeout_s=1800",
            f"output.dir={out}",
            "output.name=run",
        ]
        cfg = load_config(None, overrides)
        seen: list[dict[str, int]] = []
        align = FSLSAGEServer._align

        def watched(self, round_, client):
            seen.append(
                {
                    "round": round_,
                    "client": client,
                    "store_rows": len(self.per_client[client].store),
                    "stores_held": len(self.per_client),
                }
            )
            align(self, round_, client)

        print(f"== {model} {algorithm}: {rounds} round(s) of {iterations} iteration(s)", flush=True)
        with mock.patch.object(FSLSAGEServer, "_align", watched):
            last = run_in_process(cfg)[-1]
        template = build_template(cfg, load_split(cfg, "train"))
    memory = last["memory"]
    expected = client_parts(SPECS[algorithm], template)
    if {p: memory["client_parts"][p] for p in expected} != expected:
        raise RuntimeError(f"{model} {algorithm}: client parts differ from the closed form")
    result = {
        "rounds": rounds,
        "iterations_per_round": iterations,
        "reported_round": last["round"],
        "participants": len(last["participants"]),
        "client_parts": memory["client_parts"],
        "server_parts": memory["server_parts"],
        "overrides": [o for o in overrides if not o.startswith("output.dir=")],
    }
    if aligning:
        final = [a for a in seen if a["round"] == last["round"]]
        if len(final) != clients or any(a["store_rows"] != store for a in final):
            raise RuntimeError(f"{model}: the reported round's stores were not full: {final}")
        result["stores_at_last_alignment"] = max(a["stores_held"] for a in final)
        result["store_rows_at_alignment"] = sorted({a["store_rows"] for a in final})
    return result


def with_peaks(algorithms: dict[str, dict]) -> dict[str, dict]:
    for got in algorithms.values():
        for side in ("client", "server"):
            got[f"{side}_peak_bytes"] = sum(got[f"{side}_parts"].values())
    return algorithms


def ratios(algorithms: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """FSL-SAGE's peak over each baseline's, per side (None where the baseline holds none)."""
    out: dict[str, dict[str, float | None]] = {}
    for side in ("client", "server"):
        ours = algorithms["fsl_sage"][f"{side}_peak_bytes"]
        out[side] = {
            f"fsl_sage/{b}": ours / algorithms[b][f"{side}_peak_bytes"]
            if algorithms[b][f"{side}_peak_bytes"]
            else None
            for b in BASELINES
        }
    return out


def peaks_table(models: dict[str, dict]) -> str:
    lines = [["model", "side", *ALGORITHMS, *[f"/{b}" for b in BASELINES]]]
    for name, m in models.items():
        for side in ("client", "server"):
            peaks = [m["algorithms"][a][f"{side}_peak_bytes"] / MIB for a in ALGORITHMS]
            rs = [m["ratios"][side][f"fsl_sage/{b}"] for b in BASELINES]
            lines.append(
                [
                    name,
                    side,
                    *[f"{p:.1f}" for p in peaks],
                    *["-" if r is None else f"{r:.2f}" for r in rs],
                ]
            )
    return align(lines, left=2)


def parts_table(models: dict[str, dict]) -> str:
    lines = [["model", "algorithm", "side", *PARTS, "peak"]]
    for name, m in models.items():
        for algorithm, got in m["algorithms"].items():
            for side in ("client", "server"):
                parts = got[f"{side}_parts"]
                mib = [f"{parts[p] / MIB:.1f}" for p in PARTS]
                lines.append([name, algorithm, side, *mib, f"{sum(parts.values()) / MIB:.1f}"])
    return align(lines, left=3)


LABELS = {
    "resnet18_fmnist": "ResNet-18, 1×28×28",
    "resnet18_cifar": "ResNet-18, 3×32×32",
    "simple_conv": "simple_conv",
}
NAMES = {
    "fedavg": "FedAvg",
    "splitfed_v1": "SplitFed-v1",
    "splitfed_v2": "SplitFed-v2",
    "cse_fsl": "CSE-FSL",
    "fsl_sage": "FSL-SAGE",
}


def label(name: str, model: dict) -> str:
    if name == "gpt2_lora":  # medium, or tiny with --quick
        return f"GPT-2 {model['model'].split()[1]}, LoRA"
    return LABELS[name]


def markdown(models: dict[str, dict]) -> str:
    """The README's peaks table and docs/results.md's parts table (tests check both)."""
    head = ["model", "side", *NAMES.values(), "FSL-SAGE / FedAvg"]
    head += [f"/ {NAMES[b]}" for b in BASELINES[1:]]
    peaks = [head, ["---"] * len(head)]
    for name, m in models.items():
        for side in ("client", "server"):
            rs = [m["ratios"][side][f"fsl_sage/{b}"] for b in BASELINES]
            peaks.append(
                [
                    label(name, m),
                    side,
                    *[f"{m['algorithms'][a][f'{side}_peak_bytes'] / MIB:.1f}" for a in NAMES],
                    *["–" if r is None else f"{r:.2f}" for r in rs],
                ]
            )
    head = ["model", "algorithm", "side", *PARTS, "peak"]
    parts = [head, ["---"] * len(head)]
    for name in ("resnet18_cifar", "gpt2_lora"):
        for algorithm, got in models.get(name, {}).get("algorithms", {}).items():
            for side in ("client", "server"):
                held = got[f"{side}_parts"]
                mib = [f"{held[p] / MIB:.1f}" for p in PARTS]
                total = f"{got[f'{side}_peak_bytes'] / MIB:.1f}"
                parts.append([label(name, models[name]), NAMES[algorithm], side, *mib, total])
    return "\n\n".join(
        "\n".join(f"| {' | '.join(row)} |" for row in table) for table in (peaks, parts)
    )


def llm_model(args: argparse.Namespace, participants: int) -> dict[str, Any]:
    config = ROOT / "configs" / "e2e_gpt2m_fsl_sage.toml"
    overrides = ["model.pretrained="]  # built from its shape: no hub, no weights
    size = "medium"
    if args.quick:
        size = QUICK["llm_size"]
        overrides += [f"data.seq_len={QUICK['llm_seq_len']}", "fsl.store_size=8"]
    cfg = load_config(config, overrides)
    print(f"== gpt2 {size} with LoRA: closed form + activations measured on the CPU", flush=True)
    got = gpt2_memory(cfg, size, participants)
    return {
        "model": f"gpt2 {size}",
        "how": "closed form + activations measured on the CPU at batches of one and two",
        "config": str(config.relative_to(ROOT)),
        "overrides": overrides,
        "batch": cfg.train.batch_size,
        "seq_len": cfg.data.seq_len,
        "cut_blocks": cfg.model.cut_blocks,
        "aux_blocks": cfg.model.aux_blocks,
        "lora_r": cfg.lora.r,
        "store_size": cfg.fsl.store_size,
        "participants": participants,
        **got,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="simple_conv, 2 clients, tiny GPT-2")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "memory.json")
    parser.add_argument("--threads", type=int, default=0, help="runtime.threads_per_rank")
    parser.add_argument("--overhead-repeats", type=int, default=3)
    args = parser.parse_args()
    provenance = record(threads_per_rank=args.threads)
    start = time.perf_counter()
    clients = QUICK["clients"] if args.quick else 10
    store = QUICK["store_size"] if args.quick else 1000
    names = ["simple_conv"] if args.quick else list(IMAGE_MODELS)
    # GPT-2 first: its probe needs the most memory, before the runs leave anything behind
    llm = llm_model(args, clients)
    gc.collect()
    models: dict[str, dict] = {}
    for name in names:
        runs = {a: image_run(name, a, clients, store, args.threads) for a in ALGORITHMS}
        models[name] = {
            "how": "in-process run",
            "batch": IMAGE_MODELS[name]["batch"],
            "participants": clients,
            "store_size": store,
            "algorithms": with_peaks(runs),
        }
    models["gpt2_lora"] = llm
    with_peaks(models["gpt2_lora"]["algorithms"])
    for m in models.values():
        m["ratios"] = ratios(m["algorithms"])
    overhead_args = argparse.Namespace(
        repeats=1 if args.quick else args.overhead_repeats,
        rounds=2 if args.quick else 3,
        samples=640 if args.quick else 3000,
        algorithms=["fsl_sage"],
        set=[],
    )
    overhead = memory_overhead.measure(overhead_args)
    print()
    print(f"peak MiB per side; ratios FSL-SAGE / baseline; {clients} clients in every round")
    print(peaks_table(models))
    print()
    print("parts MiB at each side's peak")
    print(parts_table(models))
    print()
    print(memory_overhead.table(overhead))
    print()
    print(markdown(models))
    out = {
        "provenance": provenance,
        "quick": args.quick,
        "participants": clients,
        "store_size": store,
        "models": models,
        "overhead": overhead,
        "elapsed_s": time.perf_counter() - start,
    }
    write_json(args.json, out)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
