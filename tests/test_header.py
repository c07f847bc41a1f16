"""Header validation: a forged or desynchronised header is a ProtocolError, never an allocation."""

import random

import pytest
import torch

from fsl_sage_dist.wire.header import HEADER_LEN, MAGIC, Expect, Header, Kind, ProtocolError, decode

EXPECT = Expect(
    Kind.SMASHED, round=3, client=2, seq=1, dtypes=(torch.float32,), shape=(-1, 64, 7, 7)
)
GOOD = Header(Kind.SMASHED, 3, 2, 1, torch.float32, (16, 64, 7, 7))
LIMIT = 1 << 20


def test_round_trip():
    assert decode(GOOD.encode(), EXPECT, peer=1, max_bytes=LIMIT) == GOOD


@pytest.mark.parametrize(
    "index, value, field",
    [
        (0, 0xDEAD, "magic"),
        (0, MAGIC | 99 << 32, "version"),
        (1, int(Kind.CUT_GRAD), "kind"),
        (2, 4, "round"),
        (3, 0, "client"),
        (4, 7, "seq"),
        (5, 99, "dtype"),
        (5, 6, "dtype"),
        (6, 9, "ndim"),
        (8, 65, "shape"),
        (7, -1, "shape"),
        (11, 3, "shape"),
    ],
)
def test_each_bad_field_is_named(index, value, field):
    raw = GOOD.encode()
    raw[index] = value
    with pytest.raises(ProtocolError, match=f"rank 5: header field '{field}'"):
        decode(raw, EXPECT, peer=5, max_bytes=LIMIT)


def test_oversized_shape_is_rejected_before_allocation():
    huge = Header(Kind.SMASHED, 3, 2, 1, torch.float32, (1 << 40, 64, 7, 7)).encode()
    with pytest.raises(ProtocolError, match="'size'"):
        decode(huge, EXPECT, peer=1, max_bytes=LIMIT)


def test_wrong_length_or_dtype_of_header_tensor():
    with pytest.raises(ProtocolError, match="'length'"):
        decode(torch.zeros(HEADER_LEN - 1, dtype=torch.int64), EXPECT, 1, LIMIT)
    with pytest.raises(ProtocolError, match="'length'"):
        decode(GOOD.encode().float(), EXPECT, 1, LIMIT)


def test_fuzzed_headers_all_raise_protocol_error():
    rng = random.Random(0)
    any_shape = Expect(Kind.SMASHED, 3, 2, 1, (torch.float32,))
    for _ in range(500):
        raw = GOOD.encode()
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(HEADER_LEN)] = rng.choice(
                [0, -1, 1 << 62, -(1 << 62), rng.randint(-1000, 1000), MAGIC]
            )
        if torch.equal(raw, GOOD.encode()):
            continue
        try:
            header = decode(raw, any_shape, peer=1, max_bytes=LIMIT)
        except ProtocolError:
            continue
        # the rare mutation that still describes a valid message must be within the limits
        assert 4 * torch.Size(header.shape).numel() <= LIMIT


def test_more_rows_than_a_batch_are_refused():
    bounded = Expect(Kind.SMASHED, 3, 2, 1, (torch.float32,), (-1, 64, 7, 7), max_rows=16)
    assert decode(GOOD.encode(), bounded, peer=1, max_bytes=LIMIT) == GOOD  # 16 rows: fine
    rows17 = Header(Kind.SMASHED, 3, 2, 1, torch.float32, (17, 64, 7, 7)).encode()
    too_many = "rank 1: header field 'rows' is 17, expected at most 16"
    with pytest.raises(ProtocolError, match=too_many):
        decode(rows17, bounded, peer=1, max_bytes=LIMIT)
