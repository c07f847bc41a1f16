"""The Results and Performance tables (docs/results.md) say what the files in docs/ say.

Each table is found by its header row and every cell is compared with the JSON a script under
benchmarks/ wrote, at the precision the README prints. tests/test_doc_figures.py checks the
prose and fails on a numeric table whose header no test here knows.
"""

from __future__ import annotations

import json
import re

import pytest

from harness import ROOT

# The README links to docs/*.md for the full tables; the sections live there.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = "\n".join(page.read_text() for page in PAGES)
NAMES = {
    "FedAvg": "fedavg",
    "SplitFed-v1": "splitfed_v1",
    "SplitFed-v2": "splitfed_v2",
    "CSE-FSL": "cse_fsl",
    "FSL-SAGE": "fsl_sage",
}


def docs(name: str) -> dict:
    return json.loads((ROOT / "docs" / name).read_text())


def tables(section: str) -> dict[str, list[list[str]]]:
    """Header row -> body rows (cells without bold markers) of every table in a ## section."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[list[str]]] = {}
    for block in re.findall(r"((?:^\|.*\|\n)+)", body, flags=re.MULTILINE):
        rows = [
            [c.strip().replace("**", "") for c in line.strip("|").split("|")]
            for line in block.strip().splitlines()
        ]
        found.setdefault(" | ".join(rows[0]), []).extend(rows[2:])
    return found


def mib(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


B2A = (
    "algorithm | final acc | best acc | payload MiB to 80% | payload MiB to 85% | "
    "total payload MiB | s/round"
)


@pytest.mark.parametrize("model", ["simple_conv", "resnet18"])
def test_bytes_to_accuracy_tables(model):
    """The simple_conv table comes first in Results, then the ResNet-18 one."""
    rows = tables("Results")[B2A]
    runs = docs(f"bytes_to_accuracy_{model}.json")["runs"]
    mine = rows[:5] if model == "simple_conv" else rows[5:10]
    assert [NAMES[r[0]] for r in mine] == list(runs)
    for row in mine:
        run = runs[NAMES[row[0]]]
        assert row[1:] == [
            f"{run['final_acc']:.4f}",
            f"{run['best_acc']:.4f}",
            mib(run["payload_mib_to"]["0.8"]),
            mib(run["payload_mib_to"]["0.85"]),
            f"{run['total_payload_mib']:.1f}",
            f"{run['s_per_round']:.1f}",
        ], row


def spread(s: dict, spec: str) -> str:
    """A benchmark's mean (min–max) over seeds, as docs/results.md prints it."""
    if s["n"] == 0:
        return "not reached"
    if s["n"] < s["of"]:
        return f"{s['mean']:{spec}} ({s['n']} of {s['of']} seeds)"
    return f"{s['mean']:{spec}} ({s['min']:{spec}}–{s['max']:{spec}})"


@pytest.mark.parametrize(
    "name, targets",
    [("simple_conv_seeds", ("0.75", "0.8")), ("resnet18_seeds_h200", ("0.8", "0.85"))],
)
def test_seeds_tables(name, targets):
    header = " | ".join(
        [
            "algorithm",
            "final acc",
            "best acc",
            *[f"payload MiB to {float(t):.0%}" for t in targets],
            "total payload MiB",
        ]
    )
    rows = tables("Results")[header]
    runs = docs(f"bytes_to_accuracy_{name}.json")["over_seeds"]["runs"]
    assert [[NAMES[row[0]], *row[1:]] for row in rows] == [
        [
            algorithm,
            spread(run["final_acc"], ".4f"),
            spread(run["best_acc"], ".4f"),
            *[spread(run["payload_mib_to"][t], ".1f") for t in targets],
            f"{run['total_payload_mib']['mean']:.1f}",
        ]
        for algorithm, run in runs.items()
    ]


LAYOUTS = {
    "in-process, 2 threads": "in-process, all cores",
    "in-process, 1 thread": "in-process, 1 thread",
    "2 ranks (1 host), 1 thread each": "2 ranks",
    "3 ranks (2 hosts), 1 thread each": "3 ranks",
}


def test_round_time_table():
    rows = tables("Performance")["algorithm | layout | round 0 s | steady s/round | speed-up"]
    results = docs("round_time.json")["results"]
    assert len(rows) == 8
    for row in rows:
        algorithm = NAMES[row[0]]
        got = results[algorithm][LAYOUTS[row[1]]]
        baseline = results[algorithm]["in-process, all cores"]["steady_s"]
        assert row[2:] == [
            f"{got['first_s']:.1f}",
            f"{got['steady_s']:.1f}",
            f"{baseline / got['steady_s']:.2f}×",
        ], row


def test_compression_table():
    header = (
        "FSL-SAGE wire dtype | final acc | vs fp32 | best acc | payload MiB to 80% | "
        "to 85% | MiB to CSE-FSL's best | / CSE-FSL"
    )
    rows = tables("Performance")[header]
    runs = docs("bytes_to_accuracy_resnet18.json")["compression"]
    assert [r[0] for r in rows] == list(runs)
    for row in rows:
        run = runs[row[0]]
        delta = run["final_acc_minus_fp32"] * 100
        vs_fp32 = "" if row[0] == "fp32" else f"−{-delta:.2f} pt"
        ratio = "–" if run["vs_cse_fsl"] is None else f"{run['vs_cse_fsl']:.2f}"
        assert row[1:] == [
            f"{run['final_acc']:.4f}",
            vs_fp32,
            f"{run['best_acc']:.4f}",
            mib(run["payload_mib_to"]["0.8"]),
            mib(run["payload_mib_to"]["0.85"]),
            mib(run["mib_to_cse_fsl_best"]),
            ratio,
        ], row


def test_scale_table():
    header = "clients | samples per round | s/round | peak RSS MiB server | host 1 | host 2"
    rows = tables("Performance")[header]
    runs = docs("scale.json")["runs"]
    assert len(rows) == len(runs)
    for row, run in zip(rows, runs):
        assert row == [
            str(run["clients"]),
            str(run["samples_per_round"]),
            f"{run['mean_round_s']:.1f}",
            *[f"{rss:.0f}" for rss in run["peak_rss_mib"]],
        ], row


def test_averaging_modes_table():
    rows = tables("Averaging modes")[
        "participants | hosts | exact s/round | reduce s/round | exact / reduce"
    ]
    run = docs("averaging_modes.json")
    assert rows == [
        [
            str(run["clients"]),
            str(run["hosts"]),
            f"{run['steady_s_per_round']['exact']:.2f}",
            f"{run['steady_s_per_round']['reduce']:.2f}",
            f"{run['exact_over_reduce']:.2f}",
        ]
    ]


def duration(seconds: float | None) -> str:
    """As fsl_sage_dist.text_table.duration prints it, written out again."""
    if seconds is None:
        return "not reached"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


@pytest.mark.parametrize(
    "section, models",
    [
        ("Results on three links", ("simple_conv", "resnet18")),
        ("Time to accuracy on real networks", ("resnet18",)),
    ],
)
def test_time_to_accuracy_tables(section, models):
    """docs/timeline.md has the simple_conv table, then the ResNet-18 one; the README the
    ResNet-18 one."""
    header = (
        "algorithm | rounds to 80% / 85% | data centre: 80% | data centre: 85% | "
        "broadband: 80% | broadband: 85% | mobile: 80% | mobile: 85%"
    )
    rows = tables(section)[header]
    expected = []
    for model in models:
        for algorithm, got in docs(f"time_to_accuracy_{model}.json")["results"].items():
            rounds = " / ".join(
                "not reached" if got["rounds_to"][t] is None else str(got["rounds_to"][t])
                for t in ("0.8", "0.85")
            )
            times = [
                duration(got["time_to_s"][p][t])
                for p in ("data centre", "broadband", "mobile")
                for t in ("0.8", "0.85")
            ]
            expected.append([algorithm, rounds, *times])
    assert [[NAMES[row[0]], *row[1:]] for row in rows] == expected


@pytest.mark.parametrize(
    "section, files",
    [
        ("Performance", ("scale_10000_clients.json", "scale_resnet18.json")),
        ("Many clients, many nodes", ("scale_resnet18.json",)),
    ],
)
def test_many_clients_took_part_tables(section, files):
    """10,000 simple_conv clients and the ResNet-18 table in docs/results.md; the ResNet-18
    table in the README."""
    header = (
        "clients | per round | rounds | took part | spill | s/round | spilled MiB | "
        "peak RSS MiB server | host 1 | host 2"
    )
    rows = tables(section)[header]
    runs = [run for name in files for run in docs(name)["runs"]]
    assert rows == [scale_row(run, took_part=True) for run in runs]


def scale_row(run: dict, took_part: bool) -> list[str]:
    """A benchmarks/scale.py row as docs/results.md prints it."""
    return [
        str(run["clients"]),
        str(run["per_round"]),
        str(run["rounds"]),
        *([str(run["clients_seen"])] if took_part else []),
        "on" if run["spill"] else "off",
        f"{run['mean_round_s']:.1f}",
        f"{run['spill_mib']:.0f}",
        *[f"{rss:.0f}" for rss in run["peak_rss_mib"]],
    ]


def test_every_client_scale_table():
    header = (
        "clients | per round | rounds | spill | s/round | spilled MiB | "
        "peak RSS MiB server | host 1 | host 2"
    )
    rows = tables("Performance")[header]
    runs = docs("scale_every_client.json")["runs"]
    assert rows == [scale_row(run, took_part=False) for run in runs]


def test_async_align_table():
    header = "mode | alignment rounds, mean s | other round, s | acc after round 3 | payload MiB"
    rows = tables("Results")[header]
    run = docs("async_align_resnet18.json")
    assert f"acc after round {run['rounds']}" in header
    assert rows == [
        [
            mode,
            f"{got['mean_align_round_s']:.1f}",
            f"{got['mean_other_round_s']:.1f}",
            f"{got['final_acc']:.4f}",
            f"{got['total_payload_mib']:.1f}",
        ]
        for mode, got in run["modes"].items()
    ]


MIB = 1 << 20
MEMORY_MODELS = {
    "ResNet-18, 1×28×28": "resnet18_fmnist",
    "ResNet-18, 3×32×32": "resnet18_cifar",
    "simple_conv": "simple_conv",
    "GPT-2 medium, LoRA": "gpt2_lora",
}
MEMORY_PEAKS = (
    "model | side | FedAvg | SplitFed-v1 | SplitFed-v2 | CSE-FSL | FSL-SAGE | "
    "FSL-SAGE / FedAvg | / CSE-FSL | / SplitFed-v1 | / SplitFed-v2"
)
MEMORY_PART_NAMES = ("params", "frozen", "grads", "optimizer", "aux", "activations", "inputs")
MEMORY_PARTS = (
    "model | algorithm | side | params | frozen | grads | optimizer | aux | activations | "
    "inputs | peak"
)


def memory_peak_rows(run: dict) -> list[list[str]]:
    """benchmarks/memory.py's peaks and ratios, as the README prints them (MiB)."""
    rows = []
    for label, key in MEMORY_MODELS.items():
        model = run["models"][key]
        for side in ("client", "server"):
            peaks = [model["algorithms"][a][f"{side}_peak_bytes"] / MIB for a in NAMES.values()]
            ratios = [
                model["ratios"][side][f"fsl_sage/{b}"]
                for b in ("fedavg", "cse_fsl", "splitfed_v1", "splitfed_v2")
            ]
            rows.append(
                [
                    label,
                    side,
                    *[f"{p:.1f}" for p in peaks],
                    *["–" if r is None else f"{r:.2f}" for r in ratios],
                ]
            )
    return rows


def test_memory_peaks_table():
    assert tables("Client memory")[MEMORY_PEAKS] == memory_peak_rows(docs("memory.json"))


def test_memory_parts_table():
    """docs/results.md: every part at each side's peak, for ResNet-18 at CIFAR's shape and
    GPT-2 medium."""
    run = docs("memory.json")
    expected = []
    for label in ("ResNet-18, 3×32×32", "GPT-2 medium, LoRA"):
        for name, algorithm in NAMES.items():
            got = run["models"][MEMORY_MODELS[label]]["algorithms"][algorithm]
            for side in ("client", "server"):
                parts = got[f"{side}_parts"]
                expected.append(
                    [
                        label,
                        name,
                        side,
                        *[f"{parts[p] / MIB:.1f}" for p in MEMORY_PART_NAMES],
                        f"{got[f'{side}_peak_bytes'] / MIB:.1f}",
                    ]
                )
    assert tables("Memory by part")[MEMORY_PARTS] == expected
