"""No GCP client ever reaches Google: sockets and gRPC channels stay on this machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport

from pytest_gcpfakes import BlockedCallError

LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture
def booby_traps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test on any socket connection or real gRPC channel that leaves loopback."""
    tripped: list[str] = []
    real_connect = socket.socket.connect
    real_channel_init = grpc._channel.Channel.__init__

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not str(host).startswith(LOOPBACK):
            tripped.append(f"socket.connect{address!r}")
            raise AssertionError(f"socket connection to {address!r}")
        return real_connect(self, address)

    def channel_init(self: Any, target: str, *args: Any, **kwargs: Any) -> None:
        if not any(part in target for part in LOOPBACK):
            tripped.append(f"grpc channel {target!r}")
            raise AssertionError(f"gRPC channel to {target!r}")
        real_channel_init(self, target, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(grpc._channel.Channel, "__init__", channel_init)
    yield tripped
    assert tripped == []


@pytest.mark.usefixtures("booby_traps", "clean_env")
def test_both_fakes_work_without_any_socket_or_grpc_channel(
    fake_pubsub: Any, fake_storage: Any
) -> None:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name=fake_pubsub.topic_path("events")).name
    sub = subscriber.create_subscription(name=fake_pubsub.subscription_path("worker"), topic=topic)
    publisher.publish(topic, b"payload", origin="test").result()
    received = subscriber.pull(subscription=sub.name, max_messages=1).received_messages
    subscriber.acknowledge(subscription=sub.name, ack_ids=[received[0].ack_id])

    client = storage.Client()
    blob = client.create_bucket("guarded-bucket").blob("file.bin")
    blob.upload_from_string(b"\x00\x01" * 1000)
    assert blob.download_as_bytes() == b"\x00\x01" * 1000
    subscriber.close()
    publisher.stop()


def test_grpc_channel_to_google_is_replaced_by_a_blocked_channel(fake_pubsub: Any) -> None:
    transport = PublisherGrpcTransport(credentials=AnonymousCredentials())
    client = pubsub_v1.PublisherClient(transport=transport)
    with pytest.raises(BlockedCallError, match=r"blocked a call to Pub/Sub \(pubsub\.googleapis"):
        client.get_topic(topic=fake_pubsub.topic_path("top"))


def test_grpc_channel_to_loopback_is_left_alone() -> None:
    channel = grpc.insecure_channel("127.0.0.1:1")
    assert isinstance(channel, grpc._channel.Channel)
    channel.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://storage.googleapis.com/storage/v1/b/x",
        "https://oauth2.googleapis.com/token",
        "http://metadata.google.internal/computeMetadata/v1/project/project-id",
        "http://169.254.169.254/computeMetadata/v1/",
    ],
)
def test_requests_to_google_hosts_are_blocked(url: str) -> None:
    with pytest.raises(BlockedCallError, match="so nothing reached Google"):
        requests.get(url, timeout=1)


def test_storage_client_with_google_endpoint_is_redirected_to_the_fake(fake_storage: Any) -> None:
    client = storage.Client(client_options={"api_endpoint": "https://storage.googleapis.com"})
    client.create_bucket("redirected")
    assert fake_storage.buckets == ["redirected"]


def test_storage_client_with_own_credentials_never_refreshes_a_token(fake_storage: Any) -> None:
    class ExplodingCredentials(AnonymousCredentials):  # type: ignore[misc]
        def refresh(self, request: Any) -> None:
            raise AssertionError("token refresh attempted")

    client = storage.Client(credentials=ExplodingCredentials(), project="own-project")
    client.create_bucket("with-own-credentials")
    assert client.project == "own-project"
    assert fake_storage.buckets == ["with-own-credentials"]


def test_client_on_an_explicit_loopback_channel_is_not_checked_for_a_fake() -> None:
    from concurrent import futures

    from google.api_core import exceptions
    from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

    # A gRPC server that serves no method: the call reaches it and ends at once with
    # UNIMPLEMENTED, which the subscriber does not retry (a closed port would leave the
    # stream retrying on the channel's reconnect backoff).
    executor = futures.ThreadPoolExecutor(2)
    server = grpc.server(executor)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
        # No fake is active, yet subscribe() goes ahead: this client talks to its own server.
        future = subscriber.subscribe("projects/p/subscriptions/sub", callback=lambda m: None)
        with pytest.raises(exceptions.MethodNotImplemented):
            future.result(timeout=30)  # the server answered: the call was never stopped
        subscriber.close()
    finally:
        server.stop(0).wait()
        executor.shutdown()


UNFAKED = (
    "pytest-gcpfakes fakes only Pub/Sub and Cloud Storage, not {name}: point its client at an "
    "emulator on this machine or mock it, or run this test with `-p no:gcpfakes`."
)
LOOKUP = (
    "pytest-gcpfakes fakes only Pub/Sub and Cloud Storage, not {name}: give the code that "
    "looked up credentials or a project its own (such as AnonymousCredentials() and "
    "project=), or run this test with `-p no:gcpfakes`."
)
FAKED = (
    "build the client without a custom channel, session or endpoint and add the `{fixture}` "
    "fixture."
)


@pytest.mark.parametrize(
    ("target", "method", "name", "fix"),
    [
        (
            "firestore.googleapis.com:443",
            "/google.firestore.v1.Firestore/GetDocument",
            "Firestore",
            UNFAKED.format(name="Firestore"),
        ),
        (
            "bigquerystorage.googleapis.com:443",
            "/google.cloud.bigquery.storage.v1.BigQueryRead/ReadRows",
            "BigQuery Storage",
            UNFAKED.format(name="BigQuery Storage"),
        ),
        (
            "dns:///us-east1-pubsub.googleapis.com:443",
            "/google.pubsub.v1.Publisher/Publish",
            "Pub/Sub",
            FAKED.format(fixture="fake_pubsub"),
        ),
        (
            "storage.googleapis.com:443",
            "/google.storage.v2.Storage/ReadObject",
            "Cloud Storage",
            FAKED.format(fixture="fake_storage"),
        ),
    ],
    ids=["firestore", "bigquerystorage", "pubsub", "storage"],
)
@pytest.mark.parametrize("secure", [False, True], ids=["insecure", "secure"])
def test_grpc_guard_names_the_service_the_channel_is_for(
    target: str, method: str, name: str, fix: str, secure: bool
) -> None:
    if secure:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(target)
    with pytest.raises(BlockedCallError) as caught:
        channel.unary_unary(method)(b"")
    assert caught.value.message == (
        f"pytest-gcpfakes: blocked a call to {name} ({target}{method}), so nothing reached "
        f"Google; {fix}"
    )


def test_aio_grpc_channel_to_an_unfaked_service_is_refused_naming_it() -> None:
    with pytest.raises(BlockedCallError) as caught:
        grpc.aio.insecure_channel("firestore.googleapis.com:443")
    assert caught.value.message == (
        "pytest-gcpfakes: blocked a call to Firestore (firestore.googleapis.com:443), so "
        f"nothing reached Google; {UNFAKED.format(name='Firestore')}"
    )


@pytest.mark.parametrize(
    ("url", "name", "fix"),
    [
        (
            "https://firestore.googleapis.com/v1/projects/p/databases/(default)/documents/a/b",
            "Firestore",
            UNFAKED.format(name="Firestore"),
        ),
        (
            "https://bigquerystorage.googleapis.com/v1/projects/p/locations/us/sessions",
            "BigQuery Storage",
            UNFAKED.format(name="BigQuery Storage"),
        ),
        (
            "https://storage.googleapis.com/storage/v1/b/x",
            "Cloud Storage",
            FAKED.format(fixture="fake_storage"),
        ),
        (
            "https://photos.storage.googleapis.com/a.jpg",
            "Cloud Storage",
            FAKED.format(fixture="fake_storage"),
        ),
        (
            "https://www.googleapis.com/upload/storage/v1/b/x/o",
            "Cloud Storage",
            FAKED.format(fixture="fake_storage"),
        ),
        (
            "https://pubsub.googleapis.com/v1/projects/p/topics/t:publish",
            "Pub/Sub",
            FAKED.format(fixture="fake_pubsub"),
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/project/project-id",
            "the metadata server",
            LOOKUP.format(name="the metadata server"),
        ),
        (
            "https://oauth2.googleapis.com/token",
            "Google's OAuth 2.0 token service",
            LOOKUP.format(name="Google's OAuth 2.0 token service"),
        ),
        (
            "https://translate.googleapis.com/v3/projects/p:translateText",
            "the Google API 'translate'",
            UNFAKED.format(name="the Google API 'translate'"),
        ),
    ],
    ids=[
        "firestore",
        "bigquerystorage",
        "storage",
        "storage-virtual-host",
        "storage-www",
        "pubsub",
        "metadata",
        "token",
        "other",
    ],
)
def test_http_guard_names_the_service_the_url_is_for(url: str, name: str, fix: str) -> None:
    with pytest.raises(BlockedCallError) as caught:
        requests.get(url, timeout=1)
    assert caught.value.message == (
        f"pytest-gcpfakes: blocked a call to {name} (GET {url}), so nothing reached Google; {fix}"
    )
