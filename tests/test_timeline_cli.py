"""`fsl-sage timeline` and compare's time@A on RUN_DIRs written here by hand (no job runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare import table_rows, write_run
from test_timeline import NET, plan_of, round_log

from fsl_sage_dist.cli import main
from fsl_sage_dist.timeline import simulate_round

from availability import require


def write_timeline_run(
    root: Path, name: str, algorithm: str, accs: list[float | None], network: str = ""
) -> Path:
    """A RUN_DIR whose messages.jsonl holds the same round (2 clients on 2 hosts) each time."""
    run_dir = write_run(root, name, algorithm, accs, 1)
    (run_dir / "config.toml").write_text(
        f'algorithm = "{algorithm}"\nrounds = {len(accs)}\nseed = 1\n'
        "[clients]\nnum = 2\nper_round = 0\n[launch]\nclient_hosts = 2\n"
        '[fsl]\nserver_interval = 5\nserver_order = "interleaved"\nasync_align = false\n' + network
    )
    lines = []
    for r in range(len(accs)):
        log = round_log(algorithm, 2)
        log.round = r
        lines.append(json.dumps(log.to_json()))
    (run_dir / "messages.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


def per_round(algorithm: str) -> float:
    return simulate_round(plan_of(algorithm, 2, 2), round_log(algorithm, 2), NET).seconds


DECLARED = [
    "--compute",
    "declared",
    "--client-iter-ms",
    "30",
    "--server-step-ms",
    "5",
    "--align-ms",
    "100",
]
PROFILE = ["--up-mbps", "8", "--down-mbps", "16", "--rtt-ms", "40", *DECLARED]


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return [
        write_timeline_run(tmp_path, "fedavg", "fedavg", [0.5, 0.8, 0.86]),
        write_timeline_run(tmp_path, "sfv1", "splitfed_v1", [0.81, None, 0.84]),
    ]


def test_time_to_accuracy_is_the_sum_of_simulated_rounds(runs, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["timeline", *map(str, runs), *PROFILE, "--json", str(out)]) == 0
    rows = {r["run"]: r for r in json.loads(out.read_text())["runs"]}
    fedavg, sfv1 = per_round("fedavg"), per_round("splitfed_v1")
    assert rows["fedavg"]["seconds_to_target"] == {
        "0.8": pytest.approx(2 * fedavg),
        "0.85": pytest.approx(3 * fedavg),
    }
    assert rows["sfv1"]["seconds_to_target"] == {"0.8": pytest.approx(sfv1), "0.85": None}
    table = table_rows(capsys.readouterr().out)
    assert table["sfv1"]["time@0.85"] == "not reached"
    assert table["fedavg"]["sim s/round"] == f"{fedavg:.2f}"


def test_the_runs_own_profile_is_used_without_flags(tmp_path, capsys):
    network = (
        "[network]\nup_mbps = 8.0\ndown_mbps = 16.0\nrtt_ms = 40.0\ncompute = "
        '"declared"\nclient_iter_ms = 30.0\nserver_step_ms = 5.0\nalign_ms = 100.0\n'
    )
    run = write_timeline_run(tmp_path, "own", "cse_fsl", [0.9], network)
    out = tmp_path / "t.json"
    assert main(["timeline", str(run), "--json", str(out)]) == 0
    row = json.loads(out.read_text())["runs"][0]
    assert row["sim_s_per_round"] == pytest.approx(per_round("cse_fsl"))


def test_no_profile_is_one_clear_error(runs, capsys):
    assert main(["timeline", str(runs[0])]) == 2
    assert "give --up-mbps and --down-mbps" in capsys.readouterr().err
    assert main(["timeline", str(runs[0]), "--up-mbps", "5"]) == 2
    assert "network.down_mbps" in capsys.readouterr().err


def test_a_run_without_message_log_is_skipped_by_name(runs, tmp_path, capsys):
    old = write_run(tmp_path, "old", "fedavg", [0.9], 1)
    assert main(["timeline", str(old), *map(str, runs), *PROFILE]) == 1
    captured = capsys.readouterr()
    assert f"skipping run old: {old / 'messages.jsonl'}: missing" in captured.err
    assert set(table_rows(captured.out)) == {"fedavg", "sfv1"}


def test_plot_writes_a_png(runs, tmp_path):
    require("matplotlib", "--plot needs the optional extra 'plot'")
    png = tmp_path / "t.png"
    assert main(["timeline", *map(str, runs), *PROFILE, "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_shows_time_at_target_for_runs_with_a_timeline(tmp_path, capsys):
    timed = write_run(tmp_path, "timed", "fsl_sage", [0.5, 0.82], 1)
    lines = [json.loads(x) for x in (timed / "metrics.jsonl").read_text().splitlines()]
    for r, rec in enumerate(lines):
        rec["sim_round_s"], rec["cum_sim_s"] = 45.0, 45.0 * (r + 1)
    (timed / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    plain = write_run(tmp_path, "plain", "fedavg", [0.9], 1)
    assert main(["compare", str(timed), str(plain)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["timed"]["time@0.8"] == "90.0 s" and rows["timed"]["time@0.85"] == "not reached"
    assert rows["plain"]["time@0.8"] == "-"


def test_per_client_devices_lifts_the_hosts_lockstep(tmp_path):
    """SplitFed-v1 with both clients on one host waits in lockstep; as two devices it does not."""
    run = write_timeline_run(tmp_path, "one_host", "splitfed_v1", [0.9])
    text = (run / "config.toml").read_text().replace("client_hosts = 2", "client_hosts = 1")
    (run / "config.toml").write_text(text)
    got = {}
    for flags in ([], ["--per-client-devices"]):
        out = tmp_path / f"t{len(flags)}.json"
        assert main(["timeline", str(run), *PROFILE, *flags, "--json", str(out)]) == 0
        got[len(flags)] = json.loads(out.read_text())["runs"][0]["sim_s_per_round"]
    lockstep = simulate_round(plan_of("splitfed_v1", 2, 1), round_log("splitfed_v1", 2), NET)
    assert got == {0: pytest.approx(lockstep.seconds), 1: pytest.approx(per_round("splitfed_v1"))}
    assert got[0] > got[1]


def test_tensorboard_shows_simulated_time(tmp_path):
    from test_tensorboard import _fake_record, _load_events

    from fsl_sage_dist.report.tensorboard import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path / "tb", "rounds = 2\n")
    for r, acc in enumerate([0.5, 0.7]):
        logger.log_round(_fake_record(r, acc) | {"sim_round_s": 30.5, "cum_sim_s": 30.5 * (r + 1)})
    logger.close()
    events = _load_events(tmp_path / "tb")
    assert [(e.step, e.value) for e in events.Scalars("time/sim_round_s")] == [(0, 30.5), (1, 30.5)]
    assert [(e.step, round(e.value, 4)) for e in events.Scalars("eval/acc_vs_sim_s")] == [
        (30, 0.5),
        (61, 0.7),
    ]


def _damage(run_dir: Path, how: str) -> None:
    """One kind of damage to the first line of a run's messages.jsonl."""
    path = run_dir / "messages.jsonl"
    first, rest = path.read_text().split("\n", 1)
    data = json.loads(first)
    if how == "not_utf8":
        path.write_bytes(b"\xff\xfe" + first.encode()[2:] + b"\n" + rest.encode())
        return
    if how == "deep":
        first = "[" * 100_000 + "]" * 100_000
    elif how == "wrong_type":
        data["messages"]["bytes"][0] = "many"
        first = json.dumps(data)
    elif how == "absurd":
        data["messages"]["bytes"][0] = 10**400
        first = json.dumps(data)
    elif how == "negative":
        data["messages"]["bytes"][0] = -5
        first = json.dumps(data)
    elif how == "nan_time":
        data["client_compute"]["forward_s"][0] = float("nan")
        first = json.dumps(data)
    elif how == "participants":
        data["participants"] = {"a": 1}
        first = json.dumps(data)
    path.write_text(first + "\n" + rest)


@pytest.mark.parametrize(
    "how", ["not_utf8", "deep", "wrong_type", "absurd", "negative", "nan_time", "participants"]
)
def test_a_damaged_message_log_skips_the_run_with_one_line(runs, capsys, how):
    """No traceback: the damaged run is skipped by name and line, the others are shown."""
    _damage(runs[0], how)
    status = main(["timeline", *map(str, runs), *PROFILE])
    captured = capsys.readouterr()
    assert status == 1, captured.err
    (line,) = [ln for ln in captured.err.splitlines() if "skipping run fedavg" in ln]
    assert f"{runs[0] / 'messages.jsonl'}, line 1: " in line, line
    assert set(table_rows(captured.out)) == {"sfv1"}


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_an_unwritable_output_is_one_line(runs, tmp_path, capsys, flag):
    if flag == "--plot":
        require("matplotlib", "--plot needs the optional extra 'plot'")
    target = tmp_path / "no_such_folder" / ("out.png" if flag == "--plot" else "out.json")
    assert main(["timeline", *map(str, runs), *PROFILE, flag, str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "no such file" in err.lower(), err
