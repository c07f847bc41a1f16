"""What the README promises about bad input: one line on stderr, exit status 2, nothing started
and nothing written; and a rerun of a complete run does nothing.

The CLI is called in this process (`cli.main`): none of these cases may get as far as a spawn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fsl_sage_dist import cli

from harness import SMALL_JOB, digest, small_config, spawn_job


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = cli.main(["run", *args])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


def one_line_error(capsys, *args: str) -> str:
    code, lines, _ = run(capsys, *args)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_unknown_key_is_one_line_with_a_suggestion(tmp_path, capsys, no_spawn):
    line = one_line_error(capsys, "rouns=3", f"output.dir={tmp_path}")
    assert line == (
        "error: unknown config key 'rouns'; did you mean 'rounds'? (valid here: "
        "algorithm, rounds, seed, clients, launch, data, model, lora, train, fsl, "
        "wire, runtime, eval, network, output, checkpoint, slurm)"
    )
    assert not any(tmp_path.iterdir()), "nothing may be written for a bad config"


def test_bad_value_is_one_line(tmp_path, capsys, no_spawn):
    assert "train.lr=-1.0 is invalid" in one_line_error(
        capsys, "train.lr=-1", f"output.dir={tmp_path}"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "dataset, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_missing_dataset_offline_is_one_line(
    tmp_path, capsys, monkeypatch, no_spawn, dataset, folder
):
    monkeypatch.setenv("FSL_SAGE_OFFLINE", "1")
    empty = tmp_path / "data"
    empty.mkdir()
    code, lines, _ = run(
        capsys,
        f"data.name={dataset}",
        f"data.root={empty}",
        "model.name=resnet18",
        f"output.dir={tmp_path / 'runs'}",
    )
    text = "\n".join(lines)
    assert code == 2 and str(empty / folder) in text and "download=True" in text
    assert not (tmp_path / "runs").exists()
    assert len(lines) == 1, lines


def test_missing_fashion_mnist_is_one_line():
    """Its loader falls back to the system copy when data.root exists, so the message itself."""
    from fsl_sage_dist.data.fashion_mnist import _not_found

    message = str(_not_found([Path("/a"), Path("/b")], Path("/c"), "offline"))
    assert "\n" not in message and "/a, /b" in message and "dataset-fashion-mnist" in message


def test_run_dir_that_already_holds_a_run_is_refused(tmp_path, capsys, no_spawn):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"round": 0}\n')
    before = digest(run_dir)
    line = one_line_error(capsys, *SMALL_JOB, f"output.dir={tmp_path}")
    assert f"{run_dir} already holds a run" in line and "output.name" in line
    assert digest(run_dir) == before


@pytest.mark.slow
def test_rerun_of_a_complete_run_does_nothing(tmp_path, capsys, no_spawn):
    """A real finished run with checkpoints; the same command again starts nothing, writes
    nothing and exits 0."""
    cfg = small_config(tmp_path, "algorithm=cse_fsl", "checkpoint.every=1")
    spawn_job(cfg)
    before = digest(cfg.run_dir)
    code, lines, out = run(
        capsys, *SMALL_JOB, "algorithm=cse_fsl", "checkpoint.every=1", f"output.dir={tmp_path}"
    )
    assert code == 0 and lines == []
    assert out.strip() == f"{cfg.run_dir} is already complete (2 rounds); nothing to do"
    assert digest(cfg.run_dir) == before
