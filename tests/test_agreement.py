"""What the ranks agree on, without processes: the config at start-up, and each checkpoint.

`runtime/agreement.py` runs over the rank's Transport, so three ranks taking turns over the
in-process loopback run exactly the code a distributed job runs. Ranks started with different
configs all refuse to go on. A rank whose save or load fails must still take part in the
agreement; then every rank raises the same kind of error naming the rank and its file, at once,
and no manifest is written for a round that is not complete.
"""

from __future__ import annotations

import time

import pytest
import torch

from fsl_sage_dist.checkpoint import checkpoint_dir, rank_file
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.errors import CheckpointError, PeerError
from fsl_sage_dist.rundir.records import JsonLines
from fsl_sage_dist.runtime import launcher, rank_errors
from fsl_sage_dist.runtime.in_process import take_turns
from fsl_sage_dist.runtime.rank_checkpoint import resume, save_checkpoint
from fsl_sage_dist.runtime.worker import RankFailure, _check_same_config
from fsl_sage_dist.wire.loopback import Loopback, LoopbackTransport

from harness import small_config

WORLD = 3
TIMEOUT_S = 60.0  # how long a rank left waiting would wait: the bound below is far under it
AT_ONCE_S = 10.0


class FakeLoop:
    """The part of a RankLoop that checkpoints see: a state to save and to load back."""

    def __init__(self, rank: int) -> None:
        self.state = {"weights": torch.full((4,), float(rank))}
        self.loaded: dict | None = None

    def state_dict(self) -> dict:
        return self.state

    def load_state_dict(self, state: dict, round_: int) -> None:
        self.loaded = state


def on_every_rank(step) -> tuple[dict[int, object], float]:
    """Run `step(rank, transport)` on WORLD ranks that take turns over one loopback, as the
    in-process runner's roles do; returns each rank's result or exception, and the seconds until
    the last rank was done. A rank that raises wakes the others (as a closed connection would),
    so a rank that skipped the agreement shows up as its peers failing to agree, not as a
    hang."""
    loopback = Loopback(hosts=list(range(1, WORLD)), timeout_s=TIMEOUT_S)
    outcome: dict[int, object] = {}

    def job(rank: int):
        def run() -> None:
            outcome[rank] = step(rank, LoopbackTransport(loopback, rank))

        return run

    start = time.monotonic()
    failures = take_turns(loopback, [job(rank) for rank in range(WORLD)], torch.get_num_threads())
    return {**outcome, **dict(failures)}, time.monotonic() - start


def _info(rank: int) -> RankInfo:
    cpu = torch.device("cpu")
    return RankInfo(rank, WORLD, "loopback", cpu, cpu)


@pytest.fixture
def cfg(tmp_path):
    return small_config(tmp_path, f"launch.client_hosts={WORLD - 1}", "checkpoint.every=1")


def test_ranks_with_different_configs_all_refuse_to_start(cfg, tmp_path):
    same, _ = on_every_rank(lambda rank, transport: _check_same_config(cfg, _info(rank), transport))
    assert same == {rank: None for rank in range(WORLD)}
    other = small_config(
        tmp_path, f"launch.client_hosts={WORLD - 1}", "checkpoint.every=1", "seed=7"
    )
    outcome, _ = on_every_rank(
        lambda rank, transport: _check_same_config(
            other if rank == 2 else cfg, _info(rank), transport
        )
    )
    assert all(isinstance(outcome[rank], RankFailure) for rank in range(WORLD)), outcome
    assert "started with different configs" in str(outcome[0])


def _save_all(cfg, round_: int) -> tuple[dict[int, object], float]:
    return on_every_rank(
        lambda rank, transport: save_checkpoint(cfg, _info(rank), transport, FakeLoop(rank), round_)
    )


def test_every_rank_saves_and_resumes_the_same_round(cfg):
    saved, _ = _save_all(cfg, 0)
    assert saved == {rank: None for rank in range(WORLD)}
    assert (checkpoint_dir(cfg.run_dir) / "manifest.json").is_file()
    loops = {rank: FakeLoop(-1) for rank in range(WORLD)}
    resumed, _ = on_every_rank(
        lambda rank, transport: resume(cfg, _info(rank), transport, loops[rank])
    )
    assert resumed == {rank: 1 for rank in range(WORLD)}
    for rank, loop in loops.items():
        assert torch.equal(loop.loaded["weights"], torch.full((4,), float(rank)))


def test_a_failed_save_is_named_on_every_rank_at_once(cfg):
    """Rank 1 cannot write its file (a folder stands where it goes): every rank raises a
    CheckpointError naming rank 1 and that file, well before runtime.timeout_s."""
    blocked = rank_file(cfg.run_dir, 0, 1)
    (blocked / "in_the_way").mkdir(parents=True)
    outcome, seconds = _save_all(cfg, 0)
    print(f"every rank raised after {seconds:.2f} s (a rank left waiting: {TIMEOUT_S:g} s)")
    assert seconds < AT_ONCE_S
    assert all(isinstance(outcome[rank], CheckpointError) for rank in range(WORLD)), outcome
    assert "rank 1: cannot save its checkpoint of round 1" in str(outcome[1])
    for rank in (0, 2):
        message = str(outcome[rank])
        assert "could not save the checkpoint of round 1 on rank 1 (" in message, message
        assert str(blocked) in message and "previous checkpoint stays in force" in message
    assert not (checkpoint_dir(cfg.run_dir) / "manifest.json").exists()


def test_a_damaged_file_on_resume_is_named_on_every_rank_at_once(cfg):
    _save_all(cfg, 0)
    damaged = rank_file(cfg.run_dir, 0, 2)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    loops = {rank: FakeLoop(-1) for rank in range(WORLD)}
    outcome, seconds = on_every_rank(
        lambda rank, transport: resume(cfg, _info(rank), transport, loops[rank])
    )
    print(f"every rank raised after {seconds:.2f} s")
    assert seconds < AT_ONCE_S
    assert all(isinstance(outcome[rank], CheckpointError) for rank in range(WORLD)), outcome
    for rank in (0, 1):
        message = str(outcome[rank])
        assert f"{damaged} failed its check" in message and "left as it was" in message, message


@pytest.mark.parametrize("name", ["metrics.jsonl", "messages.jsonl"])
def test_a_damaged_log_on_resume_is_named_by_its_own_name(cfg, name):
    """The server checks both JSON-lines files a checkpoint covers; the other ranks' error
    names the one that failed, not always metrics.jsonl."""
    _save_all(cfg, 0)
    log = JsonLines(cfg.run_dir / name)

    class ServerReadingItsLog(FakeLoop):
        def load_state_dict(self, state: dict, round_: int) -> None:
            log.read_covered(round_)  # the file is missing: it cannot back the resume

    loops = {0: ServerReadingItsLog(0), 1: FakeLoop(-1), 2: FakeLoop(-1)}
    outcome, _ = on_every_rank(
        lambda rank, transport: resume(cfg, _info(rank), transport, loops[rank])
    )
    assert all(isinstance(outcome[rank], CheckpointError) for rank in range(WORLD)), outcome
    assert str(log.path) in str(outcome[0])
    for rank in (1, 2):
        assert f"{log.path} failed its check" in str(outcome[rank]), outcome[rank]


@pytest.mark.parametrize("name", ["metrics.jsonl", "messages.jsonl"])
def test_an_unreadable_log_on_resume_is_named_on_every_rank(cfg, name):
    """A folder where the server's JSON-lines file should be: reading it fails with an OSError,
    which must still reach the agreement, so that every rank names that file at once instead of
    rank 0 leaving the others waiting."""
    _save_all(cfg, 0)
    log = JsonLines(cfg.run_dir / name)
    log.path.mkdir()

    class ServerReadingItsLog(FakeLoop):
        def load_state_dict(self, state: dict, round_: int) -> None:
            log.read_covered(round_)

    loops = {0: ServerReadingItsLog(0), 1: FakeLoop(-1), 2: FakeLoop(-1)}
    outcome, seconds = on_every_rank(
        lambda rank, transport: resume(cfg, _info(rank), transport, loops[rank])
    )
    assert seconds < AT_ONCE_S
    assert all(isinstance(outcome[rank], CheckpointError) for rank in range(WORLD)), outcome
    assert f"{log.path} cannot be read" in str(outcome[0])
    for rank in (1, 2):
        assert f"{log.path} failed its check" in str(outcome[rank]), outcome[rank]


def _resume_all(cfg, loops) -> dict[int, object]:
    outcome, _ = on_every_rank(
        lambda rank, transport: resume(cfg, _info(rank), transport, loops[rank])
    )
    assert all(isinstance(outcome[rank], CheckpointError) for rank in range(WORLD)), outcome
    return outcome


def _users_line(cfg, outcome, tmp_path, monkeypatch) -> str:
    """What the launcher prints once every rank recorded its error, the echoes first."""
    folder = tmp_path / "errors"
    folder.mkdir()
    monkeypatch.setenv(rank_errors.ERRORS_DIR_ENV, str(folder))
    for rank in sorted(outcome, key=lambda r: not isinstance(outcome[r], PeerError)):
        rank_errors.record_error(cfg.run_dir, rank, "rank", outcome[rank])
        time.sleep(0.01)  # records ordered by time: the echoes are the earliest
    return launcher._cause(cfg, {r: 1 for r in outcome}, [], folder)


def test_the_user_sees_the_failing_ranks_own_reason_not_an_echo(cfg, tmp_path, monkeypatch):
    _save_all(cfg, 0)
    damaged = rank_file(cfg.run_dir, 0, 2)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    outcome = _resume_all(cfg, {rank: FakeLoop(-1) for rank in range(WORLD)})
    assert not isinstance(outcome[2], PeerError), "rank 2's own error"
    assert isinstance(outcome[0], PeerError) and isinstance(outcome[1], PeerError)
    line = _users_line(cfg, outcome, tmp_path, monkeypatch)
    assert line.startswith("rank 2 (rank): CheckpointError: "), line
    assert f"{damaged}: its SHA-256 differs" in line, line


def test_a_missing_spilled_file_is_not_blamed_on_the_intact_rank_file(cfg):
    class SpillingHost(FakeLoop):
        def load_state_dict(self, state: dict, round_: int) -> None:
            raise CheckpointError("the checkpoint refers to spilled client state X, missing")

    _save_all(cfg, 0)
    outcome = _resume_all(cfg, {0: FakeLoop(-1), 1: FakeLoop(-1), 2: SpillingHost(-1)})
    for rank in (0, 1):
        message = str(outcome[rank])
        assert "the spilled client state of rank 2 failed its check" in message, message
        assert "rank2.pt" not in message, message


def test_a_state_of_another_layout_is_a_checkpoint_error_naming_the_file(cfg):
    """A checkpoint written by another version: load_state_dict's RuntimeError ("Error(s) in
    loading state_dict") becomes a CheckpointError naming this rank's file."""

    class OtherLayout(FakeLoop):
        def load_state_dict(self, state: dict, round_: int) -> None:
            torch.nn.Linear(2, 2).load_state_dict(state)

    _save_all(cfg, 0)
    outcome = _resume_all(cfg, {0: FakeLoop(-1), 1: OtherLayout(-1), 2: FakeLoop(-1)})
    own = str(outcome[1])
    assert not isinstance(outcome[1], PeerError)
    assert f"checkpoint {rank_file(cfg.run_dir, 0, 1)} does not fit this run" in own, own
    assert "Error(s) in loading state_dict" in own and "another version" in own
