"""Streaming pull with ``subscribe()``, as the service's consumers run it."""

from __future__ import annotations

import threading

from google.cloud import pubsub_v1

WAIT_SECONDS = 60.0


class Inbox:
    """Collects messages from a callback; ``wait(n)`` returns once ``n`` arrived."""

    def __init__(self, *, ack: bool = True, nack_first: int = 0) -> None:
        self.messages: list[pubsub_v1.subscriber.message.Message] = []
        self.ack = ack
        self.nack_first = nack_first
        self._changed = threading.Condition()

    def __call__(self, message: pubsub_v1.subscriber.message.Message) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
            nack = len(self.messages) <= self.nack_first
        if nack:
            message.nack()
        elif self.ack:
            message.ack()

    def wait(self, count: int) -> list[bytes]:
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.messages) >= count, WAIT_SECONDS)
        assert arrived, f"{len(self.messages)} of {count} messages in {WAIT_SECONDS:.0f} s"
        return [m.data for m in self.messages]


def _subscribe(stack, subscription, inbox, **options):
    future = stack.subscriber.subscribe(subscription, callback=inbox, **options)
    return future


def _stop(future):
    future.cancel()
    future.result(timeout=30)


def test_subscribe_receives_a_message(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    inbox = Inbox()
    future = _subscribe(stack, subscription, inbox)
    try:
        stack.publisher.publish(topic, b"streamed").result(timeout=30)
        assert inbox.wait(1) == [b"streamed"]
    finally:
        _stop(future)


def test_subscribe_receives_a_backlog(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    for future in [stack.publisher.publish(topic, b"%02d" % i) for i in range(50)]:
        future.result(timeout=30)
    inbox = Inbox()
    future = _subscribe(stack, subscription, inbox)
    try:
        assert sorted(inbox.wait(50)) == [b"%02d" % i for i in range(50)]
    finally:
        _stop(future)


def test_flow_control_still_delivers_everything(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    for future in [stack.publisher.publish(topic, b"%d" % i) for i in range(10)]:
        future.result(timeout=30)
    inbox = Inbox()
    flow = pubsub_v1.types.FlowControl(max_messages=1)
    future = _subscribe(stack, subscription, inbox, flow_control=flow)
    try:
        assert len(inbox.wait(10)) == 10
    finally:
        _stop(future)


def test_a_nacked_message_comes_back_to_the_stream(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    inbox = Inbox(nack_first=1)
    future = _subscribe(stack, subscription, inbox)
    try:
        stack.publisher.publish(topic, b"again").result(timeout=30)
        assert inbox.wait(2) == [b"again", b"again"]
    finally:
        _stop(future)


def test_attributes_reach_the_callback(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    inbox = Inbox()
    future = _subscribe(stack, subscription, inbox)
    try:
        stack.publisher.publish(topic, b"x", source="suite").result(timeout=30)
        inbox.wait(1)
        assert inbox.messages[0].attributes["source"] == "suite"
    finally:
        _stop(future)


def test_an_acked_stream_leaves_nothing_behind(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    inbox = Inbox()
    future = _subscribe(stack, subscription, inbox)
    try:
        for f in [stack.publisher.publish(topic, b"%d" % i) for i in range(5)]:
            f.result(timeout=30)
        inbox.wait(5)
    finally:
        _stop(future)
    assert stack.pull_now(subscription) == []


def test_ordered_delivery_on_a_stream(stack):
    publisher = stack.publisher_with(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    topic = stack.topic()
    subscription = stack.subscription(topic, enable_message_ordering=True)
    inbox = Inbox()
    future = _subscribe(stack, subscription, inbox)
    try:
        for f in [publisher.publish(topic, b"%02d" % i, ordering_key="k") for i in range(15)]:
            f.result(timeout=30)
        assert inbox.wait(15) == [b"%02d" % i for i in range(15)]
    finally:
        _stop(future)


def test_two_subscribers_share_one_subscription(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    inbox = Inbox()
    first = _subscribe(stack, subscription, inbox)
    second = _subscribe(stack, subscription, inbox)
    try:
        for f in [stack.publisher.publish(topic, b"%02d" % i) for i in range(20)]:
            f.result(timeout=30)
        assert len(set(inbox.wait(20))) == 20
    finally:
        _stop(first)
        _stop(second)


def test_the_indexer_follows_uploads_through_a_stream(stack, client, documents):
    from docstore.service import handle_event

    bucket, topic = documents
    subscription = stack.subscription(topic)
    done = threading.Semaphore(0)

    def callback(message):
        handle_event(stack.gcs, bucket.name, message.data, message.attributes["event"])
        message.ack()
        done.release()

    future = stack.subscriber.subscribe(subscription, callback=callback)
    try:
        for name in ("a.txt", "b.txt", "c.txt"):
            client.post(f"/documents/{name}", data=name.encode(), content_type="text/plain")
        for _ in range(3):
            assert done.acquire(timeout=WAIT_SECONDS)
    finally:
        _stop(future)
    names = sorted(b.name for b in stack.gcs.list_blobs(bucket.name, prefix="index/"))
    assert names == ["index/a.txt.json", "index/b.txt.json", "index/c.txt.json"]
