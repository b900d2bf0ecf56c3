"""One switch, three stacks: ``SUITE_BACKEND`` chooses what the same tests run against.

- ``inprocess`` (default): the plugin's ``fake_pubsub`` / ``fake_storage``; clients built
  the ordinary way (``pubsub_v1.PublisherClient()``, ``storage.Client()``).
- ``server``: server mode. The ``gcpfakes_server`` fixture serves this test's fakes on
  loopback (Pub/Sub over gRPC through its relay process, Storage over HTTP); the clients
  are built on those addresses as for an emulator (explicit gRPC channels, ``api_endpoint``).
  While a Storage fake is active the plugin serves its loopback endpoint in the test
  process, so Storage calls made here do not cross the socket; Pub/Sub calls do.
- ``emulators``: Google's Pub/Sub emulator (``gcloud beta emulators pubsub start``) and
  fake-gcs-server (``-backend memory``), started once for the session, run with
  ``-p no:gcpfakes``. Neither can be reset, so each test gets a Pub/Sub project of its own
  and deletes what it created at teardown, as a team on the emulators would.

Test bodies only use the :class:`Stack` a test gets: clients, names, and
:meth:`Stack.wait_out`, which waits out an ack deadline (``clock.advance`` on the fakes,
real time on the emulator, which cannot be told otherwise).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from docstore.service import Settings, create_app
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

BACKEND = os.environ.get("SUITE_BACKEND", "inprocess")
BACKENDS = ("inprocess", "server", "emulators")
if BACKEND not in BACKENDS:
    raise pytest.UsageError(f"SUITE_BACKEND={BACKEND!r}: choose one of {', '.join(BACKENDS)}")
RPC_SECONDS = 30.0
PULL_SECONDS = 60.0
"""Upper bound on waiting for messages to arrive (the emulator redelivers on its own time)."""
BENCHMARKS = Path(__file__).resolve().parent.parent

os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")


@dataclass
class Stack:
    """What a test sees of its backend: real clients, names, and waiting out time."""

    project: str
    publisher: pubsub_v1.PublisherClient
    subscriber: pubsub_v1.SubscriberClient
    gcs: storage.Client
    new_publisher: Callable[..., pubsub_v1.PublisherClient]
    """A publisher with other options (ordering, batch settings); closed at teardown."""
    signing: Any
    """Credentials the service signs URLs with (None: the client's own)."""
    advance: Callable[[float], None]
    cleanup: bool
    """Whether the test deletes what it created (the emulators cannot be reset)."""
    topics: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    publishers: list[pubsub_v1.PublisherClient] = field(default_factory=list)

    def topic(self, name: str = "events") -> str:
        path = self.publisher.create_topic(
            name=f"projects/{self.project}/topics/{name}", timeout=RPC_SECONDS
        ).name
        self.topics.append(path)
        return path

    def subscription(self, topic: str, name: str = "events-sub", **fields: Any) -> str:
        path = self.subscriber.create_subscription(
            request={
                "name": f"projects/{self.project}/subscriptions/{name}",
                "topic": topic,
                **fields,
            },
            timeout=RPC_SECONDS,
        ).name
        self.subscriptions.insert(0, path)
        return path

    def bucket(self, prefix: str = "docs") -> storage.Bucket:
        bucket = self.gcs.create_bucket(f"{prefix}-{uuid.uuid4().hex[:12]}")
        self.buckets.append(bucket.name)
        return bucket

    def publisher_with(self, **options: Any) -> pubsub_v1.PublisherClient:
        publisher = self.new_publisher(**options)
        self.publishers.append(publisher)
        return publisher

    def pull(self, subscription: str, count: int, *, max_messages: int = 100) -> list[Any]:
        """Pull until ``count`` messages came (without acknowledging them)."""
        got: list[Any] = []
        give_up = time.monotonic() + PULL_SECONDS
        while len(got) < count:
            if time.monotonic() > give_up:
                raise AssertionError(f"{len(got)} of {count} messages in {PULL_SECONDS:.0f} s")
            response = self.subscriber.pull(
                subscription=subscription, max_messages=max_messages, timeout=RPC_SECONDS
            )
            got.extend(response.received_messages)
        return got

    def pull_now(self, subscription: str) -> list[Any]:
        """What a pull returns at once (``return_immediately``): often nothing."""
        response = self.subscriber.pull(
            subscription=subscription,
            max_messages=100,
            return_immediately=True,
            timeout=RPC_SECONDS,
        )
        return list(response.received_messages)

    def ack(self, subscription: str, received: list[Any]) -> None:
        self.subscriber.acknowledge(
            subscription=subscription, ack_ids=[r.ack_id for r in received], timeout=RPC_SECONDS
        )

    def nack(self, subscription: str, received: list[Any]) -> None:
        self.subscriber.modify_ack_deadline(
            subscription=subscription,
            ack_ids=[r.ack_id for r in received],
            ack_deadline_seconds=0,
            timeout=RPC_SECONDS,
        )

    def wait_out(self, seconds: float) -> None:
        """Let ``seconds`` pass for the backend's ack deadlines."""
        self.advance(seconds)

    def close(self) -> None:
        for publisher in self.publishers:
            publisher.stop()
            publisher.transport.close()
        if not self.cleanup:
            return
        for subscription in self.subscriptions:
            with contextlib.suppress(Exception):
                self.subscriber.delete_subscription(subscription=subscription, timeout=RPC_SECONDS)
        for topic in self.topics:
            with contextlib.suppress(Exception):
                self.publisher.delete_topic(topic=topic, timeout=RPC_SECONDS)
        for name in self.buckets:
            bucket = self.gcs.bucket(name)
            for blob in self.gcs.list_blobs(name, versions=True):
                with contextlib.suppress(Exception):
                    blob.delete()
            with contextlib.suppress(Exception):
                bucket.delete()


# ---------------------------------------------------------------------------------------
# Session-wide clients per backend


def _channel_clients(address: str) -> tuple[Any, Any, Callable[..., Any]]:
    def publisher(**options: Any) -> pubsub_v1.PublisherClient:
        channel = grpc.insecure_channel(address)
        transport = PublisherGrpcTransport(channel=channel)
        return pubsub_v1.PublisherClient(transport=transport, **options)

    channel = grpc.insecure_channel(address)
    subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    return publisher(), subscriber, publisher


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, str]]:
    """Google's Pub/Sub emulator and fake-gcs-server, for the whole session."""
    sys.path.insert(0, str(BENCHMARKS))
    import _common

    with contextlib.ExitStack() as stack:
        address, why = stack.enter_context(_common.pubsub_emulator())
        if address is None:
            pytest.exit(f"the Pub/Sub emulator did not start: {why}", returncode=3)
        python = _common.gcs_venv_python()
        if isinstance(python, str):
            pytest.exit(f"fake-gcs-server is not installed: {python}", returncode=3)
        port = _common.free_port()
        url = f"http://{_common.LOOPBACK}:{port}"
        command = _common.fake_gcs_server_command(python, port)
        why_not = stack.enter_context(_common.loopback_server("fake-gcs-server", command, url))
        if why_not is not None:
            pytest.exit(f"fake-gcs-server did not start: {why_not}", returncode=3)
        yield {"pubsub": address, "storage": url}


def _signing_credentials() -> Any:
    """Credentials that can sign URLs (fake-gcs-server does not check signatures): a
    service account key made for this session, as a team would keep one for tests."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "suite@suite-project.iam.gserviceaccount.com",
            "private_key": pem,
            "private_key_id": "suite",
            "token_uri": "http://127.0.0.1:9/token",
        }
    )


_SESSION: dict[str, Any] = {}


def _emulator_clients(request: pytest.FixtureRequest) -> dict[str, Any]:
    if "emulators" not in _SESSION:
        addresses = request.getfixturevalue("emulators")
        publisher, subscriber, new_publisher = _channel_clients(addresses["pubsub"])
        gcs = storage.Client(
            project="suite-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": addresses["storage"]},
        )
        _SESSION["emulators"] = {
            "publisher": publisher,
            "subscriber": subscriber,
            "new_publisher": new_publisher,
            "gcs": gcs,
            "signing": _signing_credentials(),
        }
    return _SESSION["emulators"]  # type: ignore[no-any-return]


def _server_clients(server: Any) -> dict[str, Any]:
    key = f"server {server.pubsub_address}"
    if key not in _SESSION:
        publisher, subscriber, new_publisher = _channel_clients(server.pubsub_address)
        # Built without credentials: under the plugin such a client gets credentials that
        # sign with the fakes' test-only signer.
        gcs = storage.Client(client_options={"api_endpoint": server.storage_url})
        _SESSION[key] = {
            "publisher": publisher,
            "subscriber": subscriber,
            "new_publisher": new_publisher,
            "gcs": gcs,
            "signing": None,
        }
    return _SESSION[key]  # type: ignore[no-any-return]


def _inprocess_clients() -> dict[str, Any]:
    if "inprocess" not in _SESSION:
        gcs = storage.Client()
        _SESSION["inprocess"] = {
            "publisher": pubsub_v1.PublisherClient(),
            "subscriber": pubsub_v1.SubscriberClient(),
            "new_publisher": lambda **options: pubsub_v1.PublisherClient(**options),
            "gcs": gcs,
            "signing": None,
        }
    return _SESSION["inprocess"]  # type: ignore[no-any-return]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for clients in _SESSION.values():
        clients["publisher"].stop()
        clients["publisher"].transport.close()
        clients["subscriber"].close()
        clients["gcs"].close()
    _SESSION.clear()


def _real_sleep(seconds: float) -> None:
    # The emulator's ack deadlines run on its own clock: only real time moves them (plus
    # a margin for its expiry sweep).
    time.sleep(seconds + 0.5)


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    if BACKEND == "emulators":
        clients = _emulator_clients(request)
        project = f"suite-{uuid.uuid4().hex[:12]}"  # no reset: a project per test
        advance: Callable[[float], None] = _real_sleep
    else:
        fakes = request.getfixturevalue("gcpfakes")
        request.getfixturevalue("fake_pubsub")
        request.getfixturevalue("fake_storage")
        if BACKEND == "server":
            clients = _server_clients(request.getfixturevalue("gcpfakes_server"))
        else:
            clients = _inprocess_clients()
        project = fakes.project
        advance = fakes.clock.advance
    the_stack = Stack(
        project=project,
        publisher=clients["publisher"],
        subscriber=clients["subscriber"],
        gcs=clients["gcs"],
        new_publisher=clients["new_publisher"],
        signing=clients["signing"],
        advance=advance,
        cleanup=BACKEND == "emulators",
    )
    yield the_stack
    the_stack.close()


@pytest.fixture
def documents(stack: Stack) -> tuple[storage.Bucket, str]:
    """The service's bucket and topic."""
    return stack.bucket(), stack.topic("documents")


@pytest.fixture
def app(stack: Stack, documents: tuple[storage.Bucket, str]) -> Any:
    bucket, topic = documents
    settings = Settings(bucket=bucket.name, topic=topic, signing=stack.signing)
    return create_app(stack.publisher, stack.gcs, settings)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def in_minutes(minutes: int) -> datetime.timedelta:
    return datetime.timedelta(minutes=minutes)
