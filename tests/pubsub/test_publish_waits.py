"""Waiting on a publish future sends its pending batch at once, as the batch timer would."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import as_completed, wait
from typing import Any

import pytest
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings, PublisherOptions

WAIT = 10


@pytest.fixture
def timer_held(fake_pubsub: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The publisher's batch timer does not fire before the test ends.

    The timer thread sleeps ``max_latency`` through the client module's ``time`` and then
    commits; here its sleep lasts until teardown. So a batch that goes out during the test
    was sent by a wait (or because it was full), never by the timer.
    """
    from google.cloud.pubsub_v1.publisher import client as client_module

    release = threading.Event()

    class _HeldTime:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            release.wait()

    monkeypatch.setattr(client_module, "time", _HeldTime())
    yield
    release.set()


@pytest.fixture
def publish_rpcs(fake_pubsub: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages each Publish RPC the fake served carried, in order."""
    sizes: list[int] = []
    backend = fake_pubsub.backend
    original = backend.call

    def call(rpc: str, request: Any, timeout: float | None) -> Any:
        if rpc == "publish":
            sizes.append(len(request.messages))
        return original(rpc, request, timeout)

    monkeypatch.setattr(backend, "call", call)
    return sizes


def test_result_sends_the_pending_batch_without_waiting_for_the_timer(
    fake_pubsub: Any, timer_held: None, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    future = publisher.publish(topic, b"now")
    assert future.result(timeout=WAIT)
    assert [m.data for m in fake_pubsub.published("orders")] == [b"now"]


def test_exception_sends_the_pending_batch_without_waiting_for_the_timer(
    fake_pubsub: Any, timer_held: None, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    future = publisher.publish(topic, b"now")
    assert future.exception(timeout=WAIT) is None
    assert future.result(timeout=0)


def test_concurrent_futures_wait_sends_the_batches_of_every_publisher(
    fake_pubsub: Any, timer_held: None, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    other = pubsub_v1.PublisherClient()
    futures = [publisher.publish(topic, b"a"), other.publish(topic, b"b")]
    done, not_done = wait(futures, timeout=WAIT)
    assert (len(done), not_done) == (2, set())
    assert sorted(m.data for m in fake_pubsub.published("orders")) == [b"a", b"b"]
    other.stop()


def test_as_completed_sends_the_pending_batch(
    fake_pubsub: Any, timer_held: None, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    futures = [publisher.publish(topic, f"m{i}".encode()) for i in range(3)]
    assert sorted(f.result(timeout=0) for f in as_completed(futures, timeout=WAIT)) == [
        "1",
        "2",
        "3",
    ]


def test_inspection_helpers_see_publishes_nobody_waited_for(
    fake_pubsub: Any, timer_held: None, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.create_subscription("worker", "orders")
    for data in (b"one", b"two"):
        publisher.publish(topic, data)
    assert [m.data for m in fake_pubsub.published("orders")] == [b"one", b"two"]
    publisher.publish(topic, b"three")
    assert fake_pubsub.backlog("worker") == 3
    publisher.publish(topic, b"four")
    assert [m.data for m in fake_pubsub.state("worker").backlog] == [
        b"one",
        b"two",
        b"three",
        b"four",
    ]


def test_a_burst_published_before_the_wait_goes_out_in_one_publish(
    fake_pubsub: Any, timer_held: None, publisher: Any, publish_rpcs: list[int]
) -> None:
    topic = fake_pubsub.create_topic("orders")
    first = [publisher.publish(topic, f"a{i}".encode()) for i in range(10)]
    assert first[0].result(timeout=WAIT)
    assert all(f.result(timeout=WAIT) for f in first)
    second = [publisher.publish(topic, f"b{i}".encode()) for i in range(5)]
    wait(second, timeout=WAIT)
    assert publish_rpcs == [10, 5]


def test_a_burst_larger_than_a_batch_is_split_as_without_the_wait(
    fake_pubsub: Any, timer_held: None, publish_rpcs: list[int]
) -> None:
    topic = fake_pubsub.create_topic("orders")
    # The batches the library makes by itself: no timer, the last batch sent by stop().
    alone = pubsub_v1.PublisherClient(
        batch_settings=BatchSettings(max_messages=4, max_latency=float("inf"))
    )
    futures = [alone.publish(topic, f"m{i}".encode()) for i in range(10)]
    alone.stop()
    wait(futures, timeout=WAIT)
    by_the_library = list(publish_rpcs)
    publish_rpcs.clear()
    publisher = pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_messages=4))
    futures = [publisher.publish(topic, f"m{i}".encode()) for i in range(10)]
    wait(futures, timeout=WAIT)
    assert len(by_the_library) > 1
    assert publish_rpcs == by_the_library
    publisher.stop()


def test_ordering_keys_keep_their_order(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient(
        batch_settings=BatchSettings(max_messages=7),
        publisher_options=PublisherOptions(enable_message_ordering=True),
    )
    futures = []
    for i in range(30):
        key = "ab"[i % 2]
        futures.append(publisher.publish(topic, f"{key}{i}".encode(), ordering_key=key))
        if i % 4 == 3:
            futures[-1].result(timeout=WAIT)  # waits in the middle of later batches
    assert all(f.result(timeout=WAIT) for f in futures)
    for key in "ab":
        sent = [f"{key}{i}".encode() for i in range(30) if "ab"[i % 2] == key]
        got = [m.data for m in fake_pubsub.published("orders") if m.ordering_key == key]
        assert got == sent
    publisher.stop()


def test_a_client_without_a_batch_timer_is_not_sent_early(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_latency=float("inf")))
    future = publisher.publish(topic, b"waits for stop()")
    with pytest.raises(TimeoutError):
        future.result(timeout=0)  # as against GCP: nothing sends this batch but stop()
    publisher.stop()
    assert future.result(timeout=WAIT)


def test_resolved_publish_futures_are_not_held_for_the_whole_test(
    fake_pubsub: Any, publisher: Any
) -> None:
    # The inspection helpers hold the futures of unresolved publishes; resolved ones are
    # dropped in passes, not by a done callback each, and must not pile up.
    topic = fake_pubsub.create_topic("orders")
    for _ in range(10):
        futures = [publisher.publish(topic, b"%d" % i) for i in range(500)]
        for future in futures:
            future.result(timeout=WAIT)
    held = fake_pubsub.pending_publishes._futures
    assert len(held) < 2 * 1024
    assert len(fake_pubsub.published("orders")) == 5000
