"""Payload framing: the receiver takes exactly the bytes the header announced, or raises
ProtocolError naming the peer; a sender never posts a payload its header does not describe."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fsl_sage_dist.wire.channel import Channel, frame, framed_buffer, unframe
from fsl_sage_dist.wire.header import Expect, Header, Kind, ProtocolError
from fsl_sage_dist.wire.transport import DistTransport

HEADER = Header(Kind.SMASHED, 3, 2, 1, torch.float32, (4, 8))
PAYLOAD = torch.arange(32, dtype=torch.float32).reshape(4, 8)
CPU = torch.device("cpu")


def _gloo_delivers(message: torch.Tensor, buffer: torch.Tensor) -> None:
    """What Gloo does with a message no longer than the posted buffer: fills its prefix."""
    buffer[: message.numel()].copy_(message)


def test_a_whole_message_round_trips():
    buffer = framed_buffer(HEADER, CPU)
    _gloo_delivers(frame(HEADER, PAYLOAD, CPU, peer=0), buffer)
    assert torch.equal(unframe(buffer, HEADER, peer=1), PAYLOAD)


@pytest.mark.parametrize("missing", [1, 8, 9, 128])
def test_a_short_body_is_refused(missing):
    """Anything short of the full frame leaves the length slot unwritten: no uninitialised
    memory reaches the caller."""
    buffer = framed_buffer(HEADER, CPU)
    _gloo_delivers(frame(HEADER, PAYLOAD, CPU, peer=0)[:-missing], buffer)
    with pytest.raises(ProtocolError, match="from rank 1: SMASHED payload is not the 128 bytes"):
        unframe(buffer, HEADER, peer=1)


def test_a_body_of_another_size_is_refused_by_its_length_word():
    """A frame of the right size whose length word says otherwise (a longer payload cut)."""
    longer = Header(Kind.SMASHED, 3, 2, 1, torch.float32, (5, 8))
    forged = frame(longer, torch.zeros(5, 8), CPU, peer=0)[-framed_buffer(HEADER, CPU).numel() :]
    buffer = framed_buffer(HEADER, CPU)
    _gloo_delivers(forged, buffer)
    with pytest.raises(ProtocolError, match=r"128 bytes its header announced \(length word 160\)"):
        unframe(buffer, HEADER, peer=1)


@pytest.mark.parametrize(
    "payload",
    [torch.zeros(5, 8), torch.zeros(3, 8), torch.zeros(4, 8, dtype=torch.float64)],
    ids=["longer", "shorter", "other_dtype"],
)
def test_a_sender_refuses_a_payload_its_header_does_not_describe(payload):
    """A longer body would make Gloo abort the receiver: it must never be posted."""
    with pytest.raises(ProtocolError, match="refusing to send to rank 0"):
        frame(HEADER, payload, CPU, peer=0)


def _forger_and_receiver(rank: int, store_file: str, result_file: str) -> None:
    store = dist.FileStore(store_file, 2)
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60)
    )
    try:
        if rank == 1:  # a peer that bypasses Channel.send: header, then a short raw body
            dist.send(HEADER.encode(), dst=0)
            dist.send(PAYLOAD.reshape(-1)[:31].clone(), dst=0)
            dist.send(Header(Kind.SMASHED, 3, 2, 1, torch.float32, (33, 8)).encode(), dst=0)
        else:
            channel = Channel(DistTransport(), None, CPU, CPU, 1 << 20)
            expect = Expect(Kind.SMASHED, 3, 2, 1, (torch.float32,), (-1, 8), max_rows=32)
            errors = []
            for _ in range(2):
                try:
                    channel.recv(1, expect, "activations", "up")
                    errors.append("accepted")
                except ProtocolError as err:
                    errors.append(str(err))
            Path(result_file).write_text("\n".join(errors))
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_forged_messages_over_gloo_are_protocol_errors(tmp_path, monkeypatch):
    """Over real Gloo: a short body and a batch with more rows than train.batch_size both
    raise ProtocolError naming the peer (a short body used to be accepted)."""
    result = tmp_path / "result.txt"
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    mp.start_processes(
        _forger_and_receiver,
        nprocs=2,
        start_method="spawn",
        args=(str(tmp_path / "store"), str(result)),
    )
    short, rows = result.read_text().splitlines()
    print(short, rows, sep="\n")
    assert short.startswith("message from rank 1: SMASHED payload is not the 128 bytes")
    assert rows.startswith("message from rank 1: header field 'rows' is 33")
