"""The subscriber's shutdown paths, through the real ``SubscriberClient``.

On shutdown google-cloud-pubsub's ``ThreadScheduler`` takes the callbacks still queued in
its executor and nacks the first argument of each, the message. The plugin's executor
patch once queued a wrapper of its own there: the shutdown thread died with
``AttributeError`` and ``StreamingPullFuture.result()`` never returned. Each test here
ends a stream with callbacks still queued and checks that the future resolves and that
every queued message comes back.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

WAIT = 30  # seconds; a bound on waiting for events, never a sleep
PUBLISHED = [b"m0", b"m1", b"m2", b"m3"]


@pytest.fixture
def orders(fake_pubsub: Any) -> str:
    """A subscription with four messages waiting: one stream delivers them all at once."""
    fake_pubsub.create_topic("orders")
    path: str = fake_pubsub.create_subscription("worker", "orders")
    for data in PUBLISHED:
        fake_pubsub.publish("orders", data)
    return path


class OneWorker(futures.ThreadPoolExecutor):
    """A one-thread pool that says when the subscriber shuts it down.

    ``ThreadScheduler.shutdown()`` takes the queued callbacks out just before it shuts
    the pool down, so a callback held until then is the only one that ever runs.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.shutting_down = threading.Event()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutting_down.set()
        super().shutdown(wait, cancel_futures=cancel_futures)


class Callbacks:
    """Records which messages reached the callback; each call is held until ``gate`` is set."""

    def __init__(self, gate: threading.Event, *, ack: bool = False) -> None:
        self.gate = gate
        self.ack = ack
        self.started: list[bytes] = []
        self.finished: list[bytes] = []
        self.first = threading.Event()

    def __call__(self, message: Any) -> None:
        self.started.append(message.data)
        self.first.set()
        self.gate.wait(WAIT)
        if self.ack:
            message.ack()
        self.finished.append(message.data)


def _backlog(fake_pubsub: Any) -> list[bytes]:
    return sorted(m.data for m in fake_pubsub.state("worker").backlog)


def _receive_all(orders: str, count: int) -> list[bytes]:
    """Receive ``count`` messages on a new subscriber, acking each."""
    received: list[bytes] = []
    cond = threading.Condition()

    def callback(message: Any) -> None:
        message.ack()
        with cond:
            received.append(message.data)
            cond.notify_all()

    with pubsub_v1.SubscriberClient() as again:
        future = again.subscribe(orders, callback)
        with cond:
            assert cond.wait_for(lambda: len(received) >= count, WAIT), received
        future.cancel()
        future.result(timeout=WAIT)
    return sorted(received)


def test_cancel_with_more_messages_than_callback_threads_resolves_the_future(
    fake_pubsub: Any, subscriber: Any
) -> None:
    # Library defaults: the scheduler's own pool (10 threads) and a callback slower than
    # delivery, so most messages wait in the pool's queue when the stream is cancelled.
    fake_pubsub.create_topic("orders")
    path = fake_pubsub.create_subscription("worker", "orders")
    for i in range(30):
        fake_pubsub.publish("orders", f"m{i}".encode())
    release = threading.Event()
    callbacks = Callbacks(release)
    future = subscriber.subscribe(path, callbacks)
    assert callbacks.first.wait(WAIT)
    future.cancel()
    try:
        assert future.result(timeout=WAIT)
    finally:
        release.set()
    backlog = _backlog(fake_pubsub)
    assert backlog, "no queued message was nacked"
    assert not set(backlog) & set(callbacks.started)


def test_cancel_nacks_each_queued_message_for_redelivery(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    release = threading.Event()
    callbacks = Callbacks(release)
    future = subscriber.subscribe(orders, callbacks, scheduler=ThreadScheduler(OneWorker()))
    assert callbacks.first.wait(WAIT)
    future.cancel()
    try:
        future.result(timeout=WAIT)
        assert callbacks.finished == []  # the running callback is not awaited by default
    finally:
        release.set()
    queued = sorted(set(PUBLISHED) - set(callbacks.started))
    assert len(callbacks.started) == 1
    assert _backlog(fake_pubsub) == queued
    assert _receive_all(orders, len(queued)) == queued


def test_awaiting_callbacks_on_shutdown_finishes_the_running_one_and_nacks_the_queued(
    fake_pubsub: Any, orders: str, subscriber: Any
) -> None:
    pool = OneWorker()
    callbacks = Callbacks(pool.shutting_down, ack=True)
    future = subscriber.subscribe(
        orders,
        callbacks,
        scheduler=ThreadScheduler(pool),
        await_callbacks_on_shutdown=True,
    )
    assert callbacks.first.wait(WAIT)
    future.cancel()
    future.result(timeout=WAIT)
    assert callbacks.finished == callbacks.started  # awaited before result() returned
    queued = sorted(set(PUBLISHED) - set(callbacks.started))
    state = fake_pubsub.state("worker")
    assert [m.data for m in state.acked] == callbacks.started
    assert _backlog(fake_pubsub) == queued
    assert _receive_all(orders, len(queued)) == queued


def test_closing_the_subscriber_ends_its_stream_and_every_undone_message_comes_back(
    fake_pubsub: Any, orders: str
) -> None:
    release = threading.Event()
    callbacks = Callbacks(release)
    try:
        with pubsub_v1.SubscriberClient() as subscriber:
            future = subscriber.subscribe(orders, callbacks, scheduler=ThreadScheduler(OneWorker()))
            assert callbacks.first.wait(WAIT)
        # A closed channel ends its streams; the subscriber shuts down and says why.
        with pytest.raises(exceptions.Cancelled, match=r"Channel closed!"):
            future.result(timeout=WAIT)
    finally:
        release.set()
    # The queued messages were nacked; the running one was never acked: past its lease
    # (at most 600 s) it is delivered again too.
    fake_pubsub.clock.advance(601)
    assert _receive_all(orders, len(PUBLISHED)) == PUBLISHED
