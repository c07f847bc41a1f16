"""Where a published figure came from: the provenance record every benchmark JSON carries.

    from provenance import record            # in a script under benchmarks/
    result["provenance"] = record(threads_per_rank=threads_per_rank(args.set))

`record()` returns the exact command (interpreter and arguments as typed, absolute paths inside
the working directory made relative to it, and that directory relative to the repository), the
git commit and whether the tree had uncommitted changes (and which files), the device (CPU model
and core count, GPU names, the load average when it started), the Python and torch versions,
the thread settings and the UTC date-time. It records no host name or user, so a JSON can be
published as it is. REQUIRED names the keys tests/test_provenance.py holds every docs/*.json
to; a file written before the record existed says `"backfilled": true` and lists in `unknown`
the keys nobody can recover (benchmarks/backfill_provenance.py).
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("command", "commit", "device", "torch", "threads", "date")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def relative(path: str | Path, base: Path = ROOT) -> str:
    """`path` relative to `base` when it lies inside it, else as given (never resolved further:
    a path outside says where it really was)."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(base.resolve())) or "."
    except ValueError:
        return str(path)


def command(argv: list[str] | None = None) -> str:
    """The command line as it could be typed again from `cwd`: interpreter, script, arguments;
    an argument that is an absolute path inside the working directory becomes relative to it."""
    cwd = Path.cwd()
    args = sys.argv if argv is None else argv
    words = [sys.executable, *(_relative_word(a, cwd) for a in args)]
    return shlex.join(words)


def _relative_word(word: str, cwd: Path) -> str:
    key, sep, value = word.rpartition("=") if "=" in word else ("", "", word)
    if not value.startswith("/"):
        return word
    return f"{key}{sep}{relative(value, cwd)}"


def git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def device() -> dict[str, Any]:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "gpus": gpus}


def threads_per_rank(overrides: list[str], default: int = 0) -> int:
    """The runtime.threads_per_rank the runs used: the last such override, else `default`
    (0 = the config's auto, the node's cores divided by its ranks)."""
    values = [o.split("=", 1)[1] for o in overrides if o.startswith("runtime.threads_per_rank=")]
    return int(values[-1]) if values else default


def record(threads_per_rank: int | dict[str, int] | None = None) -> dict[str, Any]:
    """The provenance of a result written now by this process. `threads_per_rank`: what the
    script's runs used (0: the config's auto; a dict: per layout where the runs differ; None:
    the script runs no ranks)."""
    import torch

    dirty = git("status", "--porcelain")
    changed = [line[3:] for line in (dirty or "").splitlines()]
    return {
        "command": command(),
        "cwd": relative(Path.cwd()),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(changed),
        "dirty_files": changed,
        "device": device(),
        # other work on the machine slows every timing in the result
        "load_average_1_5_15_min": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": {
            "torch_num_threads": torch.get_num_threads(),
            **{name: os.environ.get(name) for name in THREAD_VARIABLES},
            "threads_per_rank": threads_per_rank,
        },
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
