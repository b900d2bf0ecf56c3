"""A client used with no fake active fails at once, from the public call, naming the fixture."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes import FakeNotActiveError
from pytest_gcpfakes.pubsub import _transport
from pytest_gcpfakes.storage import _adapter

TOPIC = "projects/test-project/topics/top"
SUB = "projects/test-project/subscriptions/sub"
PUBSUB_HINT = "add the `fake_pubsub` fixture to the test"
STORAGE_HINT = "add the `fake_storage` fixture to the test"


@pytest.fixture
def rpc_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the calls that reach the fake wire, to prove nothing is retried."""
    calls: list[str] = []
    unary = _transport._UnaryMethod.__call__
    send = _adapter.StorageAdapter.send

    def counting_unary(self: _transport._UnaryMethod, *args: object, **kwargs: object) -> object:
        calls.append(self.rpc)
        return unary(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_send(self: _adapter.StorageAdapter, request: object, **kwargs: object) -> object:
        calls.append("storage")
        return send(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_transport._UnaryMethod, "__call__", counting_unary)
    monkeypatch.setattr(_adapter.StorageAdapter, "send", counting_send)
    return calls


def test_fake_not_active_error_is_a_non_retryable_google_api_call_error() -> None:
    assert issubclass(FakeNotActiveError, exceptions.GoogleAPICallError)
    assert issubclass(FakeNotActiveError, exceptions.FailedPrecondition)


def test_publish_without_fake_raises_from_publish_itself() -> None:
    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(FakeNotActiveError, match=PUBSUB_HINT):
        publisher.publish(TOPIC, b"data")


def test_subscribe_without_fake_raises_from_subscribe_itself() -> None:
    subscriber = pubsub_v1.SubscriberClient()
    with pytest.raises(FakeNotActiveError, match=PUBSUB_HINT):
        subscriber.subscribe(SUB, callback=lambda message: None)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pubsub_v1.PublisherClient().create_topic(name=TOPIC),
        lambda: pubsub_v1.PublisherClient().get_topic(topic=TOPIC),
        lambda: pubsub_v1.SubscriberClient().pull(subscription=SUB, max_messages=1),
        lambda: pubsub_v1.SubscriberClient().acknowledge(subscription=SUB, ack_ids=["x"]),
    ],
    ids=["create_topic", "get_topic", "pull", "acknowledge"],
)
def test_pubsub_rpc_without_fake_fails_once_without_retry(
    call: object, rpc_calls: list[str]
) -> None:
    with pytest.raises(FakeNotActiveError, match=PUBSUB_HINT):
        call()  # type: ignore[operator]
    assert len(rpc_calls) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_bucket("some-bucket"),
        lambda c: c.get_bucket("some-bucket"),
        lambda c: c.bucket("some-bucket").blob("o").upload_from_string("x"),
        lambda c: c.bucket("some-bucket").blob("o").download_as_bytes(),
        lambda c: list(c.list_buckets()),
    ],
    ids=["create_bucket", "get_bucket", "upload", "download", "list_buckets"],
)
def test_storage_call_without_fake_fails_once_without_retry(
    call: object, rpc_calls: list[str]
) -> None:
    client = storage.Client()
    with pytest.raises(FakeNotActiveError, match=STORAGE_HINT):
        call(client)  # type: ignore[operator]
    assert rpc_calls == ["storage"]


def test_only_fake_pubsub_requested_storage_fails_naming_fake_storage(fake_pubsub: object) -> None:
    pubsub_v1.PublisherClient().create_topic(name=TOPIC)
    with pytest.raises(FakeNotActiveError, match=STORAGE_HINT):
        storage.Client().create_bucket("some-bucket")


def test_only_fake_storage_requested_pubsub_fails_naming_fake_pubsub(fake_storage: object) -> None:
    storage.Client().create_bucket("some-bucket")
    with pytest.raises(FakeNotActiveError, match=PUBSUB_HINT):
        pubsub_v1.PublisherClient().publish(TOPIC, b"x")


def test_message_names_the_fixture_and_the_standalone_alternative() -> None:
    with pytest.raises(FakeNotActiveError) as caught:
        pubsub_v1.PublisherClient().get_topic(topic=TOPIC)
    assert caught.value.message == (
        "pytest-gcpfakes: this Pub/Sub call ran with no fake Pub/Sub active; add the "
        "`fake_pubsub` fixture to the test (or use `with GCPFakes():` outside pytest)."
    )
