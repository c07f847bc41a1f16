"""How the ranks of a job find each other, checked in this process with rank starts stubbed.

The built-in launcher gives every rank Gloo and NCCL bound to the loopback interface and a
FileStore in a fresh private folder (mode 0700) that is gone when the attempt ends, however it
ends. Under torchrun (or `fsl-sage submit`) the code runs the rank in place and passes no
rendezvous of its own: torch's env:// one (MASTER_ADDR, MASTER_PORT as exported; a submitted
task's MASTER_ADDR is its job's first node), behind a prefix on an in-place restart. A real
run's sockets are checked in test_network_trust.py.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import struct
from pathlib import Path

import pytest
import submitit
import torch
import torch.distributed as dist

from fsl_sage_dist import run_command, submit
from fsl_sage_dist.runtime import launcher, process_group, worker
from fsl_sage_dist.runtime.process_group import STORE_FILE_ENV
from fsl_sage_dist.runtime.rank_errors import ERRORS_DIR_ENV

from harness import small_config

SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
DECOY_INTERFACE = "eth9"
"""What the user's shell says; the launcher's ranks must not use it."""


def ipv4_address(interface: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("256s", interface.encode())
        return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24])


def test_the_launchers_interface_is_loopback():
    assert ipv4_address(launcher.LOOPBACK_INTERFACE).startswith("127.")


def test_each_rank_gets_loopback_interfaces_and_the_store_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", DECOY_INTERFACE)
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", DECOY_INTERFACE)
    cfg = small_config(tmp_path)
    folder = tmp_path / "rdzv"
    for rank in range(cfg.world_size):
        env = launcher._rank_env(cfg, rank, folder)
        assert env["GLOO_SOCKET_IFNAME"] == launcher.LOOPBACK_INTERFACE
        assert env["NCCL_SOCKET_IFNAME"] == launcher.LOOPBACK_INTERFACE
        assert env[STORE_FILE_ENV] == str(folder / "store")
        assert env[ERRORS_DIR_ENV] == str(folder / "errors"), "this attempt's own errors"
        assert (env["RANK"], env["LOCAL_RANK"]) == (str(rank), str(rank))
        assert env["WORLD_SIZE"] == env["LOCAL_WORLD_SIZE"] == str(cfg.world_size)


class FakeRank:
    """A started rank that exits with `code` (None: runs until it is stopped)."""

    pid = -1  # no /proc entry: never seen as a stopped process
    MAX_POLLS = 1000
    """The launcher polls without sleeping here; more polls than this mean it would hang."""

    def __init__(self, code: int | None) -> None:
        self.code, self.terminated, self.polls = code, False, 0

    def poll(self) -> int | None:
        self.polls += 1
        if self.polls > self.MAX_POLLS:
            raise AssertionError("the launcher keeps waiting for a rank that never exits")
        return self.code

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.terminated = True
        if self.code is None:
            self.code = -15

    send_signal = kill = lambda self, *args: None


class FakeStarts:
    """Stands in for subprocess.Popen in the launcher: records what each rank was given and
    the rendezvous folder as the rank would find it; `codes[r]` is rank r's fate, an exception
    raised instead of starting it."""

    def __init__(self, codes: list[int | None | Exception]) -> None:
        self.codes, self.ranks, self.envs, self.folders = codes, [], [], []

    def __call__(self, command: list[str], env: dict[str, str]) -> FakeRank:
        fate = self.codes[len(self.envs)]
        self.envs.append(env)
        folder = Path(env[STORE_FILE_ENV]).parent
        info = folder.stat()
        self.folders.append((folder, stat.S_IMODE(info.st_mode), info.st_uid, Path(command[-1])))
        if isinstance(fate, Exception):
            raise fate
        self.ranks.append(FakeRank(fate))
        return self.ranks[-1]


@pytest.fixture
def starts(monkeypatch):
    def install(*codes: int | None | Exception) -> FakeStarts:
        fake = FakeStarts(list(codes))
        monkeypatch.setattr(launcher.subprocess, "Popen", fake)
        monkeypatch.setattr(launcher, "POLL_S", 0.0)
        return fake

    return install


def test_the_store_is_in_a_private_folder_removed_after_a_run(tmp_path, starts):
    fake = starts(0, 0, 0)
    assert launcher._launch_once(small_config(tmp_path))
    (folder, mode, uid, config_file), *others = fake.folders
    assert all(other[0] == folder for other in others), "one store for every rank"
    assert mode == 0o700 and uid == os.getuid()
    assert config_file.parent == folder
    assert not folder.exists()


def test_the_folder_is_removed_when_a_rank_fails_at_once(tmp_path, starts):
    fake = starts(None, 1, None)
    assert not launcher._launch_once(small_config(tmp_path))
    assert not fake.folders[0][0].exists()
    assert all(rank.poll() is not None for rank in fake.ranks), "every rank stopped"


def test_a_start_that_raises_stops_the_started_ranks_and_removes_the_folder(tmp_path, starts):
    fake = starts(None, None, OSError("fork failed"))
    with pytest.raises(OSError, match="fork failed"):
        launcher._launch_once(small_config(tmp_path))
    assert len(fake.ranks) == 2 and all(rank.terminated for rank in fake.ranks)
    assert not fake.folders[0][0].exists()


def test_a_restart_rendezvous_in_a_new_folder(tmp_path, starts):
    """launch.max_restarts: the new ranks must not find the failed attempt's store."""
    fake = starts(None, 1, None, 0, 0, 0)
    assert launcher.launch_local(small_config(tmp_path, "launch.max_restarts=1")) == 0
    folders = {folder for folder, *_ in fake.folders}
    assert len(folders) == 2 and not any(folder.exists() for folder in folders)


class InitCall(Exception):
    """Raised by the stubbed `dist.init_process_group` to hand its arguments to the test."""


@pytest.fixture
def init_calls(monkeypatch):
    """Join a job with torch's process-group start and rendezvous stubbed: returns what
    init_process_group passed to `dist.init_process_group`, and `dist.rendezvous`'s calls."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", STORE_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rendezvous: list[tuple] = []
    agent_store = dist.HashStore()  # torchrun's agent keeps one store across restarts

    def fake_rendezvous(url: str, rank: int, world: int, timeout):
        rendezvous.append((url, rank, world))
        yield agent_store, rank, world

    def fake_init(backend: str, **kwargs):
        raise InitCall(backend, kwargs)

    monkeypatch.setattr(dist, "rendezvous", fake_rendezvous)
    monkeypatch.setattr(dist, "init_process_group", fake_init)

    def join(cfg, **env: str) -> tuple[dict, list[tuple]]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(InitCall) as call:
            process_group.init_process_group(cfg.runtime, cfg.world_size)
        return call.value.args[1], rendezvous

    return join


def test_the_launchers_ranks_meet_in_the_file_store_only(tmp_path, init_calls):
    """Even with torchrun's variables around, no TCP rendezvous: MASTER_ADDR is ignored."""
    store_file = tmp_path / "store"
    kwargs, rendezvous = init_calls(
        small_config(tmp_path),
        RANK="1",
        WORLD_SIZE="3",
        MASTER_ADDR="192.0.2.1",
        MASTER_PORT="29500",
        TORCHELASTIC_RESTART_COUNT="1",
        **{STORE_FILE_ENV: str(store_file)},
    )
    assert isinstance(kwargs["store"], dist.FileStore) and store_file.exists()
    assert "init_method" not in kwargs and not rendezvous


def test_under_torchrun_the_rendezvous_is_the_exported_one(tmp_path, init_calls):
    kwargs, rendezvous = init_calls(small_config(tmp_path), RANK="2", WORLD_SIZE="3")
    assert "store" not in kwargs and "init_method" not in kwargs, "torch's env:// default"
    assert not rendezvous


def test_a_torchrun_restart_uses_env_rendezvous_behind_a_prefix_of_its_own(tmp_path, init_calls):
    """Restarted ranks must not read the previous attempt's keys from the agent's store."""
    cfg = small_config(tmp_path)
    for restart in ("1", "2"):
        kwargs, rendezvous = init_calls(
            cfg, RANK="2", WORLD_SIZE="3", TORCHELASTIC_RESTART_COUNT=restart
        )
        kwargs["store"].set("rank_2_address", restart)
    assert rendezvous == [("env://", 2, 3)] * 2
    agent_store = kwargs["store"].underlying_store
    assert agent_store.num_keys() == 2, "one key per restart"
    assert not agent_store.check(["rank_2_address"]), "only under a prefix"


@pytest.mark.parametrize("torchrun", [True, False], ids=["torchrun", "built-in"])
def test_fsl_sage_run_launches_only_outside_torchrun(tmp_path, monkeypatch, torchrun):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    if torchrun:
        monkeypatch.setenv("RANK", "0")
        monkeypatch.setenv("WORLD_SIZE", "3")
    called = []
    monkeypatch.setattr(worker, "run_rank", lambda cfg: called.append("rank"))
    monkeypatch.setattr(launcher, "launch_local", lambda cfg: called.append("launcher") or 0)
    assert run_command.start(["data.name=synthetic", f"output.dir={tmp_path}"]) == 0
    assert called == ["rank" if torchrun else "launcher"]


class SlurmTask:
    """submitit's view of task 2 of a 3-task job on one node, node-a."""

    hostnames = ["node-a"]
    num_nodes, num_tasks, global_rank, local_rank, job_id = 1, 3, 2, 2, "4242"

    def __init__(self, folder: Path) -> None:
        self.paths = type("Paths", (), {"result_pickle": folder / "result.pkl"})()


def test_a_submitted_rank_meets_on_its_jobs_first_node(tmp_path, monkeypatch):
    """sbatch copies the submitting shell's environment; its MASTER_ADDR or RANK (from a
    torchrun, say) must not decide where the job's ranks rendezvous."""
    leftovers = {"MASTER_ADDR": "192.0.2.1", "RANK": "0", "WORLD_SIZE": "9", "LOCAL_RANK": "0"}
    shell = {k: v for k, v in os.environ.items() if k != "MASTER_PORT"}
    monkeypatch.setattr(os, "environ", shell | leftovers)  # export's writes end with the test
    task = SlurmTask(tmp_path)
    monkeypatch.setattr(submitit, "JobEnvironment", lambda: task)
    monkeypatch.setattr(submitit.helpers, "JobEnvironment", lambda: task)
    seen: dict[str, str] = {}
    monkeypatch.setattr(run_command, "start", lambda args: seen.update(os.environ) or 0)
    submit.RankJob(["rounds=1"])()
    assert seen["MASTER_ADDR"] == "node-a"
    assert (seen["RANK"], seen["WORLD_SIZE"], seen["LOCAL_RANK"]) == ("2", "3", "2")
