"""Bad input fails before any rank is spawned: one line on stderr, exit status 2 (issue 14
item 8). Run in-process through the CLI's `main`, with spawning made impossible; plus a run that
diverges, which can only be found while it runs."""

from __future__ import annotations

import json
import os

import pytest
import torch

from fsl_sage_dist import cli
from fsl_sage_dist.checkpoint import write_manifest
from fsl_sage_dist.config import load_config
from fsl_sage_dist.preflight import claim_run_dir
from fsl_sage_dist.report.summary import DivergedError, check_losses_finite

from availability import require
from harness import run_cli

BASE = [
    "data.name=synthetic",
    "rounds=2",
    "clients.num=4",
    "launch.client_hosts=2",
    "data.synthetic_size=[480,200]",
    "runtime.threads_per_rank=1",
    "output.name=run",
]


def _run(capsys, tmp_path, *items: str) -> tuple[int, list[str]]:
    """`fsl-sage run [CONFIG] BASE... items...`: the case's overrides come last, so they win."""
    config = [items[0]] if items and "=" not in items[0] else []
    overrides = items[len(config) :]
    status = cli.main(["run", *config, f"output.dir={tmp_path / 'out'}", *BASE, *overrides])
    return status, capsys.readouterr().err.splitlines()


def _config_dir(tmp_path):
    return [str(tmp_path)]


def _config_non_utf8(tmp_path):
    (tmp_path / "bad.toml").write_bytes(b'algorithm = "fed\xe4vg"\n')
    return [str(tmp_path / "bad.toml")]


def _config_fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo.toml")  # reading it would block forever
    return [str(tmp_path / "fifo.toml")]


def _dir_under_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return [f"output.dir={tmp_path / 'file' / 'runs'}"]


def _spill_dir_under_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return ["runtime.spill=true", f"runtime.spill_dir={tmp_path / 'file' / 'spill'}"]


def _rounds_below_checkpoint(tmp_path):
    cfg = load_config(None, [f"output.dir={tmp_path / 'out'}", *BASE, "rounds=5"])
    cfg.run_dir.mkdir(parents=True)
    write_manifest(cfg, 3, [(1, bytes(32))] * cfg.world_size)
    return []  # BASE has rounds=2, below the 4 rounds the checkpoint holds


def _run_dir_past_path_max(tmp_path):
    return [f"output.dir={tmp_path.joinpath(*['d' * 200] * 25)}"]  # each name short enough


def _pretrained(tmp_path, what: str) -> list[str]:
    require("transformers", "model.pretrained needs the optional extra 'llm'")
    folder = tmp_path / "pretrained"
    folder.mkdir()
    if what == "bad_config":
        (folder / "config.json").write_text("{not json")
    elif what == "pickled":
        from transformers import GPT2Config

        GPT2Config(n_layer=2, n_embd=8, n_head=2).save_pretrained(folder)
        # a pickle that would run code if it were unpickled (it must be refused unread)
        (folder / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    return [
        "model.name=gpt2",
        "data.name=e2e_synthetic",
        f"model.pretrained={folder}",
    ]


CASES = {
    "max_message_inf": (["wire.max_message_mib=inf"], "wire.max_message_mib=inf"),
    "timeout_inf": (["runtime.timeout_s=inf"], "runtime.timeout_s=inf"),
    "timeout_1e300": (["runtime.timeout_s=1e300"], "runtime.timeout_s=1e+300"),
    "seed_negative": (["seed=-1"], "seed=-1"),
    "shape_too_small": (["data.synthetic_shape=[1,1,1]"], "cannot take the synthetic inputs"),
    "more_clients_than_samples": (["clients.num=600"], "600 clients but only 480"),
    "too_many_shards": (
        ["data.partition=shards", "data.shards_per_client=200"],
        "cannot fill 800 shards",
    ),
    "alpha_inf": (["data.partition=dirichlet", "data.alpha=inf"], "data.alpha=inf"),
    "lr_inf": (["train.lr=inf"], "train.lr=inf"),
    "lr_nan": (["train.lr=nan"], "train.lr=nan"),
    "aux_lr_inf": (["fsl.aux_lr=inf"], "fsl.aux_lr=inf"),
    "weight_decay_inf": (["train.weight_decay=inf"], "train.weight_decay=inf"),
    "mem_gb_inf": (["slurm.mem_gb=inf"], "slurm.mem_gb=inf"),
    "nccl_without_gpus": (["runtime.backend=nccl"], "needs one GPU per rank"),
    "output_dir_under_file": (_dir_under_file, "Not a directory"),
    "spill_dir_under_file": (_spill_dir_under_file, "cannot hold spilled client state (not a"),
    "config_is_dir": (_config_dir, "is not a regular file"),
    "config_non_utf8": (_config_non_utf8, "is not UTF-8 text"),
    "config_fifo": (_config_fifo, "is not a regular file"),
    "name_too_long": (["output.name=" + "x" * 300], "at most 255 bytes"),
    "data_root_missing": (
        ["data.name=fashion_mnist", "data.root=/no/such/folder"],
        "data.root='/no/such/folder' is not an existing folder",
    ),
    "name_escapes_dir": (["output.name=../../x"], "a relative path inside output.dir"),
    "name_control_chars": (["output.name=a\x1bb"], "without control characters"),
    "rounds_below_checkpoint": (_rounds_below_checkpoint, "rounds=2 is below the 4 rounds"),
    "run_dir_past_path_max": (_run_dir_past_path_max, "too long for the files in it"),
    "pretrained_empty": (lambda p: _pretrained(p, "empty"), "holds no model this can load"),
    "pretrained_bad_config": (
        lambda p: _pretrained(p, "bad_config"),
        "holds no model this can load",
    ),
    "pretrained_pickled": (lambda p: _pretrained(p, "pickled"), "holds no model this can load"),
    "model_needs_more_than_memory": (
        ["data.synthetic_shape=[1,4000,4000]"],
        "more than this machine's",
    ),
    "batch_of_one_with_batchnorm": (
        ["model.name=resnet18", "train.batch_size=1", "data.synthetic_shape=[3,32,32]"],
        "BatchNorm layers need more than one sample",
    ),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry_run"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_spawn_in_one_line(tmp_path, capsys, no_spawn, case, dry_run):
    """Each case also under --dry-run: it must refuse whatever the real run refuses."""
    items, message = CASES[case]
    if case == "nccl_without_gpus" and torch.cuda.is_available():
        pytest.skip("this machine has GPUs")
    items = items(tmp_path) if callable(items) else items
    status, lines = _run(capsys, tmp_path, *items, *(["--dry-run"] if dry_run else []))
    assert status == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert message in lines[0]


def test_second_run_on_a_locked_run_dir_is_refused(tmp_path, capsys, no_spawn):
    cfg = load_config(None, [f"output.dir={tmp_path / 'out'}", *BASE])
    held = claim_run_dir(cfg)  # as the first run's launcher holds it
    try:
        status, lines = _run(capsys, tmp_path)
        assert status == 2 and len(lines) == 1
        assert "is in use by another run that is still going" in lines[0]
    finally:
        os.close(held)
    with pytest.raises(AssertionError, match="about to be spawned"):
        _run(capsys, tmp_path)  # free again once the first run ends


def test_non_finite_loss_names_round_and_algorithm():
    record = {"round": 4, "algorithm": "cse_fsl", "train_loss": float("nan"), "test_loss": None}
    with pytest.raises(DivergedError, match=r"^cse_fsl diverged in round 5: train_loss is nan;"):
        check_losses_finite(record)
    check_losses_finite(record | {"train_loss": 1e30})  # huge but finite: not our call


NAN_LOSS_HOOK = """
import torch.nn.functional as F
from fsl_sage_dist.models.objective import Classification

Classification.mean = lambda self, out, y: F.nll_loss(out, y) * float("nan")
"""
"""A sitecustomize.py that makes every training loss NaN: a run that diverges, in every rank,
with a learning rate the config accepts (an lr large enough to overflow is refused)."""


@pytest.mark.slow
def test_diverging_run_stops_with_one_clear_line(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NAN_LOSS_HOOK)
    proc = run_cli(
        "run",
        "algorithm=fedavg",
        "rounds=3",
        "clients.num=2",
        "launch.client_hosts=1",
        "data.name=synthetic",
        "data.synthetic_size=[128,64]",
        "train.batch_size=32",
        "runtime.threads_per_rank=1",
        "runtime.timeout_s=60",
        "checkpoint.every=1",
        f"output.dir={tmp_path}",
        "output.name=run",
        path=(hook,),
    )
    print(proc.stderr[-1500:])
    assert proc.returncode != 0
    assert "fedavg diverged in round 1: train_loss is nan" in proc.stderr
    (line,) = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    record = json.loads(line)  # valid JSON: no bare NaN
    assert record["train_loss"] is None and "train_loss" in record["nonfinite"]
    assert not (tmp_path / "run" / "checkpoints" / "manifest.json").exists(), (
        "the diverged round is never checkpointed"
    )


def test_config_toml_stays_valid_whatever_a_string_holds():
    import tomllib

    odd = 'a\tb\x01c"d\\e\x7f\u00e9'
    cfg = load_config(None, ["slurm.account=x"])
    cfg.slurm.account = odd  # strings other than paths may hold anything
    assert tomllib.loads(cfg.to_toml())["slurm"]["account"] == odd
