"""Publishing: what reaches a subscription, and what the service announces."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1


def test_a_published_message_is_pulled_once(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    message_id = stack.publisher.publish(topic, b"hello").result(timeout=30)
    [received] = stack.pull(subscription, 1)
    assert received.message.message_id == message_id
    assert received.message.data == b"hello"
    stack.ack(subscription, [received])
    assert stack.pull_now(subscription) == []


def test_attributes_travel_with_the_message(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    stack.publisher.publish(topic, b"x", kind="invoice", region="eu").result(timeout=30)
    [received] = stack.pull(subscription, 1)
    assert dict(received.message.attributes) == {"kind": "invoice", "region": "eu"}


def test_a_message_of_attributes_only_is_accepted(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    stack.publisher.publish(topic, b"", kind="ping").result(timeout=30)
    [received] = stack.pull(subscription, 1)
    assert received.message.data == b""
    assert received.message.attributes["kind"] == "ping"


@pytest.mark.parametrize("size", [1, 64 * 1024, 512 * 1024])
def test_payloads_arrive_byte_for_byte(stack, size):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    stack.publisher.publish(topic, data).result(timeout=30)
    [received] = stack.pull(subscription, 1)
    assert received.message.data == data


def test_message_ids_are_unique(stack):
    topic = stack.topic()
    futures = [stack.publisher.publish(topic, b"%d" % i) for i in range(50)]
    ids = [future.result(timeout=30) for future in futures]
    assert len(set(ids)) == 50


def test_a_burst_is_delivered_completely(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    futures = [stack.publisher.publish(topic, b"%03d" % i) for i in range(200)]
    for future in futures:
        future.result(timeout=30)
    received = stack.pull(subscription, 200)
    assert sorted(r.message.data for r in received) == [b"%03d" % i for i in range(200)]


def test_publish_time_is_set(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    stack.publisher.publish(topic, b"x").result(timeout=30)
    [received] = stack.pull(subscription, 1)
    assert received.message.publish_time.year >= 2024


def test_each_subscription_gets_its_own_copy(stack):
    topic = stack.topic()
    first = stack.subscription(topic, "first")
    second = stack.subscription(topic, "second")
    stack.publisher.publish(topic, b"both").result(timeout=30)
    assert [r.message.data for r in stack.pull(first, 1)] == [b"both"]
    assert [r.message.data for r in stack.pull(second, 1)] == [b"both"]


def test_a_subscription_sees_only_messages_after_it_was_created(stack):
    topic = stack.topic()
    stack.publisher.publish(topic, b"before").result(timeout=30)
    subscription = stack.subscription(topic)
    stack.publisher.publish(topic, b"after").result(timeout=30)
    assert [r.message.data for r in stack.pull(subscription, 1)] == [b"after"]


def test_publishing_to_a_missing_topic_fails_with_not_found(stack):
    missing = f"projects/{stack.project}/topics/missing"
    with pytest.raises(exceptions.NotFound):
        stack.publisher.publish(missing, b"x").result(timeout=30)


def test_subscribing_a_missing_topic_fails_with_not_found(stack):
    with pytest.raises(exceptions.NotFound):
        stack.subscription(f"projects/{stack.project}/topics/missing")


def test_creating_a_topic_twice_fails_with_already_exists(stack):
    stack.topic("twice")
    with pytest.raises(exceptions.AlreadyExists):
        stack.topic("twice")


def test_a_created_topic_is_listed(stack):
    topic = stack.topic("listed")
    topics = stack.publisher.list_topics(project=f"projects/{stack.project}", timeout=30)
    assert topic in [t.name for t in topics]


def test_a_topics_subscriptions_are_listed(stack):
    topic = stack.topic()
    subscription = stack.subscription(topic)
    names = stack.publisher.list_topic_subscriptions(topic=topic, timeout=30)
    assert list(names) == [subscription]


def test_ordered_messages_arrive_in_order(stack):
    publisher = stack.publisher_with(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    topic = stack.topic()
    subscription = stack.subscription(topic, enable_message_ordering=True)
    futures = [publisher.publish(topic, b"%02d" % i, ordering_key="order-1") for i in range(20)]
    for future in futures:
        future.result(timeout=30)
    got = []
    while len(got) < 20:
        batch = stack.pull(subscription, 1)
        got.extend(r.message.data for r in batch)
        stack.ack(subscription, batch)
    assert got == [b"%02d" % i for i in range(20)]


def test_the_service_announces_a_new_document(stack, client, documents):
    _, topic = documents
    subscription = stack.subscription(topic)
    response = client.post("/documents/a.txt", data=b"alpha", content_type="text/plain")
    assert response.status_code == 201
    [received] = stack.pull(subscription, 1)
    assert received.message.attributes["event"] == "created"
    body = json.loads(received.message.data)
    assert body["name"] == "a.txt"
    assert body["generation"] == response.json["generation"]


def test_the_service_announces_a_deletion(stack, client, documents):
    _, topic = documents
    client.post("/documents/gone.txt", data=b"x", content_type="text/plain")
    subscription = stack.subscription(topic)
    assert client.delete("/documents/gone.txt").status_code == 204
    [received] = stack.pull(subscription, 1)
    assert received.message.attributes["event"] == "deleted"
