"""The Pub/Sub service layer: one RPC table, faults and error mapping for every face."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.protobuf import empty_pb2
from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient
from google.rpc import code_pb2, error_details_pb2, status_pb2

from pytest_gcpfakes import FakeNotActiveError
from pytest_gcpfakes.pubsub import _service

WAIT = 30  # seconds; a bound on waiting for events, never a sleep
STREAMING_PULL = "/google.pubsub.v1.Subscriber/StreamingPull"


def test_arranging_with_fake_pubsub_leaves_an_injected_fault_for_the_application(
    fake_pubsub: Any,
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=1)
    fake_pubsub.publish("orders", b"arranged by the test")  # must not use the fault up
    publisher = GapicPublisherClient()
    with pytest.raises(exceptions.ServiceUnavailable, match=r"fake_pubsub\.fail\('Publish'"):
        publisher.publish(topic=topic, messages=[{"data": b"from the app"}], retry=None)
    publisher.publish(topic=topic, messages=[{"data": b"from the app"}], retry=None)
    assert [m.data for m in fake_pubsub.published("orders")] == [
        b"arranged by the test",
        b"from the app",
    ]


def test_fake_pubsub_helpers_never_consume_a_fault_on_every_method(fake_pubsub: Any) -> None:
    fake_pubsub.fail("*", exceptions.PermissionDenied, times=1)
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"x")
    with pytest.raises(exceptions.PermissionDenied):
        GapicPublisherClient().get_topic(topic=topic)


# -- the RPC table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_module", "base_name"),
    [
        ("publisher", "PublisherTransport"),
        ("subscriber", "SubscriberTransport"),
        ("schema_service", "SchemaServiceTransport"),
    ],
)
def test_table_has_every_rpc_of_each_generated_transport(
    service_module: str, base_name: str
) -> None:
    import importlib

    base = getattr(
        importlib.import_module(f"google.pubsub_v1.services.{service_module}.transports.base"),
        base_name,
    )
    properties = {name for name, value in vars(base).items() if isinstance(value, property)}
    known = {name for name in properties if _service.rpc_named(name) is not None}
    assert properties - known == {"host", "kind"}


def test_table_entry_names_path_api_method_gapic_name_types_and_kind() -> None:
    from google.pubsub_v1 import types

    publish = _service.rpc_table()["/google.pubsub.v1.Publisher/Publish"]
    assert (publish.service, publish.method, publish.name) == (
        "google.pubsub.v1.Publisher",
        "Publish",
        "publish",
    )
    assert publish.request_type is types.PublishRequest
    assert publish.request_pb is types.PublishRequest.pb()
    assert publish.response_type is types.PublishResponse
    assert not publish.streaming
    assert _service.rpc_named("streaming_pull").streaming  # type: ignore[union-attr]
    delete = _service.rpc_named("delete_topic")
    assert delete is not None
    assert delete.response_pb is empty_pb2.Empty


def test_table_has_the_iam_mixin_once_with_raw_protobuf_types() -> None:
    from google.iam.v1 import iam_policy_pb2, policy_pb2

    iam = {path: rpc for path, rpc in _service.rpc_table().items() if "IAMPolicy" in path}
    assert sorted(iam) == [
        "/google.iam.v1.IAMPolicy/GetIamPolicy",
        "/google.iam.v1.IAMPolicy/SetIamPolicy",
        "/google.iam.v1.IAMPolicy/TestIamPermissions",
    ]
    set_policy = iam["/google.iam.v1.IAMPolicy/SetIamPolicy"]
    assert set_policy.request_type is None
    assert set_policy.request_pb is iam_policy_pb2.SetIamPolicyRequest
    assert set_policy.response_pb is policy_pb2.Policy


def test_iam_methods_are_served_for_every_generated_client(fake_pubsub: Any) -> None:
    # The IAMPolicy mixin is one RPC table entry shared by the three services.
    topic = fake_pubsub.create_topic("orders")
    assert GapicPublisherClient().get_iam_policy(request={"resource": topic}).etag == (
        b"\x00\x20\x01"
    )


# -- errors as google.rpc.Status ----------------------------------------------------------


def _exactly_once_status(ack_id: str) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(
        reason="EXACTLY_ONCE_ACKID_FAILURE",
        domain="pubsub.googleapis.com",
        metadata={ack_id: "PERMANENT_FAILURE_INVALID_ACK_ID"},
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="Some ack ids were bad.")
    status.details.add().Pack(info)
    return status


def test_error_from_status_is_what_google_api_core_makes_of_it() -> None:
    from google.cloud.pubsub_v1.subscriber._protocol.streaming_pull_manager import (
        _get_ack_errors,
    )

    error = _service.error_from_status(_exactly_once_status("gcpfakes-1-1"))
    assert type(error) is exceptions.InvalidArgument
    assert error.message == "Some ack ids were bad."
    assert error.reason == "EXACTLY_ONCE_ACKID_FAILURE"
    assert [type(d) for d in error.details] == [error_details_pb2.ErrorInfo]
    assert _get_ack_errors(error) == {"gcpfakes-1-1": "PERMANENT_FAILURE_INVALID_ACK_ID"}


def test_status_round_trips_through_an_error() -> None:
    status = _exactly_once_status("gcpfakes-1-1")
    assert _service.status_from_error(_service.error_from_status(status)) == status


def test_any_api_error_maps_to_its_grpc_code_message_and_packed_details() -> None:
    info = error_details_pb2.ErrorInfo(reason="WHY")
    status = _service.status_from_error(exceptions.NotFound("gone", details=[info, "text"]))
    assert (status.code, status.message) == (code_pb2.NOT_FOUND, "gone")
    (detail,) = status.details
    assert detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    again = _service.error_from_status(status)
    assert (type(again), again.message, again.details) == (exceptions.NotFound, "gone", [info])


def test_an_http_only_error_class_keeps_its_grpc_code() -> None:
    status = _service.status_from_error(exceptions.Forbidden("no"))
    assert type(_service.error_from_status(status)) is exceptions.PermissionDenied


def test_an_exception_that_is_not_an_api_error_is_a_non_retryable_bug_report() -> None:
    status = _service.status_from_error(KeyError("oops"))
    assert status.code == code_pb2.FAILED_PRECONDITION
    assert status.message == (
        "pytest-gcpfakes: the Pub/Sub fake failed with KeyError: 'oops'; this is a bug in "
        "pytest-gcpfakes, please report it."
    )


# -- bytes in, bytes out ------------------------------------------------------------------

PUBLISH = "/google.pubsub.v1.Publisher/Publish"


def test_call_bytes_serves_a_serialized_request(fake_pubsub: Any) -> None:
    from google.pubsub_v1 import types

    topic = fake_pubsub.create_topic("orders")
    request = types.PublishRequest(topic=topic, messages=[types.PubsubMessage(data=b"hi")])
    answer = _service.call_bytes(PUBLISH, types.PublishRequest.serialize(request))
    assert list(types.PublishResponse.deserialize(answer).message_ids) == ["1"]
    assert [m.data for m in fake_pubsub.published("orders")] == [b"hi"]


def test_call_bytes_answers_empty_bytes_for_an_empty_response(fake_pubsub: Any) -> None:
    from google.pubsub_v1 import types

    topic = fake_pubsub.create_topic("orders")
    request = types.DeleteTopicRequest.serialize(types.DeleteTopicRequest(topic=topic))
    assert _service.call_bytes("/google.pubsub.v1.Publisher/DeleteTopic", request) == b""
    assert fake_pubsub.topics == []


def test_call_bytes_with_a_body_that_does_not_parse_is_invalid_argument(fake_pubsub: Any) -> None:
    with pytest.raises(exceptions.InvalidArgument) as caught:
        _service.call_bytes(PUBLISH, b"\xff\xff\xff\xff")
    assert caught.value.message == (
        "The request to /google.pubsub.v1.Publisher/Publish is not a serialized "
        "google.pubsub.v1.PublishRequest message."
    )


def test_call_bytes_on_an_unknown_path_is_method_not_implemented(fake_pubsub: Any) -> None:
    with pytest.raises(exceptions.MethodNotImplemented, match=r"'/google\.pubsub\.v1\.Nope/Nope'"):
        _service.call_bytes("/google.pubsub.v1.Nope/Nope", b"")


def test_call_bytes_without_a_fake_says_to_activate_one() -> None:
    with pytest.raises(FakeNotActiveError, match="add the `fake_pubsub` fixture"):
        _service.call_bytes(PUBLISH, b"")


def test_call_bytes_applies_injected_faults(fake_pubsub: Any) -> None:
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=1)
    with pytest.raises(exceptions.ServiceUnavailable, match="Injected by pytest-gcpfakes"):
        _service.call_bytes(PUBLISH, b"")


class _Requests:
    """A request stream the test feeds, as a gRPC server's request iterator would be."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send(self, request: bytes | None) -> None:
        self._queue.put(request)

    def __iter__(self) -> Iterator[bytes]:
        while (request := self._queue.get()) is not None:
            yield request


def _streaming_pull(subscription: str) -> bytes:
    from google.pubsub_v1 import types

    request = types.StreamingPullRequest(subscription=subscription, stream_ack_deadline_seconds=10)
    return types.StreamingPullRequest.serialize(request)


def _reader_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "gcpfakes-streaming-pull-reader"}


def test_stream_bytes_yields_responses_and_ends_quietly_when_the_caller_cancels(
    fake_pubsub: Any,
) -> None:
    from google.pubsub_v1 import types

    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    requests = _Requests()
    requests.send(_streaming_pull(sub))
    callbacks: list[Callable[[], None]] = []
    before = _reader_threads()
    responses = _service.stream_bytes(STREAMING_PULL, iter(requests), callbacks.append)
    (reader,) = _reader_threads() - before
    fake_pubsub.publish("orders", b"over bytes")
    first = types.StreamingPullResponse.deserialize(next(responses))
    assert [m.message.data for m in first.received_messages] == [b"over bytes"]
    (cancel,) = callbacks
    cancel()
    assert list(responses) == []
    requests.send(None)  # grpc ends the request iterator of a cancelled call
    reader.join(WAIT)
    assert not reader.is_alive()
    assert not fake_pubsub.subscription("worker").streams


def test_stream_bytes_ends_when_the_request_stream_ends(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    requests = _Requests()
    requests.send(_streaming_pull(sub))
    responses = _service.stream_bytes(STREAMING_PULL, iter(requests))
    requests.send(None)
    assert list(responses) == []


def test_stream_bytes_for_a_missing_subscription_fails_the_iteration_with_not_found(
    fake_pubsub: Any,
) -> None:
    requests = _Requests()
    requests.send(_streaming_pull(fake_pubsub.subscription_path("nowhere")))
    responses = _service.stream_bytes(STREAMING_PULL, iter(requests))
    with pytest.raises(exceptions.NotFound, match=r"resource=nowhere\)"):
        next(responses)
    requests.send(None)


def test_stream_bytes_with_a_later_request_that_does_not_parse_fails_with_invalid_argument(
    fake_pubsub: Any,
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    requests = _Requests()
    requests.send(_streaming_pull(sub))
    responses = _service.stream_bytes(STREAMING_PULL, iter(requests))
    requests.send(b"\xff\xff\xff\xff")
    with pytest.raises(exceptions.InvalidArgument, match="StreamingPullRequest message"):
        next(responses)
