"""A minimal reader for the idx format of (Fashion-)MNIST, plain or gzip-compressed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_UBYTE_CODE = 0x08


def read_idx_ubyte(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array stored in an idx file with `ndim` dimensions.

    Raises ValueError naming the file when the magic number, dimensions or payload size do not
    match, which is what a truncated download or a wrong file looks like."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (gzip.BadGzipFile, EOFError) as err:
        raise ValueError(
            f"{path} is not a readable gzip file ({err}); delete it and fetch it again"
        ) from err
    header_size = 4 + 4 * ndim
    if len(raw) < header_size or raw[:4] != bytes([0, 0, _UBYTE_CODE, ndim]):
        raise ValueError(
            f"{path} is not an idx file of {ndim}-D unsigned bytes (magic {raw[:4].hex()!r}, "
            f"expected 0000{_UBYTE_CODE:02x}{ndim:02x}); delete it and fetch it again"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    payload = len(raw) - header_size
    if payload != int(np.prod(shape)):
        raise ValueError(
            f"{path} declares shape {shape} ({int(np.prod(shape))} bytes) but holds {payload} "
            "bytes of data; the file is truncated or corrupt, delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)
