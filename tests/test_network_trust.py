"""What a single-node run exposes: listening sockets on loopback only, and no unpickling."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import ROOT, SMALL_JOB

SMALL = [*SMALL_JOB, "algorithm=fsl_sage", "runtime.timeout_s=60"]
LISTEN = "0A"  # TCP state code in /proc/net/tcp{,6}


def _start(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fsl_sage_dist", "run", f"output.dir={tmp_path}", *SMALL, *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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


@pytest.mark.slow
def test_single_node_run_listens_on_loopback_only(tmp_path):
    """While a job runs, every listening socket of the launcher and its ranks is bound to a
    loopback address (the c10d TCPStores of torch's elastic agent bind every interface)."""
    proc = _start(tmp_path, "rounds=4")
    seen: dict[int, str] = {}
    try:
        while proc.poll() is None:
            pids = [proc.pid, *_rank_pids(tmp_path / "run", 3)]
            try:
                mine = set().union(*(sockets_of(pid) for pid in pids))
            except FileNotFoundError:  # a rank exited between the two reads
                continue
            seen |= {inode: addr for inode, addr in listening_sockets().items() if inode in mine}
            time.sleep(0.2)
    finally:
        proc.kill()
        _, err = proc.communicate()
    print("listening sockets of the job:", sorted(seen.values()))
    assert proc.returncode == 0, err[-2000:]
    assert seen, "the ranks must have listened somewhere (Gloo); the check saw nothing"
    outside = [
        a
        for a in seen.values()
        if not ipaddress.ip_address(a.rsplit(":", 1)[0].strip("[]")).is_loopback
    ]
    assert not outside, f"listening beyond loopback: {outside}"


FORBID_PICKLE = """
import pickle, sys

def _forbidden(*args, **kwargs):
    sys.stderr.write("PICKLE-LOAD-CALLED\\n")
    raise RuntimeError("unpickling is forbidden in this test")

class _ForbiddenUnpickler:
    def __init__(self, *args, **kwargs):
        _forbidden()

pickle.loads = pickle.load = _forbidden
pickle.Unpickler = pickle._Unpickler = _ForbiddenUnpickler
"""


@pytest.mark.slow
def test_no_process_of_a_run_unpickles(tmp_path):
    """pickle.loads/load/Unpickler raise in the launcher and every rank (a sitecustomize on
    PYTHONPATH): the run must not need them (torch's dynamic rendezvous unpickles its store)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FORBID_PICKLE)
    env = {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    probe = subprocess.run(
        [sys.executable, "-c", "import pickle; pickle.loads(b'N.')"],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PICKLE-LOAD-CALLED" in probe.stderr, "the sitecustomize must be in effect"
    proc = _start(tmp_path, "rounds=2", env=env)
    _, err = proc.communicate(timeout=300)
    assert "PICKLE-LOAD-CALLED" not in err, err[-3000:]
    assert proc.returncode == 0, err[-3000:]
