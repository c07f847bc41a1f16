"""Find raw training images in what a rank handed to its transport, read as a receiver reads it.

A point-to-point message reaches the transport as an int64 header tensor and then a uint8 frame:
the payload's bytes followed by an int64 length word (`wire/channel.py`). `decoded` pairs each
frame with the header before it, validates the header with `wire/header.py`'s `decode` and
unpacks the frame with the receiver's own `unframe` (length word checked, bytes viewed as the
dtype and shape the header announced): an fp16, bf16 or int8 payload is searched
as the values its receiver gets, not as bytes. Collectives (reduce, all_reduce, broadcast) carry
typed tensors and are searched as they are.

`ImageSearch.found` looks for every raw image at every offset of a payload's flat values: the
normalised cross-correlation of each window of an image's length with each image. A copy, a cast
(fp16, bf16), an int8 quantisation (an affine map per row) or any other affine map of an image
correlates near 1 wherever it starts; a sample's row of a batch is a run of the flat payload, so
per-sample rows are covered too. A window of activations or weights correlates with the
synthetic images (a class pattern plus unit noise) at about 1/sqrt(pixels). The correlations
come from a float32 FFT (overlap-save: a candidate at 0.9 of the threshold), and each candidate
is decided in float64 against every image. The cost grows with images x values searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fsl_sage_dist.wire.channel import unframe
from fsl_sage_dist.wire.header import (
    CODE_DTYPES,
    HEADER_LEN,
    MAGIC,
    Expect,
    Header,
    Kind,
    decode,
)

THRESHOLD = 0.9
"""|Pearson correlation| of a window with an image above which the image counts as found."""
BLOCK_VALUES = 1 << 24
"""Dot products computed at once (images x window starts): 64 MiB of float32."""


@dataclass(frozen=True)
class Payload:
    """One tensor a rank handed over, as its receiver would read it."""

    op: str
    """The torch.distributed call (or transport method) it was handed to."""
    header: Header | None
    """The header of a point-to-point message; None for a collective."""
    values: torch.Tensor

    @property
    def key(self) -> tuple:
        """A point-to-point message: (kind, round). A collective: (op, dtype, numel)."""
        if self.header is None:
            return (self.op, str(self.values.dtype), self.values.numel())
        return (self.header.kind.name, self.header.round)


def read_header(raw: torch.Tensor) -> Header:
    """A posted header, validated by the receiver's `decode` against exactly its own fields."""
    fields = raw.tolist()
    dtype = CODE_DTYPES.get(fields[5])
    expect = Expect(Kind(fields[1]), *fields[2:5], dtypes=(dtype,) if dtype else ())
    return decode(raw, expect, peer=-1, max_bytes=1 << 40)


def is_header(tensor: torch.Tensor) -> bool:
    return (
        tensor.dtype == torch.int64
        and tensor.numel() == HEADER_LEN
        and int(tensor[0]) & 0xFFFFFFFF == MAGIC
    )


def decoded(log: list[dict[str, Any]]) -> list[Payload]:
    """Every tensor of a rank's recorded log (entries with "tensor"), frames unpacked as the
    receiver of their header would unpack them."""
    payloads, header = [], None
    for index, entry in enumerate(log):
        op, tensor = entry["op"], entry["tensor"]
        if op not in ("isend", "send"):
            payloads.append(Payload(op, None, tensor))
            continue
        if header is None:
            assert is_header(tensor), f"{op} #{index}: expected a header, got {entry['shape']}"
            header = read_header(tensor)
            continue
        assert tensor.dtype == torch.uint8, f"{op} #{index}: a frame is uint8, got {tensor.dtype}"
        payloads.append(Payload(op, header, unframe(tensor.clone(), header, peer=-1)))
        header = None
    assert header is None, "a header without its frame"
    return payloads


def _unit_rows(rows: torch.Tensor) -> torch.Tensor:
    rows = rows - rows.mean(dim=1, keepdim=True)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


class ImageSearch:
    """The training images, prepared once for `found`."""

    def __init__(self, images: torch.Tensor) -> None:
        self.pixels = images[0].numel()
        self.fft_size = 1 << (8 * self.pixels - 1).bit_length()  # a window is an eighth of it
        self.templates = _unit_rows(images.flatten(1).double())
        # Correlating with a template is convolving with it reversed.
        self.spectra = torch.fft.rfft(self.templates.flip(1).float(), n=self.fft_size)

    def _peaks(self, flat: torch.Tensor) -> torch.Tensor:
        """Per window start: the largest |dot product| of the window with a template."""
        p, n = self.pixels, self.fft_size
        step, windows = n - p + 1, flat.numel() - p + 1
        blocks = torch.nn.functional.pad(flat.float(), (0, n)).unfold(0, n, step)
        per_call = max(1, BLOCK_VALUES // (len(self.templates) * n))
        peaks = []
        for first in range(0, len(blocks), per_call):
            spectrum = torch.fft.rfft(blocks[first : first + per_call])
            dots = torch.fft.irfft(self.spectra[:, None] * spectrum[None], n)[..., p - 1 :]
            peaks.append(dots.abs().amax(dim=0).flatten())  # only full overlaps are kept
        return torch.cat(peaks)[:windows].double()

    def found(self, values: torch.Tensor) -> set[int]:
        """Indices of the images that some window of `values` (flattened) correlates with."""
        flat = values.detach().flatten().double().nan_to_num(0.0, 0.0, 0.0)
        p = self.pixels
        if flat.numel() < p:
            return set()
        flat = flat - flat.mean()  # the templates sum to zero: a shift changes no dot product
        sums = torch.nn.functional.pad(flat.cumsum(0), (1, 0))
        squares = torch.nn.functional.pad((flat * flat).cumsum(0), (1, 0))
        total, total_sq = sums[p:] - sums[:-p], squares[p:] - squares[:-p]
        spread = (total_sq - total * total / p).clamp_min(0).sqrt()  # |window - its mean|
        constant = spread <= 1e-9 * spread.max().clamp_min(1e-300)
        # The float32 FFT finds candidates with margin to spare; float64 dot products decide.
        candidates = ((self._peaks(flat) > 0.9 * THRESHOLD * spread) & ~constant).nonzero()
        windows = flat.unfold(0, p, 1)[candidates.flatten()]
        corr = _unit_rows(windows) @ self.templates.T
        return set((corr.abs() > THRESHOLD).any(dim=0).nonzero().flatten().tolist())

    def leaking(self, payloads: list[Payload]) -> dict[tuple, set[int]]:
        """The images found in `payloads`, by `Payload.key`, for the keys with any."""
        found: dict[tuple, set[int]] = {}
        for payload in payloads:
            if images := self.found(payload.values):
                found.setdefault(payload.key, set()).update(images)
        return found
