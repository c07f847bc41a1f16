"""The LLM tables in docs/llm.md (and the README) say what the JSON files the benchmarks wrote
say."""

from __future__ import annotations

from test_readme_numbers import NAMES, docs, tables

BYTES_HEADER = (
    "algorithm | activations | cut grads | client model | aux model | payload | "
    "labels (wire) | reference counter | reference / ours"
)


def test_paper_scale_bytes_table_is_the_benchmark_output():
    rows = tables("Bytes at the paper's scale")[BYTES_HEADER]
    result = {r["algorithm"]: r for r in docs("llm_bytes.json")["rows"]}
    assert [NAMES[row[0]] for row in rows] == list(result)
    for row in rows:
        got = result[NAMES[row[0]]]
        ours, reference = got["ours_mib"], got["reference_mib"]
        assert row[1:] == [
            f"{ours['activations']:,.1f}",
            f"{ours['cut_grads']:,.1f}",
            f"{ours['client_model']:,.2f}",
            f"{ours['aux_model']:,.2f}",
            f"{ours['payload']:,.1f}",
            f"{ours['labels']:,.1f}",
            f"{reference:,.1f}",
            f"{reference / ours['payload']:.1f}x",
        ]


def test_readme_llm_table_is_the_benchmark_output():
    rows = tables("LLM split fine-tuning")["algorithm | payload MiB per round | reference counter"]
    result = {r["algorithm"]: r for r in docs("llm_bytes.json")["rows"]}
    assert [NAMES[row[0]] for row in rows] == list(result)
    for row in rows:
        got = result[NAMES[row[0]]]
        assert row[1:] == [f"{got['ours_mib']['payload']:,.1f}", f"{got['reference_mib']:,.1f}"]


def test_tiny_setting_table_is_the_benchmark_output():
    result = docs("bytes_to_accuracy_llm_tiny.json")
    target = f"{result['targets'][0]:g}"
    header = (
        "algorithm | final test loss | final next-token acc | slot error rate | "
        f"payload MiB to acc {target} | total payload MiB | s/round"
    )
    rows = tables("The tiny setting")[header]
    assert [NAMES[row[0]] for row in rows] == list(result["runs"])
    for row in rows:
        got = result["runs"][NAMES[row[0]]]
        reached = got["payload_mib_to"][target]
        assert row[1:] == [
            f"{got['final_loss']:.3f}",
            f"{got['final_acc']:.3f}",
            f"{got['final_ser']:.2f}",
            "not reached" if reached is None else f"{reached:.1f}",
            f"{got['total_payload_mib']:.1f}",
            f"{got['s_per_round']:.1f}",
        ]
