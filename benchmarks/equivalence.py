"""Same runs, same results, before and after a refactor: runs a set of real jobs (`fsl-sage run`,
Gloo ranks) in this tree and in a git revision checked out beside it, and compares what they
wrote: metrics.jsonl without the seconds, final_model.pt tensor by tensor, messages.jsonl's
bytes (its seconds aside), summary.json (its seconds and memory aside), partition.json and
config.toml.

    python benchmarks/equivalence.py --against 2b35e15          # every case
    python benchmarks/equivalence.py --against HEAD~3 --only fedavg-plain

The cases cover the five algorithms twice (all clients, exact averaging, in memory; and
sampling K of N with reduce averaging and spilled client state) and the GPT-2 + LoRA config.
Exit status 0 when every case matches, 1 with the differences listed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("round_s", "host_busy_s", "host_cpu_s", "sim_round_s", "cum_sim_s")
"""metrics.jsonl's fields in seconds (records.TIMING_FIELDS, named here so the script runs
against a revision whatever its module layout)."""
MESSAGE_SECONDS = (
    "client_compute",
    "server_steps",
    "align_s",
    "average_s",
    "round_end_s",
    "eval_s",
)
"""messages.jsonl's measured seconds: they differ between identical runs."""
SUMMARY_MEASURED = ("mean_round_s", "peak_rss_mib")
"""summary.json's measured fields: seconds and each rank's memory."""

SMALL = [
    "runtime.backend=gloo",
    "rounds=3",
    "clients.num=6",
    "launch.client_hosts=2",
    "data.name=synthetic",
    "data.synthetic_size=[480,200]",
    "train.batch_size=32",
    "runtime.threads_per_rank=1",
    "runtime.timeout_s=180",
    "fsl.align_interval=1",
    "fsl.align_epochs=3",
    "fsl.server_interval=2",
]
ALL_ON = ["clients.per_round=4", "runtime.averaging=reduce", "runtime.spill=true"]
ALGORITHMS = ("fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage")
GPT2 = [
    "configs/llm_tiny_fsl_sage.toml",
    "runtime.backend=gloo",
    "rounds=2",
    "data.synthetic_size=[96,32]",
    "data.seq_len=64",
    "eval.decode_samples=1",
    "runtime.threads_per_rank=1",
    "fsl.align_interval=1",
    "fsl.align_epochs=1",
    "clients.per_round=3",
    "runtime.averaging=reduce",
    "runtime.spill=true",
]


def cases() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in ALGORITHMS:
        out[f"{name}-plain"] = [*SMALL, f"algorithm={name}"]
        out[f"{name}-all-on"] = [*SMALL, f"algorithm={name}", *ALL_ON]
    out["gpt2-lora-fsl_sage"] = GPT2
    return out


def run_case(tree: Path, args: list[str], out_dir: Path, name: str) -> Path:
    env = dict(os.environ, PYTHONPATH=str(tree), CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "fsl_sage_dist", "run", *args]
    command += [f"output.dir={out_dir}", f"output.name={name}"]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed in {tree}:\n{done.stderr[-3000:]}")
    return out_dir / name


def _summary(run_dir: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in SUMMARY_MEASURED}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _unmeasured(record: dict[str, Any], with_memory: bool) -> dict[str, Any]:
    kept = {k: v for k, v in record.items() if k not in TIMING and k != "memory"}
    if with_memory:
        kept["memory"] = {k: v for k, v in record["memory"].items() if k != "rank_peak_bytes"}
    return kept


def _settings(run_dir: Path) -> list[str]:
    """config.toml's lines but output.dir, the one setting the two runs of a case differ in."""
    text = (run_dir / "config.toml").read_text()
    return [line for line in text.splitlines() if not line.startswith("dir = ")]


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two RUN_DIRs of the same case, or nothing."""
    found: list[str] = []
    ra, rb = _lines(a / "metrics.jsonl"), _lines(b / "metrics.jsonl")
    # `memory` is accounting but for each rank's measured peak; compared where both have it
    both = all("memory" in r for r in ra + rb)
    ma = [_unmeasured(r, both) for r in ra]
    mb = [_unmeasured(r, both) for r in rb]
    if ma != mb:
        found.append("metrics.jsonl differs (seconds aside)")
    ga = [
        {k: v for k, v in r.items() if k not in MESSAGE_SECONDS}
        for r in _lines(a / "messages.jsonl")
    ]
    gb = [
        {k: v for k, v in r.items() if k not in MESSAGE_SECONDS}
        for r in _lines(b / "messages.jsonl")
    ]
    if ga != gb:
        found.append("messages.jsonl differs (seconds aside)")
    sa, sb = (_summary(d) for d in (a, b))
    if sa != sb or list(sa) != list(sb):  # the keys' order too: the file is read by people
        found.append("summary.json differs (seconds and memory aside)")
    if (a / "partition.json").read_bytes() != (b / "partition.json").read_bytes():
        found.append("partition.json differs")
    if _settings(a) != _settings(b):
        found.append("config.toml differs (output.dir aside)")
    wa = torch.load(a / "final_model.pt", weights_only=True)
    wb = torch.load(b / "final_model.pt", weights_only=True)
    if wa.keys() != wb.keys():
        found.append(f"final_model.pt parts differ: {sorted(wa)} vs {sorted(wb)}")
    for part in wa.keys() & wb.keys():
        if not isinstance(wa[part], dict):
            continue
        if wa[part].keys() != wb[part].keys():
            found.append(f"final_model.pt {part}: keys differ")
            continue
        unequal = [k for k in wa[part] if not torch.equal(wa[part][k], wb[part][k])]
        if unequal:
            found.append(
                f"final_model.pt {part}: {len(unequal)} tensors differ ({unequal[0]}, ...)"
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="git revision to compare with")
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    args = parser.parse_args()
    chosen = {k: v for k, v in cases().items() if not args.only or k in args.only}
    if not chosen:
        raise SystemExit(f"no such case; choose from {', '.join(cases())}")
    scratch = Path(tempfile.mkdtemp(prefix="equivalence-"))
    before = scratch / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(before), args.against],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    failed = 0
    try:
        for name, case in chosen.items():
            a = run_case(before, case, scratch / "runs-before", name)
            b = run_case(ROOT, case, scratch / "runs-after", name)
            found = differences(a, b)
            failed += bool(found)
            print(f"{name}: {'same' if not found else '; '.join(found)}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{len(chosen) - failed} of {len(chosen)} cases identical to {args.against}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
