"""Give every docs/*.json written before benchmarks/provenance.py existed an honest provenance.

    python benchmarks/backfill_provenance.py            # rewrites the docs/*.json that lack one
    python benchmarks/backfill_provenance.py --check    # exit 1 if any file still lacks one

Those runs cannot be repeated here (ResNet-18 and the H200 runs need a GPU, the seed sweeps take
hours on 2 cores), so their provenance says what is still known and `"backfilled": true`:
- the commit that last wrote the file, its date and subject (`git log -1 -- FILE`): the run was
  made no later than that;
- the command: the file's own `command` field where it had one, else the command the docs give
  for it (an indented or quoted `python benchmarks/...` that names the file or, for a script
  whose default output it is, names no other);
- the device as the docs state it (DEVICES);
- runtime.threads_per_rank where the file's `extra_overrides` set it;
- `unknown`: the provenance keys nobody can recover (at least the code commit, torch, date).
Paths that pointed outside the repository are rewritten relative to it, and `notes` says where
the run really was (a temporary copy, a scratch folder on the GPU machine). A file that already
has a provenance keeps it. A bytes-to-accuracy file whose comparisons measure to CSE-FSL's best
accuracy also gains the `realised_targets` label that benchmarks/bytes_to_accuracy.py now
writes: that target was taken from the results, not declared.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bytes_to_accuracy import REALISED_TARGETS
from provenance import REQUIRED, threads_per_rank

from fsl_sage_dist.rundir.records import write_json

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEV_MACHINE = {
    "description": "this project's 2-core development machine (2 CPU cores, 24 GiB, no GPU), "
    "CPU/Gloo, shared with other jobs unless the docs say otherwise",
    "source": "docs/results.md",
}
H200 = {
    "description": "one NVIDIA H200 shared by the server and the client hosts (Gloo, every rank "
    "computing on cuda:0)",
    "source": "docs/timeline.md, docs/results.md",
}
DEVICES = {
    "bytes_to_accuracy_resnet18_h200.json": H200,
    "bytes_to_accuracy_resnet18_seeds_h200.json": H200,
    "time_to_accuracy_resnet18.json": H200,
}
SCRATCH = "/root/out/"  # the GPU machine's output folder; its files were copied into docs/
# Where a file's config pointed outside this checkout: what it was, and why it is not the code.
COPIES = {
    "/tmp/scale_bench/": "run from a temporary copy of the repository at /tmp/scale_bench (the "
    "commit message of 41216a9: that branch's tree before the merge of main), whose commit was "
    "not recorded",
    "/work/main/": "run from the project's main checkout (/work/main); its commit at the time "
    "was not recorded",
}
# Files a script wrote to its OUT folder and that were copied here: a word of the command the
# docs give beside their table tells it from the others.
COPIED_FROM_OUT = {
    "bytes_to_accuracy_simple_conv.json": ("benchmarks/bytes_to_accuracy.py", "runs/b2a"),
    "bytes_to_accuracy_resnet18.json": ("benchmarks/bytes_to_accuracy.py", "runs/b2a_resnet18"),
    "round_time.json": ("benchmarks/round_time.py", "--hosts"),
    "scale.json": ("benchmarks/scale.py", "--train-limit"),
}
SCRATCH_COPY = (
    "written to a scratch folder on the GPU machine and copied into docs/ (docs/results.md, "
    "docs/timeline.md)"
)
NOTES = {
    "bytes_to_accuracy_resnet18_h200.json": [SCRATCH_COPY],
    "bytes_to_accuracy_resnet18_seeds_h200.json": [
        SCRATCH_COPY,
        "each seed was started as its own process (--seeds S) and the command then read the "
        "finished runs (docs/results.md)",
    ],
}
SCRIPT_DEFAULTS = {  # scripts that write their docs/ file when given no output path
    "synthetic_difficulty.json": "benchmarks/synthetic_difficulty.py",
    "averaging_modes.json": "benchmarks/averaging_modes.py",
    "mutations.json": "benchmarks/mutations.py",
    "wire_framing.json": "benchmarks/wire_framing.py",
}


def git_last(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "log", "-1", "--format=%H%n%cI%n%s", "--", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    if len(out) < 3:
        return {}
    return {"file_commit": out[0], "file_commit_date": out[1], "file_commit_subject": out[2]}


def documented_commands() -> list[tuple[str, str]]:
    """(doc, command) for every `python benchmarks/...` the docs give, quoted or indented,
    with its continuation lines joined."""
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text()
        for quoted in re.findall(r"`(python benchmarks/[^`]+)`", text):
            found.append((doc, " ".join(quoted.split())))
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("    python benchmarks/"):
                words = [line.strip()]
                while words[-1].endswith("\\") and i + 1 < len(lines):
                    i += 1
                    words[-1] = words[-1][:-1].rstrip()
                    words.append(lines[i].strip())
                found.append((doc, " ".join(words)))
    return [(f"docs/{doc.name}", command) for doc, command in found]


def documented_command(name: str, commands: list[tuple[str, str]]) -> tuple[str, str] | None:
    for doc, command in commands:
        if f"docs/{name}" in command.split():
            return doc, command
    if name in COPIED_FROM_OUT:
        script, word = COPIED_FROM_OUT[name]
        for doc, command in commands:
            if command.split()[1] == script and word in command.split():
                return doc, command
    script = SCRIPT_DEFAULTS.get(name)
    for doc, command in commands:
        words = command.split()
        if script and words[1] == script and not {"--json", "--out"} & set(words):
            return doc, command
    return None


def backfill(name: str, data: dict[str, Any], commands: list[tuple[str, str]]) -> dict[str, Any]:
    """`data` with a backfilled provenance first and its out-of-repository paths fixed."""
    block: dict[str, Any] = {"backfilled": True, **git_last(DOCS / name)}
    notes = []
    if "command" in data:
        recorded = data.pop("command")
        block["command"] = recorded.replace(SCRATCH, "docs/")
        block["command_source"] = "the file's own command field"
        if recorded != block["command"]:
            block["command_as_recorded"] = recorded
            notes.append(
                f"run on the GPU machine from a copy of the repository; its outputs went to a "
                f"scratch folder ({SCRATCH}) and were copied into docs/ (docs/timeline.md), so "
                "the command is given with docs/ in their place"
            )
    elif found := documented_command(name, commands):
        block["command"] = found[1]
        block["command_source"] = f"documented in {found[0]}; the run did not record its argv"
        if name in COPIED_FROM_OUT:
            block["command_source"] += "; the script wrote it under OUT and it was copied here"
    if "recorded" in data and SCRATCH.strip("/") in str(data["recorded"]):
        data["recorded"] = "docs/" + Path(data["recorded"]).name
    config = str(data.get("config", ""))
    for prefix, where in COPIES.items():
        if config.startswith(prefix):
            data["config"] = config[len(prefix) :]
            notes.append(f"{where}; config was {config}")
    block["device"] = DEVICES.get(name, DEV_MACHINE)
    overrides = data.get("extra_overrides", [])
    if any(o.startswith("runtime.threads_per_rank=") for o in overrides):
        block["threads"] = {"threads_per_rank": threads_per_rank(overrides)}
        block["threads_unknown"] = ["torch_num_threads", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]
    notes += NOTES.get(name, [])
    if notes:
        block["notes"] = notes
    block["unknown"] = [key for key in REQUIRED if key not in block]
    return {"provenance": block} | data


def label_realised_targets(data: dict[str, Any]) -> bool:
    """Add `realised_targets` where a comparison uses CSE-FSL's realised best; True if added."""
    text = json.dumps(data)
    if "realised_targets" in data or "to_cse_fsl_best_acc" not in text:
        return False
    data["realised_targets"] = REALISED_TARGETS
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files without one")
    args = parser.parse_args()
    commands = documented_commands()
    missing = []
    for path in sorted(DOCS.glob("*.json")):
        data = json.loads(path.read_text())
        if "provenance" in data:
            if not args.check and label_realised_targets(data):
                write_json(path, data)
                print(f"labelled the realised targets of {path.relative_to(ROOT)}")
            continue
        missing.append(path.name)
        if not args.check:
            label_realised_targets(data)
            write_json(path, backfill(path.name, data, commands))
            print(f"backfilled {path.relative_to(ROOT)}")
    if args.check and missing:
        print("no provenance: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
