"""The Channel over the loopback transport: receives match sends in posting order, a message
that is not what its header announced is a ProtocolError, and broadcasts meter once per client."""

from __future__ import annotations

import pytest
import torch

from fsl_sage_dist.wire import Expect, Header, Kind, ProtocolError, counts_to_bytes
from fsl_sage_dist.wire.header import HEADER_LEN

from harness import loopback_pair

VEC = (torch.float32,)


def state_header(client: int, n: int) -> Header:
    return Header(Kind.CLIENT_STATE, 0, client, 0, torch.float32, (n,))


def state_expect(client: int, n: int) -> Expect:
    return Expect(Kind.CLIENT_STATE, 0, client, 0, VEC, (n,))


def test_a_posted_receive_takes_the_first_message_even_if_a_later_receive_waits_first():
    """As with Gloo: the receive posted first is matched to the message sent first."""
    loopback, host, server = loopback_pair()
    with loopback.baton:
        early = host.irecv(0, state_expect(0, 3), "client_model", "down")
        assert not early.ready()
        server.send(1, state_header(0, 3), torch.ones(3), "client_model", "down")
        server.send(1, state_header(1, 2), torch.full((2,), 2.0), "client_model", "down")
        later = host.recv(0, state_expect(1, 2), "client_model", "down")
        assert early.ready()
        assert torch.equal(early.result(), torch.ones(3))
        assert torch.equal(later, torch.full((2,), 2.0))


def test_a_message_for_another_client_is_refused_at_the_header():
    loopback, host, server = loopback_pair()
    with loopback.baton, pytest.raises(ProtocolError, match="client"):
        server.send(1, state_header(2, 3), torch.ones(3), "client_model", "down")
        host.recv(0, state_expect(1, 3), "client_model", "down")


def test_a_body_shorter_than_its_header_is_a_protocol_error():
    """A peer that bypasses Channel.send: a valid header, then fewer bytes than it announced."""
    loopback, host, _ = loopback_pair()
    with loopback.baton:
        loopback.put(0, 1, state_header(0, 8).encode())
        loopback.put(0, 1, torch.zeros(12, dtype=torch.uint8))
        with pytest.raises(ProtocolError, match="not the 32 bytes"):
            host.recv(0, state_expect(0, 8), "client_model", "down")


def test_a_body_longer_than_posted_is_refused():
    loopback, host, _ = loopback_pair()
    with loopback.baton:
        loopback.put(0, 1, torch.zeros(HEADER_LEN + 1, dtype=torch.int64))
        with pytest.raises(ProtocolError, match="longer than"):
            host.recv(0, state_expect(0, 8), "client_model", "down")


def test_a_sender_refuses_a_payload_its_header_does_not_describe():
    loopback, _, server = loopback_pair()
    with loopback.baton, pytest.raises(ProtocolError, match="refusing to send"):
        server.send(1, state_header(0, 3), torch.ones(4), "client_model", "down")


def test_a_broadcast_is_metered_once_per_client_it_serves_and_carries_no_header():
    loopback, host, server = loopback_pair()
    with loopback.baton:
        server.broadcast(torch.arange(5.0), "client_model", [0, 1, 2])
        got = host.broadcast(torch.empty(5), "client_model", [0, 2])
    assert torch.equal(got, torch.arange(5.0))
    counts = host.meter.round_counts()
    assert counts_to_bytes(counts)["client_model"] == {"up": 0, "down": 2 * 5 * 4}
    assert counts[1].sum() == 0, "client 1 is not served by this host"
    assert counts_to_bytes(counts)["control"] == {"up": 0, "down": 0}
