"""The Pub/Sub page's examples: IAM, Cloud Storage subscriptions, state, faults."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage

AGENT = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"


def test_grant_the_storage_agent_publish_rights(fake_pubsub):
    topic = fake_pubsub.create_topic("uploads")
    agent = AGENT
    with pubsub_v1.PublisherClient() as publisher:
        # [iam]
        policy = publisher.get_iam_policy(request={"resource": topic})  # {"etag": "ACAB"} at first
        policy.bindings.add(role="roles/pubsub.publisher", members=[f"serviceAccount:{agent}"])
        publisher.set_iam_policy(request={"resource": topic, "policy": policy})
        # [/iam]
        (binding,) = publisher.get_iam_policy(request={"resource": topic}).bindings
    assert list(binding.members) == [f"serviceAccount:{agent}"]


def publish_events() -> None:
    """The code under test: two events."""
    with pubsub_v1.PublisherClient() as publisher:
        topic = publisher.topic_path("shop-test", "events")
        for data in (b"first", b"second"):
            publisher.publish(topic, data).result()


# [cloud-storage]
def test_events_are_archived(fake_pubsub, fake_storage):
    fake_storage.create_bucket("archive")
    topic = fake_pubsub.create_topic("events")
    with freeze_time("2026-03-04 05:06:07") as frozen:
        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.create_subscription(
                request={
                    "name": fake_pubsub.subscription_path("to-gcs"),
                    "topic": topic,
                    "cloud_storage_config": {
                        "bucket": "archive",
                        "filename_prefix": "events/",
                        "max_duration": timedelta(minutes=1),
                    },
                }
            )
        publish_events()  # the code under test
        frozen.tick(60)  # the batch's minute is up
        with closing(storage.Client()) as gcs:  # a context manager itself from 3.11
            blobs = list(gcs.bucket("archive").list_blobs(prefix="events/"))
            assert blobs[0].name.startswith("events/2026-03-04T05:06:07+00:00_")
            assert blobs[0].download_as_bytes() == b"first\nsecond\n"


# [/cloud-storage]


def run_worker_once() -> None:
    """The code under test: pull what is there and acknowledge it."""
    with pubsub_v1.SubscriberClient() as subscriber:
        subscription = subscriber.subscription_path("shop-test", "billing")
        response = subscriber.pull(subscription=subscription, max_messages=10)
        ack_ids = [received.ack_id for received in response.received_messages]
        subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)


# [state]
def test_billing_worker(fake_pubsub):
    fake_pubsub.create_topic("invoices")
    fake_pubsub.create_subscription(
        "billing", "invoices", enable_message_ordering=True, ack_deadline_seconds=30
    )
    fake_pubsub.publish("invoices", b'{"id": 7}', ordering_key="acct-1", source="shop")

    run_worker_once()  # the code under test

    state = fake_pubsub.state("billing")
    assert state.backlog == ()
    assert state.outstanding == ()
    assert [m.data for m in state.acked] == [b'{"id": 7}']


# [/state]


# [faults]
def test_publisher_retries(fake_pubsub):
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=1)
    fake_pubsub.publish("orders", b"arranged")  # does not meet the fault
    with pubsub_v1.PublisherClient() as publisher:
        publisher.publish(topic, b"from the app").result()  # meets it; the client retries
    assert [m.data for m in fake_pubsub.published("orders")] == [b"arranged", b"from the app"]
    (call,) = fake_pubsub.retried_calls
    assert call.retries == 1


# [/faults]
