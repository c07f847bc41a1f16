"""The one way a run writes a file: whole or not at all.

    write_atomic(run_dir / "summary.json", text.encode())

The bytes go to a temporary file in the same folder, are fsynced, and the temporary file is
renamed over the target (and the folder fsynced, so the rename survives a power loss), so a
reader (or a crash, or a full disk) sees the old file or the new
one, never half of one. A failed write removes its temporary file and raises `WriteError`,
whose message is the OS error and the path ("no space left on device: runs/x/metrics.jsonl")
rather than whatever a serialiser makes of a short write. Serialise to bytes first (torch.save
into a BytesIO, json.dumps), so the only thing that can fail here is the OS.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fsl_sage_dist.errors import WriteError


def write_error(err: OSError, path: Path) -> WriteError:
    """`err` as one line: the OS's reason in lower case ("no space left on device"), the path."""
    error = WriteError(f"{(err.strerror or str(err)).lower()}: {path}")
    error.errno = err.errno
    return error


def make_dirs(path: Path) -> None:
    """`path` and its parents, as needed; a failure is a `WriteError` naming the folder."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(err, path) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _sync_folder(folder: Path) -> None:
    """fsync the folder, so the rename itself (its new directory entry) survives a power loss."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = None
    try:
        name = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        tmp = name
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _sync_folder(path.parent)
    except OSError as err:
        raise write_error(err, path) from None
    finally:
        if tmp is not None:
            os.unlink(tmp)


def append_line(path: Path, line: bytes) -> None:
    """Append one whole line, fsynced; a failed append cuts the file back to where it was, so
    the file never ends in half a line."""
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ValueError("append_line takes exactly one newline-terminated line")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                _write_all(fd, line)
            except OSError:
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
    except OSError as err:
        raise write_error(err, path) from None
