"""The fixed-size int64 header that precedes every point-to-point payload.

The receiver learns dtype and shape from the header, so it checks every field against what it
expects (kind, round, client, dtype allow-list, ndim, each dimension, total size) *before* it
allocates the payload buffer. A forged or desynchronised header therefore costs a
`ProtocolError` naming the peer rank and the field, never a huge allocation or a hang on a
payload of the wrong size. The payload itself ends in a length word (`channel.py`), so a body
shorter than its header announced is refused too. Header and length word together are
CONTROL_NBYTES = 112 bytes per message.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch

MAGIC = 0x46534C53  # "FSLS"
PROTOCOL_VERSION = 2  # 2: magic and version share word 0; the payload ends in a length word
MAX_NDIM = 6
HEADER_LEN = 7 + MAX_NDIM  # magic | version << 32, kind, round, client, seq, dtype, ndim, shape...
HEADER_NBYTES = HEADER_LEN * 8
LENGTH_NBYTES = 8
"""The int64 after every payload: its byte count (see `channel.py`)."""
CONTROL_NBYTES = HEADER_NBYTES + LENGTH_NBYTES
"""Bytes on the wire per point-to-point message besides the payload (metered as `control`)."""


class ProtocolError(RuntimeError):
    """A message from a peer did not match what this rank expected."""


class Kind(enum.IntEnum):
    SMASHED = 1  # smashed activations, client -> server
    LABELS = 2  # labels of a smashed batch, client -> server
    CUT_GRAD = 3  # gradient at the cut layer, server -> client
    CLIENT_STATE = 4  # a client's model state (params + buffers), either direction
    AUX_STATE = 5  # an auxiliary head's state, either direction
    SCALES = 6  # int8 scales and minima of the SMASHED or CUT_GRAD message just before


# Codes are part of the protocol: never renumber, only append.
DTYPE_CODES: dict[torch.dtype, int] = {
    torch.float32: 1,
    torch.float16: 2,
    torch.bfloat16: 3,
    torch.int8: 4,
    torch.uint8: 5,
    torch.int64: 6,
}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}


@dataclass(frozen=True)
class Header:
    kind: Kind
    round: int
    client: int
    seq: int
    dtype: torch.dtype
    shape: tuple[int, ...]

    def encode(self) -> torch.Tensor:
        if len(self.shape) > MAX_NDIM:
            raise ProtocolError(f"cannot send a tensor with {len(self.shape)} > {MAX_NDIM} dims")
        dims = list(self.shape) + [0] * (MAX_NDIM - len(self.shape))
        fields = [
            MAGIC | PROTOCOL_VERSION << 32,
            int(self.kind),
            self.round,
            self.client,
            self.seq,
            DTYPE_CODES[self.dtype],
            len(self.shape),
            *dims,
        ]
        return torch.tensor(fields, dtype=torch.int64)


@dataclass(frozen=True)
class Expect:
    """What a receiver will accept. `shape` entries of -1 accept any size (within limits);
    `max_rows` bounds the leading dimension (a smashed batch: at most train.batch_size rows)."""

    kind: Kind
    round: int
    client: int
    seq: int
    dtypes: tuple[torch.dtype, ...]
    shape: tuple[int, ...] | None = None  # None: any ndim/shape within the limits
    max_rows: int | None = None


def decode(raw: torch.Tensor, expect: Expect, peer: int, max_bytes: int) -> Header:
    """Validate a received header against `expect`; raise ProtocolError naming the field."""

    def fail(field: str, got: object, want: object) -> ProtocolError:
        return ProtocolError(
            f"message from rank {peer}: header field {field!r} is {got}, expected {want}"
        )

    if raw.dtype != torch.int64 or raw.numel() != HEADER_LEN:
        raise fail("length", raw.numel(), HEADER_LEN)
    word0, *f = [int(v) for v in raw.tolist()]
    if word0 & 0xFFFFFFFF != MAGIC:
        raise fail("magic", hex(word0 & 0xFFFFFFFF), hex(MAGIC))
    if word0 >> 32 != PROTOCOL_VERSION:
        raise fail("version", word0 >> 32, PROTOCOL_VERSION)
    for name, got, want in (
        ("kind", f[0], int(expect.kind)),
        ("round", f[1], expect.round),
        ("client", f[2], expect.client),
        ("seq", f[3], expect.seq),
    ):
        if got != want:
            raise fail(name, got, want)
    dtype = CODE_DTYPES.get(f[4])
    if dtype not in expect.dtypes:
        raise fail("dtype", f[4], [DTYPE_CODES[d] for d in expect.dtypes])
    ndim = f[5]
    if not 0 <= ndim <= MAX_NDIM:
        raise fail("ndim", ndim, f"0..{MAX_NDIM}")
    shape = tuple(f[6 : 6 + ndim])
    if any(d < 0 for d in shape) or any(d != 0 for d in f[6 + ndim :]):
        raise fail("shape", f[6:], "non-negative dims, zero padding")
    if expect.shape is not None:
        ok = len(shape) == len(expect.shape) and all(
            w in (-1, g) for g, w in zip(shape, expect.shape)
        )
        if not ok:
            raise fail("shape", shape, expect.shape)
    if expect.max_rows is not None and ndim and shape[0] > expect.max_rows:
        raise fail("rows", shape[0], f"at most {expect.max_rows} (train.batch_size)")
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    if nbytes > max_bytes:
        raise fail("size", f"{nbytes} bytes", f"at most {max_bytes} (wire.max_message_mib)")
    return Header(Kind(f[0]), f[1], f[2], f[3], dtype, shape)
