"""The Pub/Sub gRPC face fed malformed messages: INVALID_ARGUMENT, nothing done, still serving.

The face hands raw bytes to the service layer (``pubsub._service``), which parses them
itself: grpcio's own deserializer would answer INTERNAL "Exception deserializing
request!". Each kind of bad body is sent to several methods over a real channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.pubsub_v1.types import pubsub as ps

from pytest_gcpfakes.server._grpc import GrpcServer, start_grpc_server

WAIT = 30  # seconds: a bound on each call, never a sleep
PROJECT = "projects/test-project"
TOPIC = f"{PROJECT}/topics/orders"

_PUBLISH = ps.PublishRequest.serialize(
    ps.PublishRequest(topic=TOPIC, messages=[ps.PubsubMessage(data=b"payload")])
)
BODIES = {
    # The end of a valid request cut off.
    "truncated": _PUBLISH[:-3],
    # Not protobuf at all: a varint that never ends.
    "garbage": b"\xff\xff\xff\xff\x0f",
    # A valid message of another type: a Subscription where the method takes its request.
    "another-type": ps.Subscription.serialize(ps.Subscription(name=f"{PROJECT}/x", topic=TOPIC)),
    # Field 1, every method's name field, sent as a fixed32 instead of a string.
    "wrong-wire-type": b"\x0d\x01\x02\x03\x04",
    # Field 1 as a string that is not UTF-8.
    "not-utf8": b"\x0a\x02\xff\xfe",
}
METHODS = [
    "/google.pubsub.v1.Publisher/CreateTopic",
    "/google.pubsub.v1.Publisher/GetTopic",
    "/google.pubsub.v1.Publisher/Publish",
    "/google.pubsub.v1.Subscriber/CreateSubscription",
    "/google.pubsub.v1.Subscriber/Pull",
    "/google.pubsub.v1.Subscriber/Acknowledge",
    "/google.pubsub.v1.Subscriber/ModifyAckDeadline",
    "/google.pubsub.v1.SchemaService/CreateSchema",
]


@pytest.fixture(scope="module")
def server() -> Iterator[GrpcServer]:
    served = start_grpc_server()
    yield served
    served.stop(0)


@pytest.fixture
def channel(fake_pubsub: Any, server: GrpcServer) -> Iterator[grpc.Channel]:
    fake_pubsub.create_topic("orders")
    fake_pubsub.create_subscription("orders-sub", "orders")
    with grpc.insecure_channel(server.address) as opened:
        yield opened
    try:
        server.check()  # nothing but API errors was raised while serving
    finally:
        server.errors.clear()


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("method", METHODS, ids=[m.rsplit("/", 1)[1] for m in METHODS])
def test_a_malformed_request_is_invalid_argument(
    channel: grpc.Channel, method: str, body: bytes
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(method)(body, timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_malformed_first_streaming_pull_request_is_invalid_argument(
    channel: grpc.Channel, body: bytes
) -> None:
    stream = channel.stream_stream("/google.pubsub.v1.Subscriber/StreamingPull")
    with pytest.raises(grpc.RpcError) as caught:
        list(stream(iter([body]), timeout=WAIT))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_malformed_later_streaming_pull_request_is_invalid_argument(
    channel: grpc.Channel,
) -> None:
    opening = ps.StreamingPullRequest.serialize(
        ps.StreamingPullRequest(
            subscription=f"{PROJECT}/subscriptions/orders-sub", stream_ack_deadline_seconds=10
        )
    )
    stream = channel.stream_stream("/google.pubsub.v1.Subscriber/StreamingPull")
    with pytest.raises(grpc.RpcError) as caught:
        list(stream(iter([opening, BODIES["garbage"]]), timeout=WAIT))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_malformed_create_creates_nothing(channel: grpc.Channel, fake_pubsub: Any) -> None:
    create = channel.unary_unary("/google.pubsub.v1.Publisher/CreateTopic")
    for body in BODIES.values():
        with pytest.raises(grpc.RpcError):
            create(body, timeout=WAIT)
    assert fake_pubsub.topics == [TOPIC]


def test_the_server_keeps_serving_after_malformed_requests(
    channel: grpc.Channel, fake_pubsub: Any
) -> None:
    publish = channel.unary_unary("/google.pubsub.v1.Publisher/Publish")
    for body in BODIES.values():
        with pytest.raises(grpc.RpcError):
            publish(body, timeout=WAIT)
    answer = ps.PublishResponse.deserialize(publish(_PUBLISH, timeout=WAIT))
    assert len(answer.message_ids) == 1
    assert [m.data for m in fake_pubsub.published("orders")] == [b"payload"]
