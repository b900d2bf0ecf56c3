"""The parity suite's server leg really goes through our server, not the in-memory transport.

The ``pubsub_backend`` fixture already checks this after every server-leg test; these tests
pin it down RPC by RPC, and show the other direction: what a test arranges in
``fake_pubsub`` without any client is what the server's clients see.
"""

from __future__ import annotations

from typing import Any

from _parity_harness import served_calls, server_backend

from pytest_gcpfakes import GCPFakesServer

PUBLISHER = "/google.pubsub.v1.Publisher"
SUBSCRIBER = "/google.pubsub.v1.Subscriber"


def test_every_rpc_of_the_server_leg_reaches_the_fake_over_the_wire(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer
) -> None:
    with served_calls() as calls:
        backend = server_backend(gcpfakes_server.pubsub_address, fake_pubsub.project)
        try:
            topic = backend.topic_path("orders")
            sub = backend.subscription_path("worker")
            backend.publisher.create_topic(name=topic)
            backend.subscriber.create_subscription(name=sub, topic=topic)
            message_id = backend.publisher.publish(topic, b"over the wire").result(timeout=30)
            response = backend.subscriber.pull(subscription=sub, max_messages=1, timeout=30)
            (received,) = response.received_messages
            backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
        finally:
            backend.close()
    assert calls.wire == [
        f"{PUBLISHER}/CreateTopic",
        f"{SUBSCRIBER}/CreateSubscription",
        f"{PUBLISHER}/Publish",
        f"{SUBSCRIBER}/Pull",
        f"{SUBSCRIBER}/Acknowledge",
    ]
    assert calls.in_process == []
    # The test's own fake, read without a client, holds what the server's clients did.
    assert fake_pubsub.topics == [topic]
    assert fake_pubsub.subscriptions == [sub]
    (published,) = fake_pubsub.published("orders")
    assert (published.message_id, published.data) == (message_id, b"over the wire")
    state = fake_pubsub.state("worker")
    assert (state.backlog, state.outstanding) == ((), ())
    assert [m.message_id for m in state.acked] == [message_id]


def test_what_the_test_arranges_in_the_fake_is_what_the_server_serves(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer
) -> None:
    fake_pubsub.create_topic("orders")
    fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"arranged", origin="test")
    with served_calls() as calls:
        backend = server_backend(gcpfakes_server.pubsub_address, fake_pubsub.project)
        try:
            response = backend.subscriber.pull(
                subscription=backend.subscription_path("worker"), max_messages=5, timeout=30
            )
        finally:
            backend.close()
    (received,) = response.received_messages
    assert (received.message.data, dict(received.message.attributes)) == (
        b"arranged",
        {"origin": "test"},
    )
    assert (calls.wire, calls.in_process) == ([f"{SUBSCRIBER}/Pull"], [])
