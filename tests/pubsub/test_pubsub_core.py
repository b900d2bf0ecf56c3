"""Pub/Sub through the real clients: topics, subscriptions, publish, pull, ack."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings


def test_created_topic_can_be_fetched(fake_pubsub: Any, publisher: Any) -> None:
    path = fake_pubsub.topic_path("orders")
    created = publisher.create_topic(request={"name": path, "labels": {"team": "shop"}})
    fetched = publisher.get_topic(topic=path)
    assert created.name == fetched.name == path
    assert dict(fetched.labels) == {"team": "shop"}


def test_creating_an_existing_topic_is_already_exists(fake_pubsub: Any, publisher: Any) -> None:
    path = fake_pubsub.create_topic("orders")
    with pytest.raises(exceptions.AlreadyExists, match=r"resource=orders\)"):
        publisher.create_topic(name=path)


def test_getting_a_missing_topic_is_not_found(fake_pubsub: Any, publisher: Any) -> None:
    with pytest.raises(exceptions.NotFound, match=r"Resource not found \(resource=nope\)\."):
        publisher.get_topic(topic=fake_pubsub.topic_path("nope"))


def test_subscription_on_a_missing_topic_is_not_found(fake_pubsub: Any, subscriber: Any) -> None:
    with pytest.raises(exceptions.NotFound, match=r"resource=ghost\)"):
        subscriber.create_subscription(
            name=fake_pubsub.subscription_path("sub"), topic=fake_pubsub.topic_path("ghost")
        )


def test_subscription_defaults_are_filled_in(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = subscriber.create_subscription(
        name=fake_pubsub.subscription_path("sub"), topic=fake_pubsub.topic_path("orders")
    )
    assert sub.ack_deadline_seconds == 10
    assert sub.message_retention_duration.total_seconds() == 7 * 24 * 3600
    assert subscriber.get_subscription(subscription=sub.name).topic == sub.topic


def test_published_message_is_pulled_with_data_attributes_and_id(
    fake_pubsub: Any, publisher: Any, subscriber: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    message_id = publisher.publish(topic, b"payload", origin="shop").result(timeout=30)
    (received,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    assert received.message.data == b"payload"
    assert dict(received.message.attributes) == {"origin": "shop"}
    assert received.message.message_id == message_id


def test_each_subscription_gets_its_own_copy(
    fake_pubsub: Any, publisher: Any, subscriber: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    subs = [fake_pubsub.create_subscription(name, "orders") for name in ("sub-a", "sub-b")]
    publisher.publish(topic, b"x").result(timeout=30)
    for sub in subs:
        (received,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
        assert received.message.data == b"x"


def test_messages_published_before_a_subscription_existed_are_not_delivered(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("orders")
    fake_pubsub.publish("orders", b"early")
    sub = fake_pubsub.create_subscription("late", "orders")
    response = subscriber.pull(subscription=sub, max_messages=10, return_immediately=True)
    assert list(response.received_messages) == []


def test_acked_message_is_not_redelivered(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"once")
    (received,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    fake_pubsub.clock.advance(600)
    response = subscriber.pull(subscription=sub, max_messages=10, return_immediately=True)
    assert list(response.received_messages) == []
    assert [m.data for m in fake_pubsub.subscription("worker").acked] == [b"once"]


def test_nacked_message_is_redelivered(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"retry me")
    (first,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    subscriber.modify_ack_deadline(subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=0)
    (again,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    assert again.message.message_id == first.message.message_id


def test_extended_ack_deadline_delays_redelivery(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"slow work")
    (first,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=60
    )
    fake_pubsub.clock.advance(30)
    assert fake_pubsub.backlog("worker") == 0
    fake_pubsub.clock.advance(30)
    assert fake_pubsub.backlog("worker") == 1


def test_malformed_ack_id_is_invalid_argument(fake_pubsub: Any, subscriber: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    with pytest.raises(
        exceptions.InvalidArgument,
        match=r"You have passed an invalid ack ID to the service \(ack_id=not-an-ack-id\)\.",
    ):
        subscriber.acknowledge(subscription=sub, ack_ids=["not-an-ack-id"])


def test_an_ack_with_one_malformed_id_acknowledges_none(fake_pubsub: Any, subscriber: Any) -> None:
    # Well-formed ids that are leased now skip the format check (a speed-up): a malformed id
    # beside them must still fail the whole request before anything is acknowledged.
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.publish("orders", b"kept")
    (received,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    with pytest.raises(exceptions.InvalidArgument, match=r"\(ack_id=not-an-ack-id\)"):
        subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id, "not-an-ack-id"])
    state = fake_pubsub.state("worker")
    assert (state.acked, [o.ack_id for o in state.outstanding]) == ((), [received.ack_id])


@pytest.mark.parametrize(
    "moment",
    [
        "1970-01-01 00:00:00",  # the epoch: seconds and nanos both 0, the field still set
        "2026-03-04 05:06:07.999999",  # the last microsecond of a second
        "2026-03-04 05:06:07.000001",
        "2026-03-04 05:06:07.123456",
    ],
)
def test_a_pulled_message_has_the_stored_publish_time_to_the_microsecond(
    fake_pubsub: Any, subscriber: Any, moment: str
) -> None:
    # Deliveries compute the timestamp from the clock's float seconds, not the datetime.
    with freeze_time(moment):
        fake_pubsub.create_topic("orders")
        sub = fake_pubsub.create_subscription("worker", "orders")
        fake_pubsub.publish("orders", b"x")
        (stored,) = fake_pubsub.published("orders")
        (received,) = subscriber.pull(subscription=sub, max_messages=10).received_messages
    assert received.message.publish_time == stored.publish_time
    assert pubsub_v1.types.PubsubMessage.pb(received.message).HasField("publish_time")


def test_one_pull_of_messages_published_at_different_times_has_each_one_s_time(
    fake_pubsub: Any, subscriber: Any
) -> None:
    # A pull works out the Timestamp once for a run of messages with the same publish time.
    with freeze_time("2026-03-04 05:06:07.5") as frozen:
        fake_pubsub.create_topic("orders")
        sub = fake_pubsub.create_subscription("worker", "orders")
        for moment in ("2026-03-04 05:06:07.5", "1970-01-01", "2026-03-04 05:06:08.25"):
            frozen.move_to(moment)
            fake_pubsub.publish("orders", b"a")
            fake_pubsub.publish("orders", b"b")
        stored = fake_pubsub.published("orders")
        received = subscriber.pull(subscription=sub, max_messages=10).received_messages
    assert [r.message.publish_time for r in received] == [m.publish_time for m in stored]
    assert len({m.publish_time for m in stored}) == 3
    assert all(
        pubsub_v1.types.PubsubMessage.pb(r.message).HasField("publish_time") for r in received
    )


def test_ack_deadline_over_600_seconds_is_invalid_argument(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    with pytest.raises(
        exceptions.InvalidArgument, match=r"The ack deadline must be between 0 and 600 seconds"
    ):
        subscriber.modify_ack_deadline(subscription=sub, ack_ids=[], ack_deadline_seconds=601)


def test_publish_to_a_missing_topic_fails_on_the_future(fake_pubsub: Any, publisher: Any) -> None:
    future = publisher.publish(fake_pubsub.topic_path("missing"), b"x")
    with pytest.raises(exceptions.NotFound, match=r"resource=missing\)"):
        future.result(timeout=30)


def test_deleting_a_topic_detaches_its_subscriptions(
    fake_pubsub: Any, publisher: Any, subscriber: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    publisher.delete_topic(topic=topic)
    assert subscriber.get_subscription(subscription=sub).topic == "_deleted-topic_"


def test_list_topics_pages_through_every_topic(fake_pubsub: Any, publisher: Any) -> None:
    names = [fake_pubsub.create_topic(f"topic-{i:02d}") for i in range(7)]
    pager = publisher.list_topics(
        request={"project": f"projects/{fake_pubsub.project}", "page_size": 3}
    )
    pages = [[t.name for t in page.topics] for page in pager.pages]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [name for page in pages for name in page] == names


def _unbatched_publisher() -> Any:
    # An infinite max_latency means the library never commits on its own timer.
    return pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_latency=float("inf")))


def test_without_publish_immediately_the_library_batches(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    publisher = _unbatched_publisher()
    future = publisher.publish(topic, b"batched")
    assert not future.done()
    publisher.stop()  # stop() commits what is pending
    assert future.result(timeout=30)


@pytest.mark.gcpfakes(publish_immediately=True)
def test_publish_immediately_commits_without_the_batch_timer(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    publisher = _unbatched_publisher()
    first = publisher.publish(topic, b"one")
    second = publisher.publish(topic, b"two")
    assert [first.result(timeout=30), second.result(timeout=30)] == ["1", "2"]
    assert [m.data for m in fake_pubsub.published("orders")] == [b"one", b"two"]
    publisher.stop()


def test_state_snapshot_shows_backlog_outstanding_attempts_and_acked(
    fake_pubsub: Any, subscriber: Any
) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    first = fake_pubsub.publish("orders", b"one")
    second = fake_pubsub.publish("orders", b"two")
    (received,) = subscriber.pull(subscription=sub, max_messages=1).received_messages
    state = fake_pubsub.state("worker")
    assert [m.message_id for m in state.backlog] == [second]
    (outstanding,) = state.outstanding
    assert outstanding.message.message_id == first
    assert outstanding.ack_id == received.ack_id
    assert outstanding.delivery_attempt == 1
    assert state.delivery_attempts == {first: 1}
    assert state.unacked == 2
    subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    assert [m.data for m in fake_pubsub.state("worker").acked] == [b"one"]


def test_published_records_data_attributes_key_time_and_publisher_thread(
    fake_pubsub: Any,
) -> None:
    import threading

    topic = fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()

    def publish_from_worker() -> None:
        publisher.publish(topic, b"from worker", kind="w").result(30)

    worker = threading.Thread(target=publish_from_worker, name="request-7")
    worker.start()
    worker.join(30)
    (message,) = fake_pubsub.published("orders")
    assert (message.data, message.attributes, message.ordering_key) == (
        b"from worker",
        {"kind": "w"},
        "",
    )
    assert message.publisher_thread == "request-7"
    assert message.publish_time <= fake_pubsub.clock.now()
    publisher.stop()


def test_one_batch_from_several_threads_names_each_message_s_publisher(fake_pubsub: Any) -> None:
    """The backend claims a whole Publish request's threads at once: identical messages
    keep their callers' order, and a message the library never saw (raw GAPIC, in the
    same batch's topic) is the calling thread's."""
    import threading

    topic = fake_pubsub.create_topic("orders")
    # No timer: the batch goes out at stop(), in one request.
    publisher = pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_latency=float("inf")))
    futures = []

    def publish_from(name: str, *payloads: tuple[bytes, dict[str, str]]) -> None:
        def publish() -> None:
            futures.extend(publisher.publish(topic, data, **attrs) for data, attrs in payloads)

        worker = threading.Thread(target=publish, name=name)
        worker.start()
        worker.join(30)

    publish_from("first", (b"same", {}), (b"tagged", {"k": "1"}))
    publish_from("second", (b"same", {}), (b"tagged", {"k": "2"}), (b"own", {}))
    publisher.stop()  # commits the one batch
    assert len({future.result(30) for future in futures}) == 5
    publisher.api.publish(topic=topic, messages=[{"data": b"same"}])
    published = [
        (m.data, dict(m.attributes), m.publisher_thread) for m in fake_pubsub.published("orders")
    ]
    assert published == [
        (b"same", {}, "first"),
        (b"tagged", {"k": "1"}, "first"),
        (b"same", {}, "second"),
        (b"tagged", {"k": "2"}, "second"),
        (b"own", {}, "second"),
        (b"same", {}, threading.current_thread().name),
    ]
