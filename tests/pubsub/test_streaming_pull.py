"""Streaming pull through the real ``SubscriberClient.subscribe()``."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import FlowControl

WAIT = 30  # seconds; a bound on waiting for events, never a sleep


@pytest.fixture
def orders(fake_pubsub: Any) -> str:
    fake_pubsub.create_topic("orders")
    return fake_pubsub.create_subscription("worker", "orders")


class Inbox:
    """Collects messages from a streaming-pull callback and lets the test wait for them."""

    def __init__(self, *, ack: bool = True) -> None:
        self.ack = ack
        self.messages: list[Any] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, message: Any) -> None:
        with self._cond:
            self.messages.append(message)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()
        if self.ack:
            message.ack()

    def wait_for(self, count: int) -> list[Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= count, WAIT), (
                f"got {len(self.messages)} of {count} messages"
            )
            return list(self.messages)


def _stop(future: Any) -> None:
    future.cancel()
    future.result(timeout=WAIT)


def test_subscribe_delivers_published_messages(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    inbox = Inbox()
    future = subscriber.subscribe(orders, inbox)
    for i in range(5):
        fake_pubsub.publish("orders", f"m{i}".encode(), n=str(i))
    received = inbox.wait_for(5)
    _stop(future)
    assert sorted(m.data for m in received) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert all(m.attributes["n"] == m.data.decode()[1:] for m in received)


def test_acked_messages_leave_the_subscription(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    inbox = Inbox()
    future = subscriber.subscribe(orders, inbox)
    fake_pubsub.publish("orders", b"done")
    inbox.wait_for(1)
    state = fake_pubsub.subscription("worker")
    with state.cond:
        assert state.cond.wait_for(lambda: len(state.acked) == 1, WAIT)
    _stop(future)
    assert fake_pubsub.backlog("worker") == 0


def test_nacked_message_is_redelivered_to_the_callback(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    seen: list[str] = []
    done = threading.Event()

    def callback(message: Any) -> None:
        seen.append(message.message_id)
        if len(seen) == 1:
            message.nack()
        else:
            message.ack()
            done.set()

    future = subscriber.subscribe(orders, callback)
    fake_pubsub.publish("orders", b"try again")
    assert done.wait(WAIT)
    _stop(future)
    assert seen[0] == seen[1]


def test_flow_control_limits_messages_in_flight(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    release = threading.Event()
    in_flight: list[Any] = []
    peak = 0
    lock = threading.Lock()
    two_arrived = threading.Event()

    def callback(message: Any) -> None:
        nonlocal peak
        with lock:
            in_flight.append(message)
            peak = max(peak, len(in_flight))
            if len(in_flight) == 2:
                two_arrived.set()
        release.wait(WAIT)
        with lock:
            in_flight.remove(message)
        message.ack()

    future = subscriber.subscribe(
        orders,
        callback,
        flow_control=FlowControl(max_messages=2),
        scheduler=None,
    )
    for i in range(6):
        fake_pubsub.publish("orders", str(i).encode())
    assert two_arrived.wait(WAIT)
    # While two callbacks are blocked, the other four must stay undelivered.
    assert fake_pubsub.backlog("worker") + _leased_on_hold(fake_pubsub) >= 4
    release.set()
    state = fake_pubsub.subscription("worker")
    with state.cond:
        assert state.cond.wait_for(lambda: len(state.acked) == 6, WAIT)
    _stop(future)
    assert peak == 2


def _leased_on_hold(fake_pubsub: Any) -> int:
    # Messages the server handed out but the client library holds back for flow control.
    state = fake_pubsub.subscription("worker")
    with state.cond:
        return max(len(state.leases) - 2, 0)


def test_cancelled_future_returns_cleanly(orders: str, subscriber: Any) -> None:
    future = subscriber.subscribe(orders, Inbox())
    future.cancel()
    future.result(timeout=WAIT)  # returns instead of raising: the documented shutdown
    assert future.cancelled()


def test_callback_exception_surfaces_from_future_result(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    def callback(message: Any) -> None:
        raise ValueError("boom in callback")

    future = subscriber.subscribe(orders, callback)
    fake_pubsub.publish("orders", b"explode")
    with pytest.raises(ValueError, match="boom in callback"):
        future.result(timeout=WAIT)
    future.cancel()  # the stream itself keeps running after a callback raised


def test_subscribe_to_missing_subscription_fails_the_future_with_not_found(
    fake_pubsub: Any, subscriber: Any
) -> None:
    future = subscriber.subscribe(fake_pubsub.subscription_path("nowhere"), Inbox())
    with pytest.raises(exceptions.NotFound, match=r"resource=nowhere\)"):
        future.result(timeout=WAIT)


def test_deleting_the_subscription_ends_the_stream_with_not_found(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    future = subscriber.subscribe(orders, Inbox())
    subscriber.delete_subscription(subscription=orders)
    with pytest.raises(exceptions.NotFound):
        future.result(timeout=WAIT)


def test_callbacks_run_in_the_librarys_executor_threads(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    inbox = Inbox()
    executor = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="cb")
    scheduler = pubsub_v1.subscriber.scheduler.ThreadScheduler(executor=executor)
    future = subscriber.subscribe(orders, inbox, scheduler=scheduler)
    fake_pubsub.publish("orders", b"where am I")
    inbox.wait_for(1)
    _stop(future)
    assert all(name.startswith("cb") for name in inbox.threads)


def test_message_published_by_the_real_publisher_reaches_the_callback(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    publisher = pubsub_v1.PublisherClient()
    inbox = Inbox()
    future = subscriber.subscribe(orders, inbox)
    publisher.publish(fake_pubsub.topic_path("orders"), b"end to end", k="v").result(WAIT)
    (message,) = inbox.wait_for(1)
    _stop(future)
    publisher.stop()
    assert message.data == b"end to end"
    assert message.attributes == {"k": "v"}
    assert fake_pubsub.published("orders")[0].publisher_thread == "MainThread"
