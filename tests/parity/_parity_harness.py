"""What the parity fixtures hand out, and the Pub/Sub emulator process behind them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.pubsub_v1 import SchemaServiceClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

LOOPBACK = "127.0.0.1"
EMULATOR_PROJECT = "gcpfakes-parity"
EMULATOR_START_SECONDS = 60.0
"""How long the emulator may take to answer its first RPC (it usually needs 3 to 10 s)."""
# Reconnect quickly while the emulator is still starting (gRPC's default backoff grows to
# minutes); these options apply only to the channels the harness opens.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


@dataclass
class Backend:
    """One Pub/Sub backend as a parity test sees it: real clients and the names to use."""

    kind: str
    """``"fake"``, ``"server"`` or ``"emulator"``."""
    project: str
    publisher: pubsub_v1.PublisherClient
    subscriber: pubsub_v1.SubscriberClient
    _new_publisher: Callable[..., pubsub_v1.PublisherClient]
    _new_schema_client: Callable[[], Any]
    _owned: list[pubsub_v1.PublisherClient] = field(default_factory=list)
    _schema_clients: list[Any] = field(default_factory=list)

    @property
    def project_path(self) -> str:
        return f"projects/{self.project}"

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def snapshot_path(self, name: str) -> str:
        return f"projects/{self.project}/snapshots/{name}"

    @staticmethod
    def unique(name: str) -> str:
        """``name`` plus a suffix never used before (the emulator stalls on reused names)."""
        return f"{name}-{uuid.uuid4().hex[:10]}"

    def new_publisher(self, **options: Any) -> pubsub_v1.PublisherClient:
        """Another publisher on this backend (e.g. with ``publisher_options``), closed for you."""
        client = self._new_publisher(**options)
        self._owned.append(client)
        return client

    def schema_client(self) -> Any:
        """A ``SchemaServiceClient`` on this backend, closed for you."""
        client = self._new_schema_client()
        self._schema_clients.append(client)
        return client

    def close(self) -> None:
        for publisher in [self.publisher, *self._owned]:
            publisher.stop()
            publisher.transport.close()
        self.subscriber.close()
        for client in self._schema_clients:
            client.transport.close()


def fake_backend(project: str) -> Backend:
    """Default-built clients: under the plugin they reach the active ``fake_pubsub``."""
    return Backend(
        kind="fake",
        project=project,
        publisher=pubsub_v1.PublisherClient(),
        subscriber=pubsub_v1.SubscriberClient(),
        _new_publisher=pubsub_v1.PublisherClient,
        _new_schema_client=SchemaServiceClient,
    )


def server_backend(address: str, project: str) -> Backend:
    """Clients with an explicit gRPC transport to our own server (``gcpfakes_server``).

    The server serves the test's fresh ``fake_pubsub``, so the fake's project is clean.
    """
    return Backend(
        kind="server",
        project=project,
        publisher=channel_publisher(address),
        subscriber=channel_subscriber(address),
        _new_publisher=lambda **options: channel_publisher(address, **options),
        _new_schema_client=lambda: channel_schema_client(address),
    )


def emulator_backend(address: str) -> Backend:
    """Clients with an explicit gRPC transport to the emulator, in a project of their own."""
    return Backend(
        kind="emulator",
        # The emulator cannot be reset: a fresh project per test isolates the tests.
        project=f"parity-{uuid.uuid4().hex[:12]}",
        publisher=channel_publisher(address),
        subscriber=channel_subscriber(address),
        _new_publisher=lambda **options: channel_publisher(address, **options),
        _new_schema_client=lambda: channel_schema_client(address),
    )


def channel_publisher(address: str, **options: Any) -> pubsub_v1.PublisherClient:
    """A publisher on a gRPC channel of its own to ``address`` (emulator or our server).

    An explicit transport bypasses the plugin's in-memory one (the ``"grpc"`` entry of the
    transport registry); the plugin's channel guard blocks only Google hosts, so a
    loopback channel goes through.
    """
    channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    with _emulator_host_unset():
        transport = PublisherGrpcTransport(channel=channel)
        return pubsub_v1.PublisherClient(transport=transport, **options)


def channel_subscriber(address: str) -> pubsub_v1.SubscriberClient:
    channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    with _emulator_host_unset():
        return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))


@contextlib.contextmanager
def _emulator_host_unset() -> Iterator[None]:
    """Build a client on an explicit transport as if ``PUBSUB_EMULATOR_HOST`` were unset.

    gcpfakes_server sets it; google-cloud-pubsub before 2.28 then passes anonymous
    credentials beside the transport, which the GAPIC client refuses ("When providing a
    transport instance, provide its credentials directly."). The variable means nothing to
    a client given its channel.
    """
    saved = os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PUBSUB_EMULATOR_HOST"] = saved


def channel_schema_client(address: str) -> SchemaServiceClient:
    channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    return SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))


# ---------------------------------------------------------------------------------------
# Where the fake's calls came from


@dataclass
class ServedCalls:
    """The RPCs this process's Pub/Sub service layer served, by the face that asked.

    ``wire`` holds the gRPC method paths that arrived as bytes, through a wire face (the
    relay's gRPC face over the link, the REST face); ``in_process`` those that came from
    the plugin's in-memory transport. A server-leg test that made its RPCs over the wire
    has the first and not the second.
    """

    wire: list[str] = field(default_factory=list)
    in_process: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _add(self, into: list[str], path: str) -> None:
        with self._lock:
            into.append(path)


@contextlib.contextmanager
def served_calls() -> Iterator[ServedCalls]:
    """Record, for the block's duration, which face each served Pub/Sub RPC came through.

    Wraps the service layer's two bytes entry points (what ``LocalCaller``, behind the
    link and the REST face, calls) and the two functions the in-memory transport calls,
    restoring all four afterwards. Calls from every thread are counted.
    """
    from pytest_gcpfakes.pubsub import _service, _transport

    seen = ServedCalls()
    call_bytes, stream_bytes = _service.call_bytes, _service.stream_bytes
    call, open_stream = _transport._call, _transport._open_stream

    def wire_unary(path: str, *args: Any, **kwargs: Any) -> Any:
        seen._add(seen.wire, path)
        return call_bytes(path, *args, **kwargs)

    def wire_stream(path: str, *args: Any, **kwargs: Any) -> Any:
        seen._add(seen.wire, path)
        return stream_bytes(path, *args, **kwargs)

    def local_unary(rpc: Any, *args: Any, **kwargs: Any) -> Any:
        seen._add(seen.in_process, rpc.path)
        return call(rpc, *args, **kwargs)

    def local_stream(rpc: Any, *args: Any, **kwargs: Any) -> Any:
        seen._add(seen.in_process, rpc.path)
        return open_stream(rpc, *args, **kwargs)

    _service.call_bytes, _service.stream_bytes = wire_unary, wire_stream
    _transport._call, _transport._open_stream = local_unary, local_stream
    try:
        yield seen
    finally:
        _service.call_bytes, _service.stream_bytes = call_bytes, stream_bytes
        _transport._call, _transport._open_stream = call, open_stream


# ---------------------------------------------------------------------------------------
# The emulator process


def free_port() -> int:
    """A port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_emulator(gcloud: str, address: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``gcloud beta emulators pubsub start`` in its own process group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={address}",
                f"--project={EMULATOR_PROJECT}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # gcloud runs Java as a child: stop them as one group
        )


def wait_until_serving(process: subprocess.Popen[bytes], address: str, log: Path) -> None:
    """Return once the emulator answers an RPC; raise if it exits or the deadline passes."""
    give_up = time.monotonic() + EMULATOR_START_SECONDS
    channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"The Pub/Sub emulator exited with status {process.returncode} before "
                    f"serving on {address}:\n{_tail(log)}"
                )
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"The Pub/Sub emulator did not serve on {address} within "
                    f"{EMULATOR_START_SECONDS:.0f} s:\n{_tail(log)}"
                )
            # Wait for the channel to connect (at most a second, then look at the process
            # again), then make one trivial RPC.
            ready = grpc.channel_ready_future(channel)
            try:
                ready.result(timeout=min(remaining, 1.0))
            except grpc.FutureTimeoutError:
                ready.cancel()
                continue
            try:
                publisher.list_topics(
                    request={"project": f"projects/{EMULATOR_PROJECT}"}, timeout=remaining
                )
            except exceptions.GoogleAPICallError:
                continue
            return
    finally:
        publisher.transport.close()


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    """Stop the emulator's whole process group: SIGTERM, then SIGKILL for what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # gcloud can exit before its Java child does.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
