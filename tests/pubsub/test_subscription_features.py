"""Subscription features through the real clients: filters, ordering, retry, dead letters,
updates, detach, snapshots and seek, and concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import PublisherOptions
from google.protobuf import field_mask_pb2

WAIT = 30


def _pull(subscriber: Any, subscription: str, n: int = 100) -> list[Any]:
    response = subscriber.pull(subscription=subscription, max_messages=n, return_immediately=True)
    return list(response.received_messages)


def _ack(subscriber: Any, subscription: str, received: list[Any]) -> None:
    if received:
        subscriber.acknowledge(subscription=subscription, ack_ids=[r.ack_id for r in received])


def _nack(subscriber: Any, subscription: str, received: list[Any]) -> None:
    subscriber.modify_ack_deadline(
        subscription=subscription, ack_ids=[r.ack_id for r in received], ack_deadline_seconds=0
    )


# -- filters ---------------------------------------------------------------------------------


def test_filtered_subscription_receives_only_matching_messages(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("events")
    sub = fake_pubsub.create_subscription(
        "images", "events", filter='attributes.kind = "image" AND NOT attributes:draft'
    )
    fake_pubsub.publish("events", b"1", kind="image")
    fake_pubsub.publish("events", b"2", kind="video")
    fake_pubsub.publish("events", b"3", kind="image", draft="yes")
    fake_pubsub.publish("events", b"4")
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"1"]


def test_has_prefix_filter_through_the_client(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("events")
    sub = subscriber.create_subscription(
        request={
            "name": fake_pubsub.subscription_path("eu-only"),
            "topic": fake_pubsub.topic_path("events"),
            "filter": 'hasPrefix(attributes.region, "eu-")',
        }
    ).name
    for region in ("eu-west1", "us-east1", "eu-north1"):
        fake_pubsub.publish("events", region.encode(), region=region)
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"eu-west1", b"eu-north1"]


def test_invalid_filter_is_invalid_argument_at_create(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("events")
    with pytest.raises(exceptions.InvalidArgument, match="Invalid filter expression"):
        subscriber.create_subscription(
            request={
                "name": fake_pubsub.subscription_path("bad"),
                "topic": fake_pubsub.topic_path("events"),
                "filter": 'attributes.a = "1" AND attributes.b = "2" OR attributes.c = "3"',
            }
        )


# -- ordering ---------------------------------------------------------------------------------


def test_messages_with_one_ordering_key_are_pulled_in_publish_order(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("ledger")
    sub = fake_pubsub.create_subscription("books", "ledger", enable_message_ordering=True)
    publisher = pubsub_v1.PublisherClient(
        publisher_options=PublisherOptions(enable_message_ordering=True)
    )
    topic = fake_pubsub.topic_path("ledger")
    futures = [publisher.publish(topic, f"{i}".encode(), ordering_key="acct-1") for i in range(5)]
    for future in futures:
        future.result(WAIT)
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"0", b"1", b"2", b"3", b"4"]
    publisher.stop()


def test_a_key_with_an_outstanding_message_delivers_nothing_more_until_it_is_acked(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("ledger")
    sub = fake_pubsub.create_subscription("books", "ledger", enable_message_ordering=True)
    fake_pubsub.publish("ledger", b"first", ordering_key="k")
    first = _pull(subscriber, sub)
    fake_pubsub.publish("ledger", b"second", ordering_key="k")
    fake_pubsub.publish("ledger", b"other key", ordering_key="j")
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"other key"]
    _ack(subscriber, sub, first)
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"second"]


def test_nacking_an_ordered_message_redelivers_the_later_ones_of_its_key_in_order(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("ledger")
    sub = fake_pubsub.create_subscription("books", "ledger", enable_message_ordering=True)
    for i in range(3):
        fake_pubsub.publish("ledger", f"{i}".encode(), ordering_key="k")
    received = _pull(subscriber, sub)
    _nack(subscriber, sub, received[:1])
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"0", b"1", b"2"]


def test_publisher_pauses_a_failed_ordering_key_until_resume_publish(fake_pubsub: Any) -> None:
    publisher = pubsub_v1.PublisherClient(
        publisher_options=PublisherOptions(enable_message_ordering=True)
    )
    topic = fake_pubsub.topic_path("late-topic")
    with pytest.raises(exceptions.NotFound):
        publisher.publish(topic, b"lost", ordering_key="k").result(WAIT)
    fake_pubsub.create_topic("late-topic")
    with pytest.raises(pubsub_v1.publisher.exceptions.PublishToPausedOrderingKeyException):
        publisher.publish(topic, b"still paused", ordering_key="k").result(WAIT)
    publisher.resume_publish(topic, "k")
    assert publisher.publish(topic, b"resumed", ordering_key="k").result(WAIT)
    assert [m.data for m in fake_pubsub.published("late-topic")] == [b"resumed"]
    publisher.stop()


# -- retry policy and dead letters ---------------------------------------------------------------


def test_retry_policy_delays_redelivery_on_the_fakes_clock(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("jobs")
    sub = fake_pubsub.create_subscription(
        "runner",
        "jobs",
        retry_policy={"minimum_backoff": timedelta(seconds=20), "maximum_backoff": timedelta(60)},
    )
    fake_pubsub.publish("jobs", b"flaky")
    _nack(subscriber, sub, _pull(subscriber, sub))
    assert _pull(subscriber, sub) == []
    fake_pubsub.clock.advance(20)
    second = _pull(subscriber, sub)
    assert [r.message.data for r in second] == [b"flaky"]
    _nack(subscriber, sub, second)
    fake_pubsub.clock.advance(39)  # the second backoff doubles to 40 s
    assert _pull(subscriber, sub) == []
    fake_pubsub.clock.advance(1)
    assert len(_pull(subscriber, sub)) == 1


def _dead_lettering_runner(fake_pubsub: Any) -> tuple[str, str]:
    """Subscription "runner" on "jobs", dead-lettering to "jobs-dead" after 5 attempts;
    return its path and that of "dead-reader", the dead-letter topic's subscription."""
    fake_pubsub.create_topic("jobs")
    fake_pubsub.create_topic("jobs-dead")
    dead: str = fake_pubsub.create_subscription("dead-reader", "jobs-dead")
    runner: str = fake_pubsub.create_subscription(
        "runner",
        "jobs",
        dead_letter_policy={
            "dead_letter_topic": fake_pubsub.topic_path("jobs-dead"),
            "max_delivery_attempts": 5,
        },
    )
    return runner, dead


def test_message_is_dead_lettered_after_max_delivery_attempts(
    fake_pubsub: Any, subscriber: Any
) -> None:
    sub, dead = _dead_lettering_runner(fake_pubsub)
    fake_pubsub.publish("jobs", b"poison", source="test")
    attempts = []
    for _ in range(5):
        received = _pull(subscriber, sub)
        attempts.append(received[0].delivery_attempt)
        _nack(subscriber, sub, received)
    assert attempts == [1, 2, 3, 4, 5]
    assert _pull(subscriber, sub) == []
    (forwarded,) = _pull(subscriber, dead)
    assert forwarded.message.data == b"poison"
    attributes = dict(forwarded.message.attributes)
    assert attributes["source"] == "test"
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] == "runner"


def test_a_nacked_message_keeps_its_attempts_in_the_backlog_and_others_start_at_one(
    fake_pubsub: Any, subscriber: Any
) -> None:
    # The backlog holds the messages themselves; a returned message's count is kept
    # beside it (Subscription.returned) until it is delivered again.
    sub, _ = _dead_lettering_runner(fake_pubsub)
    fake_pubsub.publish("jobs", b"first")
    for _ in range(2):
        _nack(subscriber, sub, _pull(subscriber, sub))
    fake_pubsub.publish("jobs", b"second")
    state = fake_pubsub.state("runner")
    assert [m.data for m in state.backlog] == [b"first", b"second"]
    assert state.delivery_attempts == {state.backlog[0].message_id: 2}
    received = _pull(subscriber, sub)
    assert [(r.message.data, r.delivery_attempt) for r in received] == [
        (b"first", 3),
        (b"second", 1),
    ]
    assert [o.delivery_attempt for o in fake_pubsub.state("runner").outstanding] == [3, 1]
    _ack(subscriber, sub, received)
    assert fake_pubsub.state("runner").delivery_attempts == {}


def test_a_nack_naming_an_ack_id_twice_returns_the_message_once(
    fake_pubsub: Any, subscriber: Any
) -> None:
    sub, _ = _dead_lettering_runner(fake_pubsub)
    fake_pubsub.publish("jobs", b"job")
    (received,) = _pull(subscriber, sub)
    subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[received.ack_id, received.ack_id], ack_deadline_seconds=0
    )
    assert [(r.message.data, r.delivery_attempt) for r in _pull(subscriber, sub)] == [(b"job", 2)]


def test_max_delivery_attempts_below_five_is_rejected(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("jobs")
    with pytest.raises(exceptions.GoogleAPICallError, match="max_delivery_attempts is too small"):
        subscriber.create_subscription(
            request={
                "name": fake_pubsub.subscription_path("runner"),
                "topic": fake_pubsub.topic_path("jobs"),
                "dead_letter_policy": {
                    "dead_letter_topic": fake_pubsub.topic_path("jobs"),
                    "max_delivery_attempts": 4,
                },
            }
        )


# -- updates and detach ---------------------------------------------------------------------------


def test_update_topic_changes_only_the_masked_fields(fake_pubsub: Any) -> None:
    publisher = pubsub_v1.PublisherClient()
    fake_pubsub.create_topic("orders", labels={"team": "a"})
    updated = publisher.update_topic(
        request={
            "topic": {"name": fake_pubsub.topic_path("orders"), "labels": {"team": "b"}},
            "update_mask": field_mask_pb2.FieldMask(paths=["labels"]),
        }
    )
    assert dict(updated.labels) == {"team": "b"}
    assert dict(publisher.get_topic(topic=updated.name).labels) == {"team": "b"}


def test_update_subscription_ack_deadline(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "ack_deadline_seconds": 120},
            "update_mask": field_mask_pb2.FieldMask(paths=["ack_deadline_seconds"]),
        }
    )
    assert subscriber.get_subscription(subscription=sub).ack_deadline_seconds == 120


def test_changing_a_subscriptions_topic_is_invalid_argument(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    with pytest.raises(
        exceptions.InvalidArgument, match="the 'topic' field in the Subscription is not mutable"
    ):
        subscriber.update_subscription(
            request={
                "subscription": {"name": sub, "topic": fake_pubsub.topic_path("orders")},
                "update_mask": field_mask_pb2.FieldMask(paths=["topic"]),
            }
        )


def test_detached_subscription_gets_no_messages_and_refuses_pulls(
    fake_pubsub: Any, subscriber: Any
) -> None:
    publisher = pubsub_v1.PublisherClient()
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    publisher.detach_subscription(request={"subscription": sub})
    fake_pubsub.publish("orders", b"after detach")
    assert subscriber.get_subscription(subscription=sub).detached is True
    with pytest.raises(exceptions.FailedPrecondition, match="detached"):
        _pull(subscriber, sub)
    assert list(publisher.list_topic_subscriptions(topic=fake_pubsub.topic_path("orders"))) == []


# -- snapshots and seek -----------------------------------------------------------------------


def _snapshot_path(fake_pubsub: Any, name: str) -> str:
    return f"projects/{fake_pubsub.project}/snapshots/{name}"


def test_snapshot_lifecycle(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    name = _snapshot_path(fake_pubsub, "before")
    created = subscriber.create_snapshot(request={"name": name, "subscription": sub})
    assert created.topic == fake_pubsub.topic_path("orders")
    assert subscriber.get_snapshot(snapshot=name).name == name
    project = f"projects/{fake_pubsub.project}"
    assert [s.name for s in subscriber.list_snapshots(project=project)] == [name]
    subscriber.update_snapshot(
        request={
            "snapshot": {"name": name, "labels": {"k": "v"}},
            "update_mask": field_mask_pb2.FieldMask(paths=["labels"]),
        }
    )
    assert dict(subscriber.get_snapshot(snapshot=name).labels) == {"k": "v"}
    subscriber.delete_snapshot(snapshot=name)
    with pytest.raises(exceptions.NotFound):
        subscriber.get_snapshot(snapshot=name)


def test_seek_to_snapshot_replays_messages_acked_since(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"before")
    name = _snapshot_path(fake_pubsub, "checkpoint")
    subscriber.create_snapshot(request={"name": name, "subscription": sub})
    fake_pubsub.publish("orders", b"after")
    _ack(subscriber, sub, _pull(subscriber, sub))
    assert _pull(subscriber, sub) == []
    subscriber.seek(request={"subscription": sub, "snapshot": name})
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"before", b"after"]


def test_seek_to_time_replays_retained_acked_messages(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders", retain_acked_messages=True)
    fake_pubsub.publish("orders", b"old")
    fake_pubsub.clock.advance(60)
    middle = fake_pubsub.clock.now()
    fake_pubsub.publish("orders", b"new")
    _ack(subscriber, sub, _pull(subscriber, sub))
    subscriber.seek(request={"subscription": sub, "time": middle})
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"new"]


def test_seek_to_time_cannot_replay_acked_messages_that_were_not_retained(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    start = fake_pubsub.clock.now()
    fake_pubsub.publish("orders", b"gone once acked")
    fake_pubsub.publish("orders", b"never acked")
    received = _pull(subscriber, sub)
    _ack(subscriber, sub, received[:1])
    subscriber.seek(request={"subscription": sub, "time": start})
    assert [r.message.data for r in _pull(subscriber, sub)] == [b"never acked"]


def test_seek_to_a_snapshot_of_another_topic_is_failed_precondition(
    fake_pubsub: Any, subscriber: Any
) -> None:
    for topic in ("orders", "refunds"):
        fake_pubsub.create_topic(topic)
    sub = fake_pubsub.create_subscription("worker", "orders")
    other = fake_pubsub.create_subscription("refund-worker", "refunds")
    name = _snapshot_path(fake_pubsub, "refund-snap")
    subscriber.create_snapshot(request={"name": name, "subscription": other})
    with pytest.raises(exceptions.FailedPrecondition):
        subscriber.seek(request={"subscription": sub, "snapshot": name})


# -- concurrency --------------------------------------------------------------------------------


def test_sixteen_threads_publishing_and_pulling_lose_and_duplicate_nothing(
    fake_pubsub: Any,
) -> None:
    fake_pubsub.create_topic("load")
    sub = fake_pubsub.create_subscription("load-worker", "load", ack_deadline_seconds=600)
    topic = fake_pubsub.topic_path("load")
    publishers, pullers, per_publisher = 8, 8, 50
    start = threading.Barrier(publishers + pullers)
    published_ids: list[str] = []
    received_ids: list[str] = []
    lock = threading.Lock()
    done_publishing = threading.Event()
    errors: list[BaseException] = []

    def publish() -> None:
        client = pubsub_v1.PublisherClient()
        start.wait(WAIT)
        futures = [client.publish(topic, b"x") for _ in range(per_publisher)]
        ids = [f.result(WAIT) for f in futures]
        with lock:
            published_ids.extend(ids)
        client.stop()

    def pull() -> None:
        client = pubsub_v1.SubscriberClient()
        start.wait(WAIT)
        while True:
            response = client.pull(subscription=sub, max_messages=20, timeout=5)
            received = list(response.received_messages)
            if received:
                client.acknowledge(subscription=sub, ack_ids=[r.ack_id for r in received])
                with lock:
                    received_ids.extend(r.message.message_id for r in received)
            elif done_publishing.is_set():
                break
        client.close()

    def guarded(target: Any) -> Any:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(publish)) for _ in range(publishers)]
    threads += [threading.Thread(target=guarded(pull)) for _ in range(pullers)]
    for thread in threads:
        thread.start()
    for thread in threads[:publishers]:
        thread.join(WAIT)
    done_publishing.set()
    for thread in threads[publishers:]:
        thread.join(WAIT)
    assert errors == []
    assert len(published_ids) == publishers * per_publisher
    assert Counter(received_ids) == Counter(published_ids)  # none lost, none twice


# -- exactly-once delivery ---------------------------------------------------------------------


def test_exactly_once_ack_with_response_succeeds_for_a_live_lease(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments", enable_exactly_once_delivery=True)
    results: list[Any] = []
    done = threading.Event()

    def callback(message: Any) -> None:
        results.append(message.ack_with_response().result(WAIT))
        done.set()

    with pubsub_v1.SubscriberClient() as subscriber:
        future = subscriber.subscribe(sub, callback)
        fake_pubsub.publish("payments", b"pay once")
        assert done.wait(WAIT)
        future.cancel()
        future.result(WAIT)
    assert results == [pubsub_v1.subscriber.exceptions.AcknowledgeStatus.SUCCESS]
    assert [m.data for m in fake_pubsub.subscription("settle").acked] == [b"pay once"]


def test_exactly_once_ack_of_an_expired_ack_id_fails_with_invalid_ack_id(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments", enable_exactly_once_delivery=True)
    fake_pubsub.publish("payments", b"slow")
    (first,) = _pull(subscriber, sub)
    fake_pubsub.clock.advance(11)  # the 10 s ack deadline passes
    (again,) = _pull(subscriber, sub)
    with pytest.raises(exceptions.InvalidArgument) as caught:
        subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    from google.cloud.pubsub_v1.subscriber._protocol.streaming_pull_manager import (
        _get_ack_errors,
    )

    assert _get_ack_errors(caught.value) == {first.ack_id: "PERMANENT_FAILURE_INVALID_ACK_ID"}
    subscriber.acknowledge(subscription=sub, ack_ids=[again.ack_id])  # the new one is fine


def test_without_exactly_once_an_expired_ack_id_is_silently_ignored(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments")
    fake_pubsub.publish("payments", b"slow")
    (first,) = _pull(subscriber, sub)
    fake_pubsub.clock.advance(11)
    subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    assert fake_pubsub.backlog("settle") == 1


# -- limits through the real publisher ----------------------------------------------------------


def test_a_nine_megabyte_message_is_published_and_pulled(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("blobs")
    sub = fake_pubsub.create_subscription("blob-reader", "blobs")
    publisher = pubsub_v1.PublisherClient()
    payload = b"\x07" * (9 * 1000 * 1000)
    publisher.publish(fake_pubsub.topic_path("blobs"), payload).result(WAIT)
    (received,) = _pull(subscriber, sub, 1)
    assert received.message.data == payload
    publisher.stop()


@pytest.mark.parametrize(
    ("sizes", "error"),
    [
        ((5_100_000, 5_100_000), "The value for request_size is too large"),
        ((6_000_000, 6_000_000), "Request payload size exceeds the limit: 10485760 bytes."),
    ],
    ids=["over-10MB", "over-10MiB"],
)
def test_an_oversized_request_is_invalid_argument_for_raw_gapic_callers(
    fake_pubsub: Any, sizes: tuple[int, int], error: str
) -> None:
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisher

    topic = fake_pubsub.create_topic("blobs")
    messages = [{"data": b"a" * size} for size in sizes]
    with pytest.raises(exceptions.InvalidArgument) as caught:
        GapicPublisher().publish(topic=topic, messages=messages)
    assert caught.value.message.startswith(error)


def test_an_attribute_value_over_1024_bytes_is_invalid_argument(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("blobs")
    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(exceptions.InvalidArgument, match="has a value that is too long"):
        publisher.publish(topic, b"x", big="v" * 1025).result(WAIT)
    publisher.stop()
