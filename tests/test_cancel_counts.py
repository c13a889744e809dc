"""A client's cancel is counted CANCELLED in ``stigmer_requests_total``, whatever the server
was doing at that moment: blocked sending (flow control: the client stopped reading), or
waiting for the next state. Never UNKNOWN, which no client ever received."""

from __future__ import annotations

import time

import grpc

from stigmer_actors import wire
from stigmer_actors.contract import AGENT_WIRE

SUBSCRIBE = "AgentExecutionQueryController/subscribe"


def count(engine, code: str) -> float:
    value = engine.core.metrics.registry.get_sample_value(
        "stigmer_requests_total", {"method": SUBSCRIBE, "code": code})
    return value or 0.0


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)  # polling a condition with a deadline


def subscribe(channel: grpc.Channel, eid: str):
    stub = wire.agent_query_grpc.AgentExecutionQueryControllerStub(channel)
    return stub.subscribe(AGENT_WIRE.subscribe_request(value=eid), timeout=60)


def test_cancel_while_the_server_is_blocked_sending_counts_cancelled(served) -> None:
    engine, server, client = served
    eid = client.create_agent("m", session_id="s").metadata.id
    # A small window and no automatic growth: ~1 MB states fill it at once.
    channel = grpc.insecure_channel(server.address, options=[
        ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16384)])
    try:
        stream = subscribe(channel, eid)
        assert next(stream).status.version == 1
        for i in range(8):  # never read: the server's send blocks on flow control
            client.update_status(eid, wire.AgentExecutionStatus(error=f"{i}" + "x" * 1_000_000))
        # Its subscriber is parked (its consumer, the stream thread, has not taken the
        # newest state): the stream thread is inside grpc's send, at the generator's yield.
        wait_for(lambda: engine.core.registry.slowest_lag() > 0)
        stream.cancel()
        wait_for(lambda: count(engine, "CANCELLED") == 1)
        assert count(engine, "UNKNOWN") == 0
    finally:
        channel.close()


def test_cancel_while_the_server_waits_for_a_state_counts_cancelled(served) -> None:
    engine, server, client = served
    eid = client.create_agent("m", session_id="s").metadata.id
    channel = grpc.insecure_channel(server.address)
    try:
        stream = subscribe(channel, eid)
        assert next(stream).status.version == 1
        stream.cancel()
        wait_for(lambda: count(engine, "CANCELLED") == 1)
        assert count(engine, "UNKNOWN") == 0
    finally:
        channel.close()
