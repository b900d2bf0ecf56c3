"""Pub/Sub fidelity tests written once, run on the fake, our server and the emulator.

The emulator leg runs with ``--pubsub-parity`` (see conftest.py).

Where the fake and the emulator word an error differently, the test pins the class on all
backends and GCP's wording on the fake and our server (the same service layer, so the wording
must survive the wire); docs/fidelity.md records each such difference. A behaviour one
backend lacks gets ``@pytest.mark.xfail_on("fake", reason="fake: not implemented yet ([2/9])")``
(or ``"server"``, ``"emulator"``), a strict xfail on that backend only.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import grpc
import pytest
from _parity_harness import Backend
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.iam.v1 import policy_pb2
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.pubsub_v1.types import Encoding

DELETED_TOPIC = "_deleted-topic_"


# -- helpers -------------------------------------------------------------------------------


def _topic(backend: Backend, name: str = "orders") -> str:
    path = backend.topic_path(backend.unique(name))
    backend.publisher.create_topic(name=path)
    return path


def _subscription(backend: Backend, topic: str, name: str = "worker", **fields: Any) -> str:
    path = backend.subscription_path(backend.unique(name))
    backend.subscriber.create_subscription(request={"name": path, "topic": topic, **fields})
    return path


def _fake_says(backend: Backend, error: exceptions.GoogleAPICallError, message: str) -> None:
    """Pin GCP's wording on the fake and our server; the emulator's differs (docs/fidelity.md)."""
    if backend.kind in ("fake", "server"):
        assert error.message == message


def _pull(backend: Backend, subscription: str, count: int, *, within: float = 30.0) -> list[Any]:
    """Pull until ``count`` messages arrived: one pull may return fewer than are waiting."""
    received: list[Any] = []
    give_up = time.monotonic() + within
    while len(received) < count:
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            got = [m.message.data for m in received]
            raise AssertionError(f"pulled {len(received)} of {count} messages in {within} s: {got}")
        response = backend.subscriber.pull(
            subscription=subscription,
            max_messages=count - len(received),
            timeout=min(remaining, 15.0),
        )
        received.extend(response.received_messages)
    return received


def _pull_nothing(backend: Backend, subscription: str) -> None:
    response = backend.subscriber.pull(
        subscription=subscription, max_messages=10, return_immediately=True
    )
    assert [m.message.data for m in response.received_messages] == []


def _receive(backend: Backend, subscription: str, count: int, *, within: float = 30.0) -> list[Any]:
    """Receive ``count`` messages through streaming pull (``subscribe()``), acking each."""
    received: list[Any] = []
    changed = threading.Condition()

    def callback(message: Any) -> None:
        message.ack()
        with changed:
            received.append(message)
            changed.notify_all()

    def wake(_: Any) -> None:
        with changed:
            changed.notify_all()

    future = backend.subscriber.subscribe(subscription, callback)
    future.add_done_callback(wake)
    try:
        with changed:
            changed.wait_for(lambda: len(received) >= count or future.done(), timeout=within)
    finally:
        future.cancel()
        future.result(timeout=30)  # re-raises what ended the stream, if anything did
    assert len(received) == count, [m.data for m in received]
    return received


# -- topics --------------------------------------------------------------------------------


def test_created_topic_can_be_fetched(pubsub_backend: Backend) -> None:
    path = pubsub_backend.topic_path(pubsub_backend.unique("orders"))
    created = pubsub_backend.publisher.create_topic(name=path)
    assert created.name == pubsub_backend.publisher.get_topic(topic=path).name == path


def test_deleted_topic_is_not_found(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    pubsub_backend.publisher.delete_topic(topic=topic)
    with pytest.raises(exceptions.NotFound):
        pubsub_backend.publisher.get_topic(topic=topic)


def test_listing_topics_pages_through_every_topic(pubsub_backend: Backend) -> None:
    created = {_topic(pubsub_backend, f"page{i}") for i in range(7)}
    pager = pubsub_backend.publisher.list_topics(
        request={"project": pubsub_backend.project_path, "page_size": 3}
    )
    pages = [[t.name for t in page.topics] for page in pager.pages]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert {name for page in pages for name in page} == created


def test_creating_an_existing_topic_is_already_exists(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.AlreadyExists) as raised:
        pubsub_backend.publisher.create_topic(name=topic)
    short = topic.rsplit("/", 1)[-1]
    _fake_says(
        pubsub_backend, raised.value, f"Resource already exists in the project (resource={short})."
    )


def test_getting_a_missing_topic_is_not_found(pubsub_backend: Backend) -> None:
    name = pubsub_backend.unique("missing")
    with pytest.raises(exceptions.NotFound) as raised:
        pubsub_backend.publisher.get_topic(topic=pubsub_backend.topic_path(name))
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={name}).")


def test_deleting_a_missing_topic_is_not_found(pubsub_backend: Backend) -> None:
    name = pubsub_backend.unique("missing")
    with pytest.raises(exceptions.NotFound) as raised:
        pubsub_backend.publisher.delete_topic(topic=pubsub_backend.topic_path(name))
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={name}).")


def test_topic_name_shorter_than_3_characters_is_invalid_argument(pubsub_backend: Backend) -> None:
    path = pubsub_backend.topic_path("ab")
    with pytest.raises(exceptions.InvalidArgument) as raised:
        pubsub_backend.publisher.create_topic(name=path)
    _fake_says(
        pubsub_backend,
        raised.value,
        f"Invalid resource name given (name={path}). Refer to "
        "https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information.",
    )


# -- subscriptions -------------------------------------------------------------------------


def test_created_subscription_can_be_fetched_with_its_defaults(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    path = pubsub_backend.subscription_path(pubsub_backend.unique("worker"))
    created = pubsub_backend.subscriber.create_subscription(name=path, topic=topic)
    fetched = pubsub_backend.subscriber.get_subscription(subscription=path)
    assert created.name == fetched.name == path
    assert fetched.topic == topic
    assert fetched.ack_deadline_seconds == 10
    assert fetched.message_retention_duration.total_seconds() == 7 * 24 * 3600


def test_listing_subscriptions_pages_through_every_subscription(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    created = {_subscription(pubsub_backend, topic, f"page{i}") for i in range(5)}
    pager = pubsub_backend.subscriber.list_subscriptions(
        request={"project": pubsub_backend.project_path, "page_size": 2}
    )
    pages = [[s.name for s in page.subscriptions] for page in pager.pages]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {name for page in pages for name in page} == created


def test_topic_lists_its_subscriptions(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    other = _topic(pubsub_backend, "other")
    mine = {_subscription(pubsub_backend, topic, name) for name in ("one", "two")}
    _subscription(pubsub_backend, other)
    assert set(pubsub_backend.publisher.list_topic_subscriptions(topic=topic)) == mine


def test_deleted_subscription_is_not_found(pubsub_backend: Backend) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    pubsub_backend.subscriber.delete_subscription(subscription=sub)
    with pytest.raises(exceptions.NotFound):
        pubsub_backend.subscriber.get_subscription(subscription=sub)


def test_creating_an_existing_subscription_is_already_exists(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    with pytest.raises(exceptions.AlreadyExists) as raised:
        pubsub_backend.subscriber.create_subscription(name=sub, topic=topic)
    short = sub.rsplit("/", 1)[-1]
    _fake_says(
        pubsub_backend, raised.value, f"Resource already exists in the project (resource={short})."
    )


def test_getting_a_missing_subscription_is_not_found(pubsub_backend: Backend) -> None:
    name = pubsub_backend.unique("missing")
    with pytest.raises(exceptions.NotFound) as raised:
        pubsub_backend.subscriber.get_subscription(
            subscription=pubsub_backend.subscription_path(name)
        )
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={name}).")


def test_deleting_a_missing_subscription_is_not_found(pubsub_backend: Backend) -> None:
    name = pubsub_backend.unique("missing")
    with pytest.raises(exceptions.NotFound) as raised:
        pubsub_backend.subscriber.delete_subscription(
            subscription=pubsub_backend.subscription_path(name)
        )
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={name}).")


def test_subscription_to_a_missing_topic_is_not_found(pubsub_backend: Backend) -> None:
    topic = pubsub_backend.unique("ghost")
    with pytest.raises(exceptions.NotFound) as raised:
        pubsub_backend.subscriber.create_subscription(
            name=pubsub_backend.subscription_path(pubsub_backend.unique("worker")),
            topic=pubsub_backend.topic_path(topic),
        )
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={topic}).")


def test_subscription_ack_deadline_over_600_seconds_is_invalid_argument(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument):
        _subscription(pubsub_backend, topic, ack_deadline_seconds=601)


def test_deleting_a_topic_sets_its_subscriptions_topic_to_deleted_topic(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    pubsub_backend.publisher.delete_topic(topic=topic)
    assert pubsub_backend.subscriber.get_subscription(subscription=sub).topic == DELETED_TOPIC


def test_updated_subscription_ack_deadline_is_returned_by_get(pubsub_backend: Backend) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    updated = pubsub_backend.subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "ack_deadline_seconds": 30},
            "update_mask": {"paths": ["ack_deadline_seconds"]},
        }
    )
    assert updated.ack_deadline_seconds == 30
    assert pubsub_backend.subscriber.get_subscription(subscription=sub).ack_deadline_seconds == 30


# -- publish and pull ----------------------------------------------------------------------


def test_published_message_is_pulled_and_once_acked_is_gone(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    message_id = pubsub_backend.publisher.publish(topic, b"payload").result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    assert received.message.data == b"payload"
    assert received.message.message_id == message_id
    assert received.message.publish_time.timestamp() > 0
    pubsub_backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    _pull_nothing(pubsub_backend, sub)


def test_attributes_round_trip(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    attributes = {"origin": "shop", "empty": "", "unicode": "caf\u00e9 \u2603"}
    pubsub_backend.publisher.publish(topic, b"", **attributes).result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    assert received.message.data == b""
    assert dict(received.message.attributes) == attributes


def test_nacked_message_is_redelivered(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    pubsub_backend.publisher.publish(topic, b"retry me").result(timeout=30)
    (first,) = _pull(pubsub_backend, sub, 1)
    pubsub_backend.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=0
    )
    (again,) = _pull(pubsub_backend, sub, 1)
    assert again.message.message_id == first.message.message_id
    assert again.ack_id != first.ack_id


@pytest.mark.xfail_on(
    "emulator", reason="emulator: accepts ack deadlines over 600 s", raises=pytest.fail.Exception
)
def test_ack_deadline_over_600_seconds_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    pubsub_backend.publisher.publish(topic, b"x").result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    with pytest.raises(exceptions.InvalidArgument) as raised:
        pubsub_backend.subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=[received.ack_id], ack_deadline_seconds=601
        )
    _fake_says(
        pubsub_backend,
        raised.value,
        "Invalid ack deadline given (ack_deadline=601). "
        "The ack deadline must be between 0 and 600 seconds.",
    )


def test_pull_without_max_messages_is_invalid_argument(pubsub_backend: Backend) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    with pytest.raises(exceptions.InvalidArgument) as raised:
        pubsub_backend.subscriber.pull(subscription=sub, max_messages=0, return_immediately=True)
    _fake_says(
        pubsub_backend,
        raised.value,
        "The value for max_messages is too small. "
        "You passed 0 in the request, but the minimum value is 1.",
    )


def test_pull_from_a_missing_subscription_is_not_found(pubsub_backend: Backend) -> None:
    sub = pubsub_backend.subscription_path(pubsub_backend.unique("missing"))
    with pytest.raises(exceptions.NotFound):
        pubsub_backend.subscriber.pull(subscription=sub, max_messages=1, return_immediately=True)


def test_publish_to_a_missing_topic_fails_on_the_future(pubsub_backend: Backend) -> None:
    topic = pubsub_backend.unique("missing")
    future = pubsub_backend.publisher.publish(pubsub_backend.topic_path(topic), b"x")
    with pytest.raises(exceptions.NotFound) as raised:
        future.result(timeout=30)
    _fake_says(pubsub_backend, raised.value, f"Resource not found (resource={topic}).")


def test_publishing_an_empty_message_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument) as raised:
        pubsub_backend.publisher.publish(topic, b"").result(timeout=30)
    _fake_says(
        pubsub_backend,
        raised.value,
        "One or more messages in the publish request is empty. Each message must contain "
        "either non-empty data, or at least one attribute.",
    )


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: accepts attribute values over 1024 bytes",
    raises=pytest.fail.Exception,
)
def test_attribute_value_over_1024_bytes_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument) as raised:
        pubsub_backend.publisher.publish(topic, b"x", big="v" * 1025).result(timeout=30)
    _fake_says(
        pubsub_backend,
        raised.value,
        'The attribute "big" in the request has a value that is too long. The length is 1025 '
        "characters, but the maximum allowed is 1024. Refer to "
        "https://cloud.google.com/pubsub/quotas for more information.",
    )


def test_each_subscription_gets_its_own_copy(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    subs = [_subscription(pubsub_backend, topic, name) for name in ("first", "second")]
    message_id = pubsub_backend.publisher.publish(topic, b"fan out").result(timeout=30)
    for sub in subs:
        (received,) = _pull(pubsub_backend, sub, 1)
        assert (received.message.data, received.message.message_id) == (b"fan out", message_id)


def test_messages_published_before_a_subscription_existed_are_not_delivered(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    pubsub_backend.publisher.publish(topic, b"early").result(timeout=30)
    sub = _subscription(pubsub_backend, topic, "late")
    pubsub_backend.publisher.publish(topic, b"after").result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    assert received.message.data == b"after"
    pubsub_backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    _pull_nothing(pubsub_backend, sub)


# -- streaming pull, ordering keys, dead letters -------------------------------------------


def test_subscribe_streams_published_messages_to_the_callback(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    sent = [b"one", b"two", b"three"]
    for data in sent:
        pubsub_backend.publisher.publish(topic, data).result(timeout=30)
    received = _receive(pubsub_backend, sub, len(sent))
    assert sorted(m.data for m in received) == sorted(sent)
    _pull_nothing(pubsub_backend, sub)


class _OneWorker(ThreadPoolExecutor):
    """A one-thread pool for the subscriber, which says when the subscriber shuts it down
    (``ThreadScheduler.shutdown()`` has taken the queued callbacks out by then)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.shutting_down = threading.Event()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutting_down.set()
        super().shutdown(wait, cancel_futures=cancel_futures)


def _hold_first_callback(backend: Backend, gate: threading.Event) -> tuple[str, Any, list[bytes]]:
    """Four messages, a stream on one callback thread, the first callback held on ``gate``:
    the other three wait in the scheduler's queue. Returns the subscription, the future and
    the data of the callbacks that ran."""
    topic = _topic(backend)
    sub = _subscription(backend, topic)
    for i in range(4):
        backend.publisher.publish(topic, f"m{i}".encode()).result(timeout=30)
    started: list[bytes] = []
    first = threading.Event()

    def callback(message: Any) -> None:
        started.append(message.data)
        first.set()
        gate.wait(30)

    future = backend.subscriber.subscribe(sub, callback, scheduler=ThreadScheduler(_OneWorker()))
    assert first.wait(30)
    return sub, future, started


def test_cancelling_a_stream_nacks_the_callbacks_still_queued(pubsub_backend: Backend) -> None:
    release = threading.Event()
    sub, future, started = _hold_first_callback(pubsub_backend, release)
    future.cancel()
    try:
        future.result(timeout=30)
    finally:
        release.set()
    queued = sorted({b"m0", b"m1", b"m2", b"m3"} - set(started))
    # Nacked at shutdown: pulled again at once, long before the held one's lease ends.
    received = _pull(pubsub_backend, sub, len(queued))
    assert sorted(m.message.data for m in received) == queued


def test_closing_the_subscriber_ends_its_stream_with_cancelled(pubsub_backend: Backend) -> None:
    release = threading.Event()
    _, future, _ = _hold_first_callback(pubsub_backend, release)
    pubsub_backend.subscriber.close()
    try:
        with pytest.raises(exceptions.Cancelled) as raised:
            future.result(timeout=30)
    finally:
        release.set()
    # grpcio's words (both legs say what the installed grpcio's real channel says).
    if _grpcio_version() >= (1, 81):
        assert raised.value.message == "Stream removed (Channel closed!)"
    else:
        assert raised.value.message == "Channel closed!"


def _grpcio_version() -> tuple[int, int]:
    major, minor = grpc.__version__.split(".")[:2]
    return int(major), int(minor)


def test_messages_with_one_ordering_key_are_received_in_publish_order(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic, enable_message_ordering=True)
    publisher = pubsub_backend.new_publisher(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    sent = [f"m{i}".encode() for i in range(10)]
    futures = [publisher.publish(topic, data, ordering_key="customer-1") for data in sent]
    for future in futures:
        future.result(timeout=30)
    received = _receive(pubsub_backend, sub, len(sent))
    assert [m.data for m in received] == sent
    assert {m.ordering_key for m in received} == {"customer-1"}


def test_nacked_messages_with_an_ordering_key_are_redelivered_in_order(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic, enable_message_ordering=True)
    publisher = pubsub_backend.new_publisher(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    sent = [b"first", b"second", b"third"]
    for data in sent:
        publisher.publish(topic, data, ordering_key="customer-1").result(timeout=30)
    first = _pull(pubsub_backend, sub, len(sent))
    assert [m.message.data for m in first] == sent
    pubsub_backend.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[m.ack_id for m in first], ack_deadline_seconds=0
    )
    again = _pull(pubsub_backend, sub, len(sent))
    assert [m.message.data for m in again] == sent


def test_message_is_dead_lettered_after_max_delivery_attempts(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    dead_letters = _topic(pubsub_backend, "dead-letters")
    dead_letter_sub = _subscription(pubsub_backend, dead_letters, "dead-letter-reader")
    sub = _subscription(
        pubsub_backend,
        topic,
        dead_letter_policy={"dead_letter_topic": dead_letters, "max_delivery_attempts": 5},
    )
    pubsub_backend.publisher.publish(topic, b"poison").result(timeout=30)
    attempts = []
    for _ in range(5):
        (received,) = _pull(pubsub_backend, sub, 1)
        attempts.append(received.delivery_attempt)
        pubsub_backend.subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=[received.ack_id], ack_deadline_seconds=0
        )
    assert attempts == [1, 2, 3, 4, 5]
    # No sixth delivery; the emulator forwards the message when it would have made one.
    _pull_nothing(pubsub_backend, sub)
    (dead,) = _pull(pubsub_backend, dead_letter_sub, 1)
    assert dead.message.data == b"poison"
    assert dead.message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"


# -- what the emulator does not do as GCP does ---------------------------------------------


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: redelivers the key out of order, once ack deadlines expire",
    raises=AssertionError,
)
def test_redelivering_an_ordered_message_redelivers_the_later_ones_of_its_key(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic, enable_message_ordering=True)
    publisher = pubsub_backend.new_publisher(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    sent = [b"first", b"second", b"third"]
    for data in sent:
        publisher.publish(topic, data, ordering_key="customer-1").result(timeout=30)
    first, *_ = _pull(pubsub_backend, sub, len(sent))
    pubsub_backend.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=0
    )
    again = _pull(pubsub_backend, sub, len(sent))
    assert [m.message.data for m in again] == sent


@pytest.mark.xfail_on(
    "emulator", reason="emulator: stores filters but does not apply them", raises=AssertionError
)
def test_subscription_filter_delivers_only_matching_messages(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic, filter='attributes.kind = "order"')
    pubsub_backend.publisher.publish(topic, b"skip", kind="refund").result(timeout=30)
    pubsub_backend.publisher.publish(topic, b"keep", kind="order").result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    assert received.message.data == b"keep"
    pubsub_backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    _pull_nothing(pubsub_backend, sub)


@pytest.mark.xfail_on(
    "emulator", reason="emulator: accepts any filter text", raises=pytest.fail.Exception
)
def test_malformed_subscription_filter_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument):
        _subscription(pubsub_backend, topic, filter="kind is order")


@pytest.mark.xfail_on(
    "emulator", reason="emulator: rejects label updates", raises=exceptions.InvalidArgument
)
def test_updated_topic_labels_are_returned_by_get(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    pubsub_backend.publisher.update_topic(
        request={
            "topic": {"name": topic, "labels": {"team": "shop"}},
            "update_mask": {"paths": ["labels"]},
        }
    )
    assert dict(pubsub_backend.publisher.get_topic(topic=topic).labels) == {"team": "shop"}


# -- update masks --------------------------------------------------------------------------

KINESIS = {
    "aws_kinesis": {
        "stream_arn": "arn:aws:kinesis:us-east-1:111111111111:stream/orders",
        "consumer_arn": "arn:aws:kinesis:us-east-1:111111111111:stream/orders/consumer/c:1",
        "aws_role_arn": "arn:aws:iam::111111111111:role/pubsub-ingestion",
        "gcp_service_account": "ingestion@my-project.iam.gserviceaccount.com",
    }
}
UDF = {
    "javascript_udf": {
        "function_name": "redact",
        "code": "function redact(message, metadata) { return message; }",
    }
}


def _mask_refusal(
    backend: Backend, call: Any, message: str, *, emulator_says: str | None = None
) -> None:
    """``call`` fails with InvalidArgument and GCP's ``message`` (the emulator's may differ)."""
    with pytest.raises(exceptions.InvalidArgument) as raised:
        call()
    if backend.kind != "emulator" or emulator_says is None:
        assert raised.value.message == message
    else:
        assert raised.value.message == emulator_says


def test_updated_topic_ingestion_settings_are_returned_by_get(pubsub_backend: Backend) -> None:
    # What Google's pubsub_update_topic_type sample sends.
    topic = _topic(pubsub_backend)
    updated = pubsub_backend.publisher.update_topic(
        request={
            "topic": {"name": topic, "ingestion_data_source_settings": KINESIS},
            "update_mask": {"paths": ["ingestion_data_source_settings"]},
        }
    )
    fetched = pubsub_backend.publisher.get_topic(topic=topic)
    for got in (updated, fetched):
        kinesis = got.ingestion_data_source_settings.aws_kinesis
        assert kinesis.stream_arn == KINESIS["aws_kinesis"]["stream_arn"]
        assert kinesis.gcp_service_account == KINESIS["aws_kinesis"]["gcp_service_account"]


def test_a_path_below_topic_ingestion_settings_is_not_a_known_topic_field(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    path = "ingestion_data_source_settings.aws_kinesis.gcp_service_account"
    _mask_refusal(
        pubsub_backend,
        lambda: pubsub_backend.publisher.update_topic(
            request={
                "topic": {"name": topic, "ingestion_data_source_settings": KINESIS},
                "update_mask": {"paths": [path]},
            }
        ),
        f"Invalid update_mask provided in the UpdateTopicRequest: {path} is not a known Topic "
        "field. Note that field paths must be of the form 'schema_settings' rather than "
        "'schemaSetings'.",
    )


@pytest.mark.since("google-cloud-pubsub", "2.28.0", "message_transforms")
def test_updated_topic_message_transforms_are_returned_by_get(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    pubsub_backend.publisher.update_topic(
        request={
            "topic": {"name": topic, "message_transforms": [UDF]},
            "update_mask": {"paths": ["message_transforms"]},
        }
    )
    (transform,) = pubsub_backend.publisher.get_topic(topic=topic).message_transforms
    assert transform.javascript_udf.function_name == "redact"


@pytest.mark.since("google-cloud-pubsub", "2.28.0", "message_transforms")
def test_updated_subscription_message_transforms_are_returned_by_get(
    pubsub_backend: Backend,
) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    pubsub_backend.subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "message_transforms": [UDF]},
            "update_mask": {"paths": ["message_transforms"]},
        }
    )
    fetched = pubsub_backend.subscriber.get_subscription(subscription=sub)
    (transform,) = fetched.message_transforms
    assert transform.javascript_udf.code == UDF["javascript_udf"]["code"]


def test_topic_schema_revisions_update_through_sub_field_paths(pubsub_backend: Backend) -> None:
    schemas = pubsub_backend.schema_client()
    schema = schemas.create_schema(
        parent=pubsub_backend.project_path,
        schema={
            "type_": "AVRO",
            "definition": '{"type": "record", "name": "Order", "fields": '
            '[{"name": "id", "type": "string"}]}',
        },
        schema_id=pubsub_backend.unique("order"),
    )
    topic = pubsub_backend.topic_path(pubsub_backend.unique("orders"))
    pubsub_backend.publisher.create_topic(
        request={"name": topic, "schema_settings": {"schema": schema.name, "encoding": "JSON"}}
    )
    # Google's update_topic_schema sample: a JSON-style mask string, which proto-plus turns
    # into the paths schema_settings.first_revision_id and schema_settings.last_revision_id.
    updated = pubsub_backend.publisher.update_topic(
        request={
            "topic": {
                "name": topic,
                "schema_settings": {
                    "first_revision_id": schema.revision_id,
                    "last_revision_id": schema.revision_id,
                },
            },
            "update_mask": "schemaSettings.firstRevisionId,schemaSettings.lastRevisionId",
        }
    )
    fetched = pubsub_backend.publisher.get_topic(topic=topic)
    for settings in (updated.schema_settings, fetched.schema_settings):
        assert settings.schema == schema.name  # the fields the mask did not name are kept
        assert settings.encoding == Encoding.JSON
        assert settings.first_revision_id == settings.last_revision_id == schema.revision_id
    # A path the request leaves unset clears that field alone.
    cleared = pubsub_backend.publisher.update_topic(
        request={"topic": {"name": topic}, "update_mask": "schemaSettings.lastRevisionId"}
    )
    assert cleared.schema_settings.first_revision_id == schema.revision_id
    assert cleared.schema_settings.last_revision_id == ""


def test_an_output_only_topic_field_is_not_a_known_topic_field(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    _mask_refusal(
        pubsub_backend,
        lambda: pubsub_backend.publisher.update_topic(
            request={
                "topic": {"name": topic, "state": "ACTIVE"},
                "update_mask": {"paths": ["state"]},
            }
        ),
        "Invalid update_mask provided in the UpdateTopicRequest: state is not a known Topic "
        "field. Note that field paths must be of the form 'schema_settings' rather than "
        "'schemaSetings'.",
    )


def test_a_camel_case_subscription_path_is_not_a_known_field(pubsub_backend: Backend) -> None:
    # A mask sent over gRPC is read literally: ackDeadlineSeconds is not a field name.
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    _mask_refusal(
        pubsub_backend,
        lambda: pubsub_backend.subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "ack_deadline_seconds": 30},
                "update_mask": field_mask_pb2.FieldMask(paths=["ackDeadlineSeconds"]),
            }
        ),
        "Invalid update_mask provided in the UpdateSubscriptionRequest: ackDeadlineSeconds is "
        "not a known Subscription field. Note that field paths must be of the form "
        "'push_config' rather than 'pushConfig'.",
    )


def test_an_empty_update_mask_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    _mask_refusal(
        pubsub_backend,
        lambda: pubsub_backend.publisher.update_topic(
            request={"topic": {"name": topic, "labels": {"team": "shop"}}}
        ),
        "The update_mask in the UpdateTopicRequest must be set, and must contain a non-empty "
        "paths list.",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("topic", "projects/{project}/topics/other-topic"),
        ("enable_message_ordering", True),
        ("filter", 'attributes.kind = "order"'),
    ],
)
def test_a_field_fixed_at_creation_is_not_mutable(
    pubsub_backend: Backend, field: str, value: Any
) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    if isinstance(value, str):
        value = value.format(project=pubsub_backend.project)
    # GCP quotes the field (the filter's refusal, recorded from the real service); the
    # emulator does not, and refuses filter updates as unsupported.
    emulator = (
        "Updating the filter field is currently unsupported in the Pub/Sub Emulator."
        if field == "filter"
        else f"Invalid update_mask provided in the UpdateSubscriptionRequest: the {field} field "
        "in the Subscription is not mutable."
    )
    _mask_refusal(
        pubsub_backend,
        lambda: pubsub_backend.subscriber.update_subscription(
            request={"subscription": {"name": sub, field: value}, "update_mask": {"paths": [field]}}
        ),
        f"Invalid update_mask provided in the UpdateSubscriptionRequest: the '{field}' field in "
        "the Subscription is not mutable.",
        emulator_says=emulator,
    )


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: takes push_config only whole (GCP's own C++ client sends push_config's "
    "sub-fields)",
    raises=exceptions.InvalidArgument,
)
def test_a_push_endpoint_updates_through_its_sub_field_path(pubsub_backend: Backend) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    updated = pubsub_backend.subscriber.update_subscription(
        request={
            "subscription": {
                "name": sub,
                "push_config": {"push_endpoint": "https://example.com/p"},
            },
            "update_mask": {"paths": ["push_config.push_endpoint"]},
        }
    )
    assert updated.push_config.push_endpoint == "https://example.com/p"


# -- IAM policies ----------------------------------------------------------------------------

NO_IAM = pytest.mark.xfail_on(
    "emulator", reason="emulator: has no IAM methods", raises=exceptions.MethodNotImplemented
)
STORAGE_AGENT = "serviceAccount:service-123456789@gs-project-accounts.iam.gserviceaccount.com"


@NO_IAM
def test_a_new_topic_has_an_empty_iam_policy(pubsub_backend: Backend) -> None:
    policy = pubsub_backend.publisher.get_iam_policy(request={"resource": _topic(pubsub_backend)})
    assert (policy.etag, policy.version, list(policy.bindings)) == (b"\x00\x20\x01", 0, [])


@NO_IAM
def test_a_binding_added_to_a_topics_policy_is_returned_by_get(pubsub_backend: Backend) -> None:
    # What Cloud Storage notification setup does first (gsutil notification create): let
    # the bucket's service agent publish to the topic, by read-modify-write.
    topic = _topic(pubsub_backend)
    policy = pubsub_backend.publisher.get_iam_policy(request={"resource": topic})
    policy.bindings.add(role="roles/pubsub.publisher", members=[STORAGE_AGENT])
    written = pubsub_backend.publisher.set_iam_policy(request={"resource": topic, "policy": policy})
    fetched = pubsub_backend.publisher.get_iam_policy(request={"resource": topic})
    for got in (written, fetched):
        assert [(b.role, list(b.members)) for b in got.bindings] == [
            ("roles/pubsub.publisher", [STORAGE_AGENT])
        ]
        assert got.version == 1
    assert written.etag == fetched.etag != policy.etag


@NO_IAM
def test_setting_a_policy_under_a_stale_etag_is_aborted(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    read = pubsub_backend.publisher.get_iam_policy(request={"resource": topic})
    first = policy_pb2.Policy()
    first.CopyFrom(read)
    first.bindings.add(role="roles/pubsub.viewer", members=["user:ann@example.com"])
    pubsub_backend.publisher.set_iam_policy(request={"resource": topic, "policy": first})
    second = policy_pb2.Policy()
    second.CopyFrom(read)  # read before the first write: its etag is stale now
    second.bindings.add(role="roles/pubsub.editor", members=["user:bob@example.com"])
    with pytest.raises(exceptions.Aborted) as raised:
        pubsub_backend.publisher.set_iam_policy(request={"resource": topic, "policy": second})
    _fake_says(
        pubsub_backend,
        raised.value,
        "There were concurrent policy changes. Please retry the whole read-modify-write with "
        "exponential backoff.",
    )
    kept = pubsub_backend.publisher.get_iam_policy(request={"resource": topic})
    assert [b.role for b in kept.bindings] == ["roles/pubsub.viewer"]


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: has no IAM methods, and takes only topic and subscription names",
    raises=(exceptions.MethodNotImplemented, exceptions.InvalidArgument),
)
@pytest.mark.parametrize("kind", ["subscription", "snapshot", "schema"])
def test_other_pubsub_resources_keep_their_own_iam_policy(
    pubsub_backend: Backend, kind: str
) -> None:
    topic = _topic(pubsub_backend)
    client: Any = pubsub_backend.subscriber
    if kind == "schema":
        client = pubsub_backend.schema_client()
        resource = client.create_schema(
            parent=pubsub_backend.project_path,
            schema={
                "type_": "AVRO",
                "definition": '{"type": "record", "name": "R", "fields": '
                '[{"name": "a", "type": "string"}]}',
            },
            schema_id=pubsub_backend.unique("schema"),
        ).name
    else:
        resource = _subscription(pubsub_backend, topic)
        if kind == "snapshot":
            snapshot = pubsub_backend.snapshot_path(pubsub_backend.unique("snap"))
            client.create_snapshot(request={"name": snapshot, "subscription": resource})
            resource = snapshot
    policy = {"bindings": [{"role": "roles/pubsub.viewer", "members": ["user:ann@example.com"]}]}
    client.set_iam_policy(request={"resource": resource, "policy": policy})
    (binding,) = client.get_iam_policy(request={"resource": resource}).bindings
    assert (binding.role, list(binding.members)) == (
        "roles/pubsub.viewer",
        ["user:ann@example.com"],
    )
    # The topic's policy is its own.
    assert list(pubsub_backend.publisher.get_iam_policy(request={"resource": topic}).bindings) == []


@NO_IAM
def test_testing_iam_permissions_answers_those_asked_for(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    asked = ["pubsub.topics.publish", "pubsub.topics.get"]
    answer = pubsub_backend.publisher.test_iam_permissions(
        request={"resource": topic, "permissions": asked}
    )
    assert list(answer.permissions) == asked


@NO_IAM
def test_testing_iam_permissions_on_a_missing_topic_answers_none(pubsub_backend: Backend) -> None:
    missing = pubsub_backend.topic_path(pubsub_backend.unique("missing"))
    answer = pubsub_backend.publisher.test_iam_permissions(
        request={"resource": missing, "permissions": ["pubsub.topics.get"]}
    )
    assert list(answer.permissions) == []


@NO_IAM
def test_getting_the_iam_policy_of_a_missing_topic_is_not_found(pubsub_backend: Backend) -> None:
    name = pubsub_backend.unique("missing")
    with pytest.raises(exceptions.NotFound):
        pubsub_backend.publisher.get_iam_policy(
            request={"resource": pubsub_backend.topic_path(name)}
        )


@NO_IAM
def test_a_conditional_role_binding_on_a_topic_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    policy = {
        "version": 3,
        "bindings": [
            {
                "role": "roles/pubsub.viewer",
                "members": ["user:ann@example.com"],
                "condition": {
                    "title": "until 2030",
                    "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")',
                },
            }
        ],
    }
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_backend.publisher.set_iam_policy(request={"resource": topic, "policy": policy})


@NO_IAM
def test_a_policy_version_other_than_0_1_or_3_is_invalid_argument(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_backend.publisher.set_iam_policy(
            request={"resource": topic, "policy": {"version": 2}}
        )
    with pytest.raises(exceptions.InvalidArgument):
        pubsub_backend.publisher.get_iam_policy(
            request={"resource": topic, "options": {"requested_policy_version": 2}}
        )


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: has no DetachSubscription",
    raises=exceptions.MethodNotImplemented,
)
def test_detached_subscription_is_marked_detached_and_pull_fails(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    pubsub_backend.publisher.publish(topic, b"dropped").result(timeout=30)
    pubsub_backend.publisher.detach_subscription(request={"subscription": sub})
    assert pubsub_backend.subscriber.get_subscription(subscription=sub).detached
    with pytest.raises(exceptions.FailedPrecondition):
        pubsub_backend.subscriber.pull(subscription=sub, max_messages=1, return_immediately=True)


# -- snapshots and seek --------------------------------------------------------------------


def test_seeking_to_a_snapshot_redelivers_what_was_unacked_when_it_was_taken(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic)
    pubsub_backend.publisher.publish(topic, b"replay me").result(timeout=30)
    snapshot = pubsub_backend.snapshot_path(pubsub_backend.unique("before"))
    created = pubsub_backend.subscriber.create_snapshot(name=snapshot, subscription=sub)
    assert (created.name, created.topic) == (snapshot, topic)
    (received,) = _pull(pubsub_backend, sub, 1)
    pubsub_backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    pubsub_backend.subscriber.seek(request={"subscription": sub, "snapshot": snapshot})
    (replayed,) = _pull(pubsub_backend, sub, 1)
    assert replayed.message.message_id == received.message.message_id


def test_seeking_to_a_past_time_redelivers_retained_acked_messages(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(pubsub_backend, topic, retain_acked_messages=True)
    pubsub_backend.publisher.publish(topic, b"replay me").result(timeout=30)
    (received,) = _pull(pubsub_backend, sub, 1)
    pubsub_backend.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    before = timestamp_pb2.Timestamp()
    before.FromDatetime(received.message.publish_time - timedelta(minutes=1))
    pubsub_backend.subscriber.seek(request={"subscription": sub, "time": before})
    (replayed,) = _pull(pubsub_backend, sub, 1)
    assert replayed.message.message_id == received.message.message_id


def test_created_snapshot_is_listed_and_once_deleted_is_not_found(pubsub_backend: Backend) -> None:
    sub = _subscription(pubsub_backend, _topic(pubsub_backend))
    snapshot = pubsub_backend.snapshot_path(pubsub_backend.unique("snap"))
    pubsub_backend.subscriber.create_snapshot(name=snapshot, subscription=sub)
    listed = pubsub_backend.subscriber.list_snapshots(project=pubsub_backend.project_path)
    assert [s.name for s in listed] == [snapshot]
    pubsub_backend.subscriber.delete_snapshot(snapshot=snapshot)
    with pytest.raises(exceptions.NotFound):
        pubsub_backend.subscriber.get_snapshot(snapshot=snapshot)


# -- export subscriptions --------------------------------------------------------------------


def test_a_cloud_storage_subscription_is_stored_with_its_settings(pubsub_backend: Backend) -> None:
    topic = _topic(pubsub_backend)
    sub = _subscription(
        pubsub_backend,
        topic,
        cloud_storage_config={
            "bucket": "parity-exports",
            "filename_prefix": "pre-",
            "filename_suffix": "-post",
            "max_duration": timedelta(minutes=2),
            "max_bytes": 1000,
            "avro_config": {"write_metadata": True},
        },
    )
    got = pubsub_backend.subscriber.get_subscription(subscription=sub).cloud_storage_config
    assert (got.bucket, got.filename_prefix, got.filename_suffix) == (
        "parity-exports",
        "pre-",
        "-post",
    )
    assert (got.max_duration, got.max_bytes) == (timedelta(minutes=2), 1000)
    assert got.avro_config.write_metadata


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: stores cloud_storage_config without checking its limits",
    raises=pytest.fail.Exception,
)
def test_a_cloud_storage_max_duration_over_ten_minutes_is_invalid_argument(
    pubsub_backend: Backend,
) -> None:
    topic = _topic(pubsub_backend)
    with pytest.raises(exceptions.InvalidArgument):
        _subscription(
            pubsub_backend,
            topic,
            cloud_storage_config={"bucket": "parity-exports", "max_duration": timedelta(hours=1)},
        )


@pytest.mark.xfail_on(
    "emulator",
    reason="emulator: reports no state for a Cloud Storage subscription",
    raises=AssertionError,
)
def test_a_cloud_storage_subscription_without_its_bucket_is_not_found(
    pubsub_backend: Backend,
) -> None:
    # No Storage fake is active in the parity tests: no bucket exists.
    sub = _subscription(
        pubsub_backend, _topic(pubsub_backend), cloud_storage_config={"bucket": "nowhere"}
    )
    got = pubsub_backend.subscriber.get_subscription(subscription=sub)
    assert got.cloud_storage_config.state == got.cloud_storage_config.State.NOT_FOUND
