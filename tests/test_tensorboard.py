"""TensorBoard events in RUN_DIR/tb/, read back with TensorBoard's own event reader."""

from __future__ import annotations

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fsl_sage_dist.report.tensorboard import TensorBoardLogger

from harness import read_metrics, small_config, spawn_job

MIB = 2**20
CATEGORIES = ("activations", "labels", "cut_grads", "client_model", "aux_model", "control")


def _expected_by_round(record: dict) -> dict[str, float]:
    """Written out independently of the module, from the tag list its docstring promises."""
    out = {
        "train/loss": record["train_loss"],
        "time/round_s": record["round_s"],
        "comm/round_payload_mib": record["round_payload_bytes"] / MIB,
        "comm/round_wire_mib": record["round_wire_bytes"] / MIB,
        "comm/cum_payload_mib": record["cum_payload_bytes"] / MIB,
        "comm/cum_wire_mib": record["cum_wire_bytes"] / MIB,
        "memory/client_peak_mib": record["memory"]["client_peak_bytes"] / MIB,
        "memory/server_peak_mib": record["memory"]["server_peak_bytes"] / MIB,
    }
    for category in CATEGORIES:
        for direction in ("up", "down"):
            out[f"comm/{direction}/{category}_mib"] = record["bytes"][category][direction] / MIB
    if record["test_acc"] is not None:
        out["eval/acc"] = record["test_acc"]
        out["eval/loss"] = record["test_loss"]
    return out


def _load_events(tb_dir) -> EventAccumulator:
    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.mark.slow
def test_two_round_run_writes_events_equal_to_metrics_jsonl(tmp_path):
    # eval.every=2: round 0 is not evaluated, so the eval tags must skip it.
    cfg = small_config(tmp_path, "algorithm=splitfed_v1", "eval.every=2")
    spawn_job(cfg)
    records = read_metrics(cfg.run_dir)
    tb_dir = cfg.run_dir / "tb"
    assert [p.name.startswith("events.out.tfevents.") for p in tb_dir.iterdir()] == [True]
    events = _load_events(tb_dir)

    expected: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        for tag, value in _expected_by_round(record).items():
            expected.setdefault(tag, []).append((record["round"], value))
    expected["eval/acc_vs_cum_kib"] = [
        (r["cum_payload_bytes"] // 1024, r["test_acc"])
        for r in records
        if r["test_acc"] is not None
    ]
    assert set(events.Tags()["scalars"]) == set(expected)
    assert [step for step, _ in expected["eval/acc"]] == [1]
    assert expected["comm/up/activations_mib"][0][1] > 0  # the categories carry real traffic
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        # Event files store scalars as float32.
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6), tag

    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert 'algorithm = "splitfed_v1"' in text and "[clients]" in text


def _fake_record(round_: int, acc: float) -> dict:
    per_round = 3 * MIB
    return {
        "round": round_,
        "algorithm": "fedavg",
        "test_acc": acc,
        "test_loss": 1.0,
        "train_loss": 1.0,
        "round_s": 1.0,
        "bytes": {
            c: {"up": per_round if c == "client_model" else 0, "down": 0} for c in CATEGORIES
        },
        "round_payload_bytes": per_round,
        "round_wire_bytes": per_round,
        "cum_payload_bytes": per_round * (round_ + 1),
        "cum_wire_bytes": per_round * (round_ + 1),
    }


def test_resume_rebuild_shows_each_round_once(tmp_path):
    """A crash after round 2, a checkpoint after round 1: round 2 runs again, with new values."""
    first = TensorBoardLogger(tmp_path / "tb", "rounds = 4\n")
    for r, acc in enumerate([0.1, 0.2, 0.3]):
        first.log_round(_fake_record(r, acc))
    first.close()
    kept = [_fake_record(0, 0.1), _fake_record(1, 0.2)]
    resumed = TensorBoardLogger(tmp_path / "tb", "rounds = 4\n", rebuild_from=kept)
    resumed.log_round(_fake_record(2, 0.35))
    resumed.close()
    events = _load_events(tmp_path / "tb")
    assert [(e.step, round(e.value, 4)) for e in events.Scalars("eval/acc")] == [
        (0, 0.1),
        (1, 0.2),
        (2, 0.35),
    ]
    kib = [e.step for e in events.Scalars("eval/acc_vs_cum_kib")]
    assert kib == [3 * 1024, 6 * 1024, 9 * 1024]
