"""The example service's tests: its real GCP clients talk to pytest-gcpfakes."""

from __future__ import annotations

import json

from google.cloud import pubsub_v1


def test_upload_stores_the_file(client, fake_storage):
    response = client.post("/files/reports/q1.csv", data=b"a,b\n1,2\n", content_type="text/csv")

    assert response.status_code == 201
    stored = fake_storage.object("uploads", "reports/q1.csv")
    assert stored.data == b"a,b\n1,2\n"
    assert stored.content_type == "text/csv"


def test_upload_publishes_an_event(client, fake_pubsub):
    client.post("/files/photo.jpg", data=b"\xff\xd8", content_type="image/jpeg")

    (message,) = fake_pubsub.published("uploads")
    assert message.attributes == {"event_type": "upload"}
    assert json.loads(message.data)["name"] == "photo.jpg"


def test_a_worker_can_pull_the_event(client, fake_pubsub):
    client.post("/files/notes.txt", data=b"hello", content_type="text/plain")

    subscriber = pubsub_v1.SubscriberClient()
    subscription = fake_pubsub.subscription_path("uploads-worker")
    response = subscriber.pull(subscription=subscription, max_messages=10)
    (received,) = response.received_messages
    assert json.loads(received.message.data)["name"] == "notes.txt"
    subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
    assert fake_pubsub.subscription("uploads-worker").acked[0].message_id == (
        received.message.message_id
    )


def test_download_round_trips(client, fake_storage):
    fake_storage.put("uploads", "seeded.txt", "seeded by the test")

    response = client.get("/files/seeded.txt")

    assert response.status_code == 200
    assert response.data == b"seeded by the test"


def test_download_of_a_missing_file_is_404(client):
    assert client.get("/files/nope.txt").status_code == 404


def test_each_test_starts_with_empty_fakes(client, fake_storage):
    assert fake_storage.objects("uploads") == []
