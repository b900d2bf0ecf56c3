"""Clients built with an explicit api_endpoint: local and emulator endpoints are faked,
any other fails at once (never a network wait)."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes._errors import ForeignEndpointError


def test_storage_pointed_at_storage_emulator_host_is_served_by_the_fake(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # nothing listens
    client = storage.Client(client_options={"api_endpoint": "http://127.0.0.1:9"})
    blob = client.create_bucket("emulated").blob("a.txt")
    blob.upload_from_string("via the emulator endpoint")
    assert blob.download_as_bytes() == b"via the emulator endpoint"  # follows mediaLink
    assert fake_storage.get("emulated", "a.txt") == b"via the emulator endpoint"


def test_a_named_emulator_host_from_a_compose_file_is_served_too(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://gcs:4443")
    client = storage.Client(client_options={"api_endpoint": "http://gcs:4443"})
    client.create_bucket("composed").blob("b.txt").upload_from_string("b")
    assert fake_storage.get("composed", "b.txt") == b"b"


def test_a_loopback_storage_endpoint_is_served_by_the_fake(fake_storage: Any) -> None:
    client = storage.Client(client_options={"api_endpoint": "http://localhost:4443"})
    client.create_bucket("local").blob("c.txt").upload_from_string("c")
    assert fake_storage.get("local", "c.txt") == b"c"


def test_a_foreign_storage_endpoint_fails_at_once_with_one_sentence(fake_storage: Any) -> None:
    client = storage.Client(client_options={"api_endpoint": "https://storage.example.com"})
    with pytest.raises(ForeignEndpointError) as caught:
        client.create_bucket("elsewhere")
    assert caught.value.message == (
        "pytest-gcpfakes: refused https://storage.example.com/storage/v1/b?project=test-project"
        "&prettyPrint=false: the client's api_endpoint is neither Google's nor a loopback or "
        "$STORAGE_EMULATOR_HOST address, so the fakes cannot serve it and nothing may leave "
        "this machine; build the client without api_endpoint (or with $STORAGE_EMULATOR_HOST) "
        "to use `fake_storage`, or run such tests with `-p no:gcpfakes`."
    )
    assert fake_storage.buckets == []


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8085", "localhost:8681", "[::1]:8085"])
def test_a_local_pubsub_endpoint_is_served_by_the_fake(fake_pubsub: Any, endpoint: str) -> None:
    publisher = pubsub_v1.PublisherClient(client_options={"api_endpoint": endpoint})
    topic = publisher.create_topic(name=fake_pubsub.topic_path("local")).name
    publisher.publish(topic, b"x").result(timeout=30)
    assert [m.data for m in fake_pubsub.published("local")] == [b"x"]


def test_a_foreign_pubsub_endpoint_fails_at_once_from_publish_itself(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("tasks")
    publisher = pubsub_v1.PublisherClient(client_options={"api_endpoint": "pubsub.corp:443"})
    with pytest.raises(ForeignEndpointError) as caught:
        publisher.publish(fake_pubsub.topic_path("tasks"), b"x")
    assert caught.value.message.startswith(
        "pytest-gcpfakes: refused pubsub.corp:443: the client's api_endpoint is neither "
        "Google's nor a loopback or $PUBSUB_EMULATOR_HOST address"
    )
    with pytest.raises(ForeignEndpointError, match=r"refused pubsub\.corp:443 \(GetTopic\)"):
        publisher.get_topic(topic=fake_pubsub.topic_path("tasks"))
    subscriber = pubsub_v1.SubscriberClient(client_options={"api_endpoint": "pubsub.corp:443"})
    with pytest.raises(ForeignEndpointError):
        subscriber.subscribe("projects/test-project/subscriptions/s", lambda m: None)
    assert fake_pubsub.published("tasks") == []


def test_regional_google_endpoints_are_faked(fake_pubsub: Any) -> None:
    publisher = pubsub_v1.PublisherClient(
        client_options={"api_endpoint": "us-east1-pubsub.googleapis.com:443"}
    )
    publisher.create_topic(name=fake_pubsub.topic_path("regional"))
    assert fake_pubsub.topics == [fake_pubsub.topic_path("regional")]
