"""What a single-node run exposes: listening sockets on the loopback interface only, and no
unpickling in any of its processes. The launcher's environment and rendezvous choices are
checked directly (and fast) in test_rendezvous.py; these are real runs."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_rendezvous import ipv4_address

from fsl_sage_dist.runtime.launcher import LOOPBACK_INTERFACE

from harness import NO_GPU, ROOT, SMALL_JOB

SMALL = [*SMALL_JOB, "algorithm=fsl_sage", "runtime.timeout_s=60"]
LISTEN = "0A"  # TCP state code in /proc/net/tcp{,6}
ABSENT_INTERFACE = "fslnone0"


class Job:
    """`fsl-sage run` of SMALL in a subprocess, its output in files (a pipe nobody reads while
    the test watches the job could fill and stall it)."""

    def __init__(self, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.out, self.err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fsl_sage_dist",
                    "run",
                    f"output.dir={tmp_path}",
                    *SMALL,
                    *extra,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **NO_GPU, **(env or {})},
                stdout=out,
                stderr=err,
                text=True,
            )

    def wait(self, timeout: float = 300) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.proc.kill()
        return code, self.out.read_text(), self.err.read_text()


def decoy_interface() -> str:
    """A non-loopback interface with an IPv4 address if this machine has one, else a name no
    interface has: Gloo told to use it either listens beyond loopback or cannot start."""
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name = line.split(":")[0].strip()
        try:
            address = ipv4_address(name)
        except OSError:  # no IPv4 address
            continue
        if not ipaddress.ip_address(address).is_loopback:
            return name
    return ABSENT_INTERFACE


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6} print addresses as host-order 32-bit words in hex."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def listening_sockets() -> dict[int, str]:
    """Every listening TCP socket of this machine: inode -> 'address:port'."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                addr, port = fields[1].split(":")
                found[int(fields[9])] = f"{_address(addr)}:{int(port, 16)}"
    return found


def sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _rank_pids(run_dir: Path, world: int) -> list[int]:
    files = [run_dir / "ranks" / f"rank{r}.json" for r in range(world)]
    if not all(f.exists() for f in files):
        return []
    return [json.loads(f.read_text())["pid"] for f in files]


def interface_addresses(interface: str) -> set[str]:
    """The IPv4 and IPv6 addresses of a network interface (Linux)."""
    found = {ipv4_address(interface)}
    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        fields = line.split()
        if fields[-1] == interface:
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return found


def _address_of(listener: str) -> str:
    return listener.rsplit(":", 1)[0].strip("[]")


@pytest.mark.slow
def test_single_node_run_listens_on_the_loopback_interface_only(tmp_path):
    """While a job runs, every listening socket of the launcher and its ranks is on an address
    of the interface the launcher pins Gloo to, even when the user's environment names another
    one (`decoy_interface`). Any other address fails, loopback or not: a Gloo left to the host
    name's address listens on 127.0.1.1 on Debian, and on 127.0.0.1 here only by chance. (The
    c10d TCPStores of torch's elastic agent bind every interface.)"""
    decoy = decoy_interface()
    job = Job(tmp_path, "rounds=4", env={"GLOO_SOCKET_IFNAME": decoy, "NCCL_SOCKET_IFNAME": decoy})
    seen: dict[int, str] = {}
    try:
        while job.proc.poll() is None:
            pids = [job.proc.pid, *_rank_pids(tmp_path / "run", 3)]
            try:
                mine = set().union(*(sockets_of(pid) for pid in pids))
            except FileNotFoundError:  # a rank exited between the two reads
                continue
            seen |= {inode: addr for inode, addr in listening_sockets().items() if inode in mine}
            time.sleep(0.05)
    finally:
        code, _, err = job.wait()
    print(
        f"listening sockets of the job (GLOO_SOCKET_IFNAME={decoy} outside):", sorted(seen.values())
    )
    assert code == 0, err[-2000:]
    assert seen, "the ranks must have listened somewhere (Gloo); the check saw nothing"
    allowed = interface_addresses(LOOPBACK_INTERFACE)
    outside = sorted(a for a in seen.values() if _address_of(a) not in allowed)
    assert not outside, f"listening beyond {LOOPBACK_INTERFACE} ({sorted(allowed)}): {outside}"


FORBID_PICKLE = """
import atexit, os, pickle, sys, _pickle

LOADED = {loaded!r}

def _forbidden(*args, **kwargs):
    sys.stderr.write("PICKLE-LOAD-CALLED\\n")
    raise RuntimeError("unpickling is forbidden in this test")

class _ForbiddenUnpickler:
    def __init__(self, *args, **kwargs):
        _forbidden()

for module in (pickle, _pickle):
    module.loads = module.load = _forbidden
    module.Unpickler = _ForbiddenUnpickler
pickle._Unpickler = _ForbiddenUnpickler

def _record(stage):
    intact = pickle.loads is _forbidden and pickle.Unpickler is _ForbiddenUnpickler
    with open(os.path.join(LOADED, f"{{os.getpid()}}.{{stage}}"), "w") as f:
        f.write("forbidden" if intact else "restored")

_record("start")
atexit.register(_record, "exit")
"""
"""A sitecustomize: unpickling raises in every process that loads it, and each such process
records its pid in LOADED when it starts and, if it exits normally, when it exits."""


def _patched(loaded: Path, stage: str) -> set[int]:
    return {int(p.stem) for p in loaded.glob(f"*.{stage}") if p.read_text() == "forbidden"}


def _wait_for_checkpoint(job: Job, run_dir: Path, round_: int, deadline_s: float = 240) -> None:
    manifest = run_dir / "checkpoints" / "manifest.json"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and job.proc.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text())["round"] >= round_:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of round {round_}: {job.err.read_text()[-2000:]}")


@pytest.mark.slow
def test_no_process_of_a_run_unpickles(tmp_path):
    """pickle's and _pickle's loads/load/Unpickler raise in the launcher and in every rank of
    both attempts of one job (a sitecustomize on PYTHONPATH; each process proves it loaded it):
    the run must not need them (torch's dynamic rendezvous unpickles its store). The job samples
    clients, spills their state, averages by reduction and checkpoints; a rank is killed after
    a checkpoint, and the launcher's restart resumes from it."""
    site, loaded = tmp_path / "site", tmp_path / "loaded"
    site.mkdir()
    loaded.mkdir()
    (site / "sitecustomize.py").write_text(FORBID_PICKLE.format(loaded=str(loaded)))
    env = {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    probe = subprocess.run(
        [sys.executable, "-c", "import pickle; pickle.loads(b'N.')"],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PICKLE-LOAD-CALLED" in probe.stderr, "the patch must make unpickling raise"
    job = Job(
        tmp_path,
        "rounds=5",
        "clients.per_round=3",
        "runtime.spill=true",
        "runtime.averaging=reduce",
        "checkpoint.every=1",
        "launch.max_restarts=1",
        env=env,
    )
    run_dir = tmp_path / "run"
    try:
        _wait_for_checkpoint(job, run_dir, 1)
        first = _rank_pids(run_dir, 3)
        os.kill(first[1], signal.SIGKILL)
    finally:
        code, out, err = job.wait()
    assert "PICKLE-LOAD-CALLED" not in err, err[-3000:]
    assert code == 0, err[-3000:]
    assert "restarting the job (1/1)" in err and "resuming" in out, (out[-2000:], err[-2000:])
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 5
    assert list((run_dir / "client_state").rglob("*.pt")), "client state was spilled"
    second = _rank_pids(run_dir, 3)
    assert not set(first) & set(second), "the second attempt's ranks are new processes"
    job_pids = {job.proc.pid, *first, *second}
    assert job_pids <= _patched(loaded, "start"), "every process of the job had the patch"
    # the first attempt's ranks end by SIGKILL or the launcher's SIGTERM: no exit handlers
    assert {job.proc.pid, *second} <= _patched(loaded, "exit"), "and still had it at exit"
