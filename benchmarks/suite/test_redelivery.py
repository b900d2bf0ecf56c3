"""Nacks, ack deadlines and redelivery: the tests that wait on time."""

from __future__ import annotations

from docstore.service import index_events

ACK_DEADLINE = 10  # the shortest Pub/Sub allows


def _one(stack, **fields):
    topic = stack.topic()
    subscription = stack.subscription(topic, ack_deadline_seconds=ACK_DEADLINE, **fields)
    stack.publisher.publish(topic, b"work").result(timeout=30)
    return topic, subscription


def test_a_nacked_message_is_redelivered(stack):
    _, subscription = _one(stack)
    first = stack.pull(subscription, 1)
    stack.nack(subscription, first)
    [again] = stack.pull(subscription, 1)
    assert again.message.message_id == first[0].message.message_id
    assert again.ack_id != first[0].ack_id


def test_an_acked_message_is_not_redelivered_after_a_nack_elsewhere(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic, ack_deadline_seconds=ACK_DEADLINE)
    for future in [stack.publisher.publish(topic, d) for d in (b"keep", b"retry")]:
        future.result(timeout=30)
    received = stack.pull(subscription, 2)
    keep = [r for r in received if r.message.data == b"keep"]
    retry = [r for r in received if r.message.data == b"retry"]
    stack.ack(subscription, keep)
    stack.nack(subscription, retry)
    assert [r.message.data for r in stack.pull(subscription, 1)] == [b"retry"]


def test_a_message_not_acked_in_time_is_redelivered(stack):
    _, subscription = _one(stack)
    first = stack.pull(subscription, 1)
    stack.wait_out(ACK_DEADLINE)
    [again] = stack.pull(subscription, 1)
    assert again.message.message_id == first[0].message.message_id


def test_an_extended_deadline_keeps_the_message_away(stack):
    _, subscription = _one(stack)
    first = stack.pull(subscription, 1)
    stack.subscriber.modify_ack_deadline(
        subscription=subscription,
        ack_ids=[first[0].ack_id],
        ack_deadline_seconds=60,
        timeout=30,
    )
    stack.wait_out(ACK_DEADLINE)
    assert stack.pull_now(subscription) == []


def test_a_message_acked_before_its_deadline_stays_acked(stack):
    _, subscription = _one(stack)
    received = stack.pull(subscription, 1)
    stack.ack(subscription, received)
    stack.wait_out(ACK_DEADLINE)
    assert stack.pull_now(subscription) == []


def test_the_indexer_retries_a_failed_event_after_the_deadline(stack, client, documents):
    bucket, topic = documents
    subscription = stack.subscription(topic, ack_deadline_seconds=ACK_DEADLINE)
    client.post("/documents/report.txt", data=b"q3", content_type="text/plain")
    stack.pull(subscription, 1)  # a worker took it and died without acking
    stack.wait_out(ACK_DEADLINE)
    handled = 0
    while handled == 0:
        handled = index_events(stack.subscriber, stack.gcs, bucket.name, subscription)
    assert bucket.get_blob("index/report.txt.json") is not None


def test_the_indexer_nacks_what_it_cannot_handle(stack, client, documents):
    bucket, topic = documents
    subscription = stack.subscription(topic, ack_deadline_seconds=ACK_DEADLINE)
    client.post("/documents/odd.txt", data=b"x", content_type="text/plain")
    calls = []

    def flaky(gcs, bucket_name, data, event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("transient")

    handled = 0
    while handled == 0:
        handled = index_events(stack.subscriber, stack.gcs, bucket.name, subscription, handle=flaky)
    assert calls == ["created", "created"]


def test_the_indexer_acknowledges_what_it_handled(stack, client, documents):
    bucket, topic = documents
    subscription = stack.subscription(topic, ack_deadline_seconds=ACK_DEADLINE)
    for name in ("one.txt", "two.txt"):
        client.post(f"/documents/{name}", data=b"x", content_type="text/plain")
    handled = 0
    while handled < 2:
        handled += index_events(stack.subscriber, stack.gcs, bucket.name, subscription)
    assert stack.pull_now(subscription) == []
    names = sorted(b.name for b in stack.gcs.list_blobs(bucket.name, prefix="index/"))
    assert names == ["index/one.txt.json", "index/two.txt.json"]
