"""The Pub/Sub gRPC face through the real clients on an explicit channel to a loopback server.

With the plugin loaded, the ``"grpc"`` transport of the generated clients is the in-memory
one, so these tests build the real gRPC transport on a channel of their own, as the parity
harness does for Google's emulator. One server serves the whole module and follows each
test's fresh ``fake_pubsub``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber._protocol.streaming_pull_manager import _get_ack_errors
from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber import SubscriberClient as GapicSubscriberClient
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from pytest_gcpfakes import GCPFakes
from pytest_gcpfakes.server._grpc import GrpcServer, start_grpc_server

WAIT = 30  # seconds; a bound on waiting for events, never a sleep
# What the client library's own channels set (a hand-built channel receives 4 MiB at most).
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[GrpcServer]:
    """One server for the module: it looks the current fake up on every call."""
    server = start_grpc_server()
    try:
        yield server
    finally:
        server.stop(0)
    server.check()


@dataclass
class Clients:
    """Real clients on real gRPC channels to the server."""

    publisher: pubsub_v1.PublisherClient
    subscriber: pubsub_v1.SubscriberClient
    gapic_publisher: GapicPublisherClient
    gapic_subscriber: GapicSubscriberClient
    channel: grpc.Channel


@pytest.fixture
def clients(grpc_server: GrpcServer) -> Iterator[Clients]:
    channels = [
        grpc.insecure_channel(grpc_server.address, options=CHANNEL_OPTIONS) for _ in range(5)
    ]
    made = Clients(
        publisher=pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channels[0])),
        subscriber=pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=channels[1])
        ),
        gapic_publisher=GapicPublisherClient(transport=PublisherGrpcTransport(channel=channels[2])),
        gapic_subscriber=GapicSubscriberClient(
            transport=SubscriberGrpcTransport(channel=channels[3])
        ),
        channel=channels[4],
    )
    try:
        yield made
    finally:
        made.publisher.stop()
        made.subscriber.close()
        for channel in channels:
            channel.close()


class Inbox:
    """Collects messages from a streaming-pull callback and lets the test wait for them."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, message: Any) -> None:
        message.ack()
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, count: int) -> list[Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= count, WAIT)
            return list(self.messages)


def _wait_until_no_streams(fake_pubsub: Any, subscription: str) -> None:
    sub = fake_pubsub.subscription(subscription)
    with sub.cond:
        assert sub.cond.wait_for(lambda: not sub.streams, WAIT)


# -- the server -----------------------------------------------------------------------------


def test_port_0_binds_a_free_loopback_port(grpc_server: GrpcServer) -> None:
    assert grpc_server.host == "127.0.0.1"
    assert grpc_server.port > 0
    assert grpc_server.address == f"127.0.0.1:{grpc_server.port}"


def test_a_host_beyond_loopback_is_refused_without_allow_remote() -> None:
    with pytest.raises(
        ValueError, match=r"loopback only; pass allow_remote=True .* on '0\.0\.0\.0'\.$"
    ):
        start_grpc_server(host="0.0.0.0")


def test_without_an_active_fake_calls_fail_with_failed_precondition(
    clients: Clients,
) -> None:
    with pytest.raises(exceptions.FailedPrecondition) as caught:
        clients.gapic_publisher.get_topic(topic="projects/test-project/topics/orders")
    assert caught.value.message == (
        "pytest-gcpfakes: this Pub/Sub call ran with no fake Pub/Sub active; add the "
        "`fake_pubsub` fixture to the test (or use `with GCPFakes():` outside pytest)."
    )


def test_a_body_that_does_not_parse_is_invalid_argument(fake_pubsub: Any, clients: Clients) -> None:
    publish = clients.channel.unary_unary("/google.pubsub.v1.Publisher/Publish")
    with pytest.raises(grpc.RpcError) as caught:
        publish(b"\xff\xff\xff\xff", timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "The request to /google.pubsub.v1.Publisher/Publish is not a serialized "
        "google.pubsub.v1.PublishRequest message."
    )


def test_an_unknown_method_is_unimplemented(fake_pubsub: Any, clients: Clients) -> None:
    nope = clients.channel.unary_unary("/google.pubsub.v1.Publisher/Nope")
    with pytest.raises(grpc.RpcError) as caught:
        nope(b"", timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_iam_methods_are_served_over_grpc(fake_pubsub: Any, clients: Clients) -> None:
    topic = fake_pubsub.create_topic("orders")
    policy = clients.gapic_publisher.get_iam_policy(request={"resource": topic})
    assert (policy.etag, list(policy.bindings)) == (b"\x00\x20\x01", [])


def test_the_server_follows_whichever_fake_is_current(fake_pubsub: Any, clients: Clients) -> None:
    outer = fake_pubsub.create_topic("outer")
    with GCPFakes(services=("pubsub",)) as inner:
        inner.pubsub.create_topic("inner")
        assert [t.name for t in clients.publisher.list_topics(project="projects/test-project")] == [
            inner.pubsub.topic_path("inner")
        ]
    assert [t.name for t in clients.publisher.list_topics(project="projects/test-project")] == [
        outer
    ]


# -- topics, subscriptions, publish, pull ----------------------------------------------------


def test_topic_and_subscription_created_over_the_socket_are_in_fake_pubsub(
    fake_pubsub: Any, clients: Clients
) -> None:
    topic = fake_pubsub.topic_path("orders")
    clients.publisher.create_topic(name=topic)
    created = clients.subscriber.create_subscription(
        name=fake_pubsub.subscription_path("worker"), topic=topic
    )
    assert fake_pubsub.topics == [topic]
    assert fake_pubsub.subscriptions == [created.name]
    assert created.ack_deadline_seconds == 10


def test_errors_arrive_with_the_class_and_message_of_the_in_process_fake(
    fake_pubsub: Any, clients: Clients
) -> None:
    with pytest.raises(exceptions.NotFound, match=r"^404 Resource not found \(resource=nope\)\.$"):
        clients.publisher.get_topic(topic=fake_pubsub.topic_path("nope"))


def test_publish_over_the_socket_is_seen_by_fake_pubsub(fake_pubsub: Any, clients: Clients) -> None:
    topic = fake_pubsub.create_topic("orders")
    message_id = clients.publisher.publish(topic, b"over the wire", origin="socket").result(WAIT)
    (message,) = fake_pubsub.published("orders")
    assert (message.message_id, message.data, message.attributes) == (
        message_id,
        b"over the wire",
        {"origin": "socket"},
    )


def test_message_published_by_fake_pubsub_is_pulled_and_acked_over_the_socket(
    fake_pubsub: Any, clients: Clients
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    message_id = fake_pubsub.publish("orders", b"arranged", k="v")
    (received,) = clients.subscriber.pull(subscription=sub, max_messages=10).received_messages
    assert (received.message.message_id, received.message.data) == (message_id, b"arranged")
    assert dict(received.message.attributes) == {"k": "v"}
    clients.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    assert [m.data for m in fake_pubsub.state("worker").acked] == [b"arranged"]


def test_a_10_mb_message_goes_both_ways(fake_pubsub: Any, clients: Clients) -> None:
    topic = fake_pubsub.create_topic("big")
    sub = fake_pubsub.create_subscription("big-worker", "big")
    data = bytes(range(256)) * (9_990_000 // 256)
    clients.publisher.publish(topic, data).result(WAIT)
    (received,) = clients.subscriber.pull(subscription=sub, max_messages=1).received_messages
    assert received.message.data == data


def test_injected_fault_applies_over_the_wire(fake_pubsub: Any, clients: Clients) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=1)
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        clients.gapic_publisher.publish(topic=topic, messages=[{"data": b"x"}], retry=None)
    assert caught.value.message == (
        "Injected by pytest-gcpfakes: fake_pubsub.fail('Publish', ServiceUnavailable)."
    )
    clients.gapic_publisher.publish(topic=topic, messages=[{"data": b"x"}], retry=None)
    assert len(fake_pubsub.published("orders")) == 1


def test_retryable_fault_over_the_wire_is_retried_by_the_publisher(
    fake_pubsub: Any, clients: Clients
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=2)
    assert clients.publisher.publish(topic, b"eventually").result(WAIT)
    assert [m.data for m in fake_pubsub.published("orders")] == [b"eventually"]


# -- exactly-once delivery ---------------------------------------------------------------


def test_exactly_once_ack_errors_have_the_same_details_as_in_process(
    fake_pubsub: Any, clients: Clients
) -> None:
    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments", enable_exactly_once_delivery=True)
    fake_pubsub.publish("payments", b"slow")
    (first,) = clients.subscriber.pull(subscription=sub, max_messages=1).received_messages
    fake_pubsub.clock.advance(11)  # the 10 s ack deadline passes
    clients.subscriber.pull(subscription=sub, max_messages=1)  # leased again, new ack id
    with pytest.raises(exceptions.InvalidArgument) as over_the_wire:
        clients.subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    with (
        pubsub_v1.SubscriberClient() as in_process_client,
        pytest.raises(exceptions.InvalidArgument) as in_process,
    ):
        in_process_client.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    wire, local = over_the_wire.value, in_process.value
    assert (type(wire), wire.message, wire.details, wire.reason, wire.domain) == (
        type(local),
        local.message,
        local.details,
        local.reason,
        local.domain,
    )
    assert _get_ack_errors(wire) == {first.ack_id: "PERMANENT_FAILURE_INVALID_ACK_ID"}
    assert _get_ack_errors(wire) == _get_ack_errors(local)


@pytest.mark.parametrize("face", ["grpc", "in-process"])
def test_exactly_once_ack_with_response_of_an_expired_lease_fails_on_both_faces(
    fake_pubsub: Any, clients: Clients, face: str
) -> None:
    from google.cloud.pubsub_v1.subscriber.exceptions import AcknowledgeError, AcknowledgeStatus

    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments", enable_exactly_once_delivery=True)
    outcomes: list[BaseException | None] = []
    first = threading.Lock()
    done = threading.Event()

    def callback(message: Any) -> None:
        if not first.acquire(blocking=False):
            message.ack()  # the redelivery of the expired lease
            return
        fake_pubsub.clock.advance(601)  # past any ack deadline the client asked for
        outcomes.append(message.ack_with_response().exception(WAIT))
        done.set()

    subscriber = clients.subscriber if face == "grpc" else pubsub_v1.SubscriberClient()
    future = subscriber.subscribe(sub, callback)
    fake_pubsub.publish("payments", b"late")
    assert done.wait(WAIT)
    future.cancel()
    future.result(WAIT)
    if face == "in-process":
        subscriber.close()
    (error,) = outcomes
    assert isinstance(error, AcknowledgeError)
    assert error.error_code is AcknowledgeStatus.INVALID_ACK_ID


# -- streaming pull -----------------------------------------------------------------------


def test_subscribe_receives_messages_over_the_socket_and_cancels_cleanly(
    fake_pubsub: Any, clients: Clients
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    inbox = Inbox()
    future = clients.subscriber.subscribe(sub, inbox)
    for i in range(3):
        fake_pubsub.publish("orders", f"m{i}".encode())
    received = inbox.wait_for(3)
    future.cancel()
    future.result(WAIT)  # returns instead of raising: the documented shutdown
    assert sorted(m.data for m in received) == [b"m0", b"m1", b"m2"]
    state = fake_pubsub.subscription("worker")
    with state.cond:
        assert state.cond.wait_for(lambda: len(state.acked) == 3, WAIT)
    _wait_until_no_streams(fake_pubsub, "worker")


def test_subscribe_to_a_missing_subscription_fails_with_not_found(
    fake_pubsub: Any, clients: Clients
) -> None:
    future = clients.subscriber.subscribe(fake_pubsub.subscription_path("nowhere"), Inbox())
    with pytest.raises(exceptions.NotFound, match=r"resource=nowhere\)"):
        future.result(timeout=WAIT)


def test_message_published_over_the_socket_reaches_an_in_process_subscriber(
    fake_pubsub: Any, clients: Clients
) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    inbox = Inbox()
    with pubsub_v1.SubscriberClient() as in_process:
        future = in_process.subscribe(sub, inbox)
        clients.publisher.publish(topic, b"across faces").result(WAIT)
        (message,) = inbox.wait_for(1)
        future.cancel()
        future.result(WAIT)
    assert message.data == b"across faces"


def test_stopping_the_server_ends_open_streams_and_its_threads(fake_pubsub: Any) -> None:
    from google.pubsub_v1 import types

    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    before = set(threading.enumerate())
    server = start_grpc_server()
    channel = grpc.insecure_channel(server.address)
    done_sending = threading.Event()

    def requests() -> Iterator[bytes]:
        yield types.StreamingPullRequest.serialize(
            types.StreamingPullRequest(subscription=sub, stream_ack_deadline_seconds=10)
        )
        done_sending.wait(WAIT)  # keep the client's side open, as the subscriber does

    responses = channel.stream_stream("/google.pubsub.v1.Subscriber/StreamingPull")(requests())
    fake_pubsub.publish("orders", b"one")
    first = types.StreamingPullResponse.deserialize(next(responses))
    assert [m.message.data for m in first.received_messages] == [b"one"]
    server.stop(0)
    _wait_until_no_streams(fake_pubsub, "worker")
    with pytest.raises(grpc.RpcError):
        next(responses)
    done_sending.set()
    channel.close()
    server.check()
    left = [
        t
        for t in set(threading.enumerate()) - before
        if t.name.startswith(("gcpfakes-grpc", "gcpfakes-streaming-pull"))
    ]
    for thread in left:
        thread.join(WAIT)
    assert [t.name for t in left if t.is_alive()] == []
