"""Server mode: the cost of one call over loopback, beside the same call in-process.

Every backend is measured in one run through the same real client objects' code, in
alternating rounds (each round runs every backend in turn, starting one later each round);
each cell is the median of the rounds' costs per call, with the fastest and slowest round.
The client always runs in this process; every server runs in a process of its own, as the
application under test would reach it (a subprocess, a container, a forked worker).

Pub/Sub (``get_topic`` on ``pubsub_v1.PublisherClient``, one-message ``publish`` on the
GAPIC ``PublisherClient``, and an empty ``pull`` with ``return_immediately`` on
``pubsub_v1.SubscriberClient``), each client on an explicit gRPC channel of its own:

- CLI: ``python -m pytest_gcpfakes serve`` (gRPC in-process, behind the switch).
- relay: ``GCPFakes().serve()`` in another process, as the ``gcpfakes_server`` fixture runs
  it: the switch and the gRPC face in a relay process, which reaches the fakes' process
  over the link (frames on kept connections).
- do-nothing grpcio server (the floor): ``grpc.server`` with generic handlers that answer
  each method with pre-serialized bytes (recorded from the fake) without reading the
  request. No server under the real client can beat it.
- in-process: the same calls on default-built clients (the in-memory transport).
- Google's emulator (``gcloud beta emulators pubsub start``), warmed up first; skipped
  with the reason when gcloud is missing or it does not start.

Storage (``upload_from_string`` of 1 KiB, ``download_as_bytes`` of 1 KiB on a fresh
``Blob``, ``bucket.get_blob``) through ``storage.Client`` over HTTP:

- ours: ``serve_wsgi(storage_server_app)``; also the Storage server ``GCPFakes().serve()``
  starts (the same app behind ``ProxyFix``, for links across processes).
- do-nothing WSGI app (the floor): the same ``serve_wsgi`` (werkzeug) server with an app
  that reads the request and answers with a response recorded from the fake.
- in-process: the real client on the plugin's ``requests`` adapter, no socket.
- fake-gcs-server (``-backend memory``) as ``bench_storage.py`` installs and runs it,
  skipped with the reason when it cannot.

Target: a call through our servers costs at most 1.3x the same call on the do-nothing
server (ratios of medians). Ratios to Google's emulator and fake-gcs-server are printed
without a target.

Then where the relay's time goes, from rows measured side by side the same way: the
do-nothing server behind a switch; our gRPC face on its own process's fakes without a
switch; the relay's gRPC face without its switch; the link call alone; one exchange with a
do-nothing peer as HTTP/1.1 on werkzeug (which closes every connection), on a keep-alive
``http.server``, and as length-prefixed frames on a kept socket (what the link does, minus
the work); the service layer alone. Storage gets one what-if row: the do-nothing app on a
keep-alive server.

``--quick``: fewer rounds and calls. ``--json PATH``: also write the numbers as JSON.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import functools
import http.client
import http.server
import io
import itertools
import json
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from _common import (
    Spread,
    StorageCannedHandle,
    StorageRecorder,
    alternating_rounds,
    fake_gcs_server_command,
    free_port,
    gcs_venv_python,
    loopback_server,
    machine,
    pubsub_emulator,
    with_timeout,
)
from _common import activated as _activated
from _common import gcpfakes_cli as _cli
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.pubsub_v1 import types
from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from pytest_gcpfakes import GCPFakes, _registry
from pytest_gcpfakes.pubsub import _service

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3
LOOPBACK = "127.0.0.1"
START_SECONDS = 60.0
"""Upper bound on a server process's start-up."""
RPC_SECONDS = 30.0
"""Deadline of every call (the same for every backend)."""

GET_TOPIC = "/google.pubsub.v1.Publisher/GetTopic"
PUBLISH = "/google.pubsub.v1.Publisher/Publish"
PULL = "/google.pubsub.v1.Subscriber/Pull"
PUBSUB_OPS = {"GetTopic": GET_TOPIC, "Publish": PUBLISH, "Pull (empty)": PULL}
STORAGE_OPS = ("upload 1 KiB", "download 1 KiB", "get metadata")
MESSAGE_DATA = b"x" * 100
PAYLOAD = (b"gcpfakes-bench-" * 70)[:1024]
BUCKET = "bench-bucket"
OBJECT = "small/object.bin"
UPLOAD_NAMES = 64
LINK_UNARY = "/_gcpfakes/v1/unary"

# Backend names (rows).
CLI = "gcpfakes CLI (gRPC in-process, behind the switch)"
RELAY = "gcpfakes relay (GCPFakes().serve(), gcpfakes_server)"
GRPC_FLOOR = "do-nothing grpcio server (floor)"
IN_PROCESS = "in-process (no socket)"
EMULATOR = "Google's Pub/Sub emulator (warmed)"
STORAGE_OURS = "gcpfakes serve_wsgi(storage_server_app)"
STORAGE_SERVE = "gcpfakes Storage of GCPFakes().serve()"
WSGI_FLOOR = "do-nothing WSGI app, same werkzeug server (floor)"
FAKE_GCS = "fake-gcs-server (Go, -backend memory)"
# Rows of the relay breakdown.
FLOOR_SWITCH = "do-nothing grpcio server behind a switch"
LOCAL_FACE = "our gRPC face on its own process's fakes, no switch"
RELAY_FACE = "relay's gRPC face over the link, no switch"
LINK_CALL = "link call alone (RemoteCaller -> LinkApp, frames on a kept connection)"
WERKZEUG_HOP = "HTTP/1.1 to a do-nothing app on werkzeug (closes each connection)"
KEEPALIVE_HOP = "HTTP/1.1 to a do-nothing keep-alive http.server"
FRAMED_HOP = "length-prefixed frames to a do-nothing socket server, connection kept"
WSGI_KEEPALIVE_FLOOR = "do-nothing WSGI app on a keep-alive http.server (what-if)"
SERVICE = "service layer alone (bytes in, bytes out, in-process)"


@dataclass(frozen=True)
class Settings:
    rounds: int
    pubsub_calls: int
    storage_calls: int
    warmup: int
    emulator_warmup: int


FULL = Settings(rounds=41, pubsub_calls=40, storage_calls=20, warmup=200, emulator_warmup=3000)
QUICK = Settings(rounds=5, pubsub_calls=30, storage_calls=15, warmup=50, emulator_warmup=500)


@dataclass
class Backend:
    """One row: a call per operation, or why it could not be measured."""

    name: str
    calls: dict[str, Callable[[], object]] = field(default_factory=dict)
    skipped: str | None = None
    around: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    warmup: int | None = None


@dataclass(frozen=True)
class Names:
    project: str

    @property
    def topic(self) -> str:
        return f"projects/{self.project}/topics/bench"

    @property
    def publish_topic(self) -> str:
        # Publishes go to a topic without subscriptions, so the pulled one stays empty.
        return f"projects/{self.project}/topics/bench-publish"

    @property
    def subscription(self) -> str:
        return f"projects/{self.project}/subscriptions/bench-sub"

    def request_bytes(self) -> dict[str, bytes]:
        """The serialized request of each Pub/Sub operation, by gRPC method path."""
        return {
            GET_TOPIC: types.GetTopicRequest.serialize(types.GetTopicRequest(topic=self.topic)),
            PUBLISH: types.PublishRequest.serialize(
                types.PublishRequest(
                    topic=self.publish_topic, messages=[types.PubsubMessage(data=MESSAGE_DATA)]
                )
            ),
            PULL: types.PullRequest.serialize(
                types.PullRequest(
                    subscription=self.subscription, max_messages=10, return_immediately=True
                )
            ),
        }


# ---------------------------------------------------------------------------------------
# Server processes: this script started with --child KIND


def _child_relay(config: dict[str, Any], stack: ExitStack) -> dict[str, str]:
    """What the gcpfakes_server fixture runs: this process's fakes, served (relay mode)."""
    fakes = stack.enter_context(GCPFakes())
    servers = fakes.serve()
    return {
        "pubsub": servers.pubsub_address,
        "storage": servers.storage_url,
        "link": servers.link_url,
    }


def _child_storage(config: dict[str, Any], stack: ExitStack) -> dict[str, str]:
    from pytest_gcpfakes.server._http import serve_wsgi, storage_server_app

    stack.enter_context(GCPFakes(services=("storage",)))
    server = stack.enter_context(serve_wsgi(storage_server_app))
    return {"storage": server.url}


def _child_local_grpc(config: dict[str, Any], stack: ExitStack) -> dict[str, str]:
    """Our gRPC face on this process's fakes, without the CLI's switch in front."""
    from pytest_gcpfakes.server._grpc import start_grpc_server

    stack.enter_context(GCPFakes(services=("pubsub",)))
    face = stack.enter_context(start_grpc_server())
    return {"direct": face.address}


def _child_relay_face(config: dict[str, Any], stack: ExitStack) -> dict[str, str]:
    """The relay's pieces without its switch: a gRPC face forwarding over a given link."""
    from pytest_gcpfakes.server._grpc import start_grpc_server
    from pytest_gcpfakes.server._link import RemoteCaller

    face = stack.enter_context(start_grpc_server(RemoteCaller(config["link"])))
    return {"direct": face.address}


class _CannedGrpc(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Answers each method with the same pre-serialized bytes; never reads the request."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self._handlers = {
            path: grpc.unary_unary_rpc_method_handler(lambda request, context, a=answer: a)
            for path, answer in answers.items()
        }

    def service(self, handler_call_details: Any) -> Any:
        return self._handlers.get(handler_call_details.method)


def _canned_wsgi(
    storage_answers: dict[str, tuple[str, list[tuple[str, str]], bytes]],
    pubsub_answers: dict[str, bytes],
) -> Callable[..., list[bytes]]:
    """A WSGI app that reads the request and replays a recorded answer: Storage's by the
    path's first segment (upload, download, storage), the link's by gRPC method path."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):
            environ["wsgi.input"].read()
        path: str = environ["PATH_INFO"]
        if path.startswith(LINK_UNARY):
            body = pubsub_answers[path[len(LINK_UNARY) :]]
            headers = [("Content-Type", "application/x-protobuf")]
            headers.append(("Content-Length", str(len(body))))
            start_response("200 OK", headers)
            return [body]
        status, headers, body = storage_answers[path.split("/", 2)[1]]
        start_response(status, headers)
        return [body]

    return app


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """The least a WSGI host on stdlib ``http.server`` does, keeping connections open.

    What-if rows only: the link and the Storage floor without werkzeug's one connection
    (and one thread) per request. Request bodies must come with a Content-Length.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    app: Callable[..., Any]

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length) if length else "",
            "SERVER_NAME": LOOPBACK,
            "SERVER_PORT": str(self.server.server_port),  # type: ignore[attr-defined]
            "SERVER_PROTOCOL": self.request_version,
            "wsgi.input": io.BytesIO(self.rfile.read(length) if length else b""),
            "wsgi.url_scheme": "http",
        }
        for name, value in self.headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            answer[:] = [status, headers]

        body = b"".join(type(self).app(environ, start_response))
        status, headers = answer
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _KeepAliveServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve_keepalive(app: Callable[..., Any], stack: ExitStack) -> str:
    handler = type("Handler", (_KeepAliveHandler,), {"app": staticmethod(app)})
    server = _KeepAliveServer((LOOPBACK, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return f"http://{LOOPBACK}:{server.server_address[1]}"


_FRAME = struct.Struct(">I")


def _serve_framed(answer: Callable[[str, bytes], bytes], stack: ExitStack) -> str:
    """The least any link can do: length-prefixed frames on connections kept open
    (``path \\n payload`` in, ``answer(path, payload)`` out), a thread per connection.
    No error path: a prototype for measuring, not a protocol."""
    listener = socket.create_server((LOOPBACK, 0))

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        incoming = conn.makefile("rb")
        with conn, incoming:
            while True:
                header = incoming.read(_FRAME.size)
                if len(header) < _FRAME.size:
                    return
                path, _, payload = incoming.read(_FRAME.unpack(header)[0]).partition(b"\n")
                reply = answer(path.decode(), payload)
                conn.sendall(_FRAME.pack(len(reply)) + reply)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    stack.callback(listener.close)
    return f"{LOOPBACK}:{listener.getsockname()[1]}"


class _HttpCaller:
    """One HTTP/1.1 POST per call to a do-nothing app (``LINK_UNARY`` + method path), on a
    connection kept as long as the server keeps it (werkzeug closes it after each answer)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self._address = (parts.hostname or LOOPBACK, parts.port or 80)
        self._local = threading.local()

    def unary(self, path: str, payload: bytes) -> bytes:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(*self._address)
        conn.request("POST", LINK_UNARY + path, body=payload)
        return bytes(conn.getresponse().read())  # a closing answer closes conn: reopened


class _FramedCaller:
    """The client side of :func:`_serve_framed`: a connection per thread, kept open."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._local = threading.local()

    def unary(self, path: str, payload: bytes) -> bytes:
        ends = getattr(self._local, "ends", None)
        if ends is None:
            sock = socket.create_connection(self._address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ends = self._local.ends = (sock, sock.makefile("rb"))
        sock, incoming = ends
        data = path.encode() + b"\n" + payload
        sock.sendall(_FRAME.pack(len(data)) + data)
        size: int = _FRAME.unpack(incoming.read(_FRAME.size))[0]
        return bytes(incoming.read(size))


def _child_floor(config: dict[str, Any], stack: ExitStack) -> dict[str, str]:
    """The do-nothing servers: grpcio (direct and behind a switch), werkzeug, http.server."""
    from pytest_gcpfakes.server._grpc import MAX_WORKERS, SERVER_OPTIONS
    from pytest_gcpfakes.server._http import serve_wsgi
    from pytest_gcpfakes.server._switch import Switch

    pubsub_answers = {path: base64.b64decode(v) for path, v in config["pubsub"].items()}
    storage_answers = {
        endpoint: (status, [tuple(h) for h in headers], base64.b64decode(body))
        for endpoint, (status, headers, body) in config["storage"].items()
    }
    # Built as our gRPC face is (same executor size, same options), minus the work.
    executor = futures.ThreadPoolExecutor(MAX_WORKERS)
    server = grpc.server(executor, options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((_CannedGrpc(pubsub_answers),))
    grpc_port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    stack.callback(executor.shutdown)
    stack.callback(lambda: server.stop(0).wait())
    wsgi = stack.enter_context(serve_wsgi(_canned_wsgi(storage_answers, pubsub_answers)))
    switch = Switch((LOOPBACK, grpc_port), (LOOPBACK, wsgi.port))
    stack.callback(switch.stop)
    return {
        "grpc": f"{LOOPBACK}:{grpc_port}",
        "grpc_switch": f"{LOOPBACK}:{switch.port}",
        "wsgi": wsgi.url,
        "keepalive": _serve_keepalive(_canned_wsgi(storage_answers, pubsub_answers), stack),
        "framed": _serve_framed(lambda path, payload: pubsub_answers[path], stack),
    }


CHILDREN: dict[str, Callable[[dict[str, Any], ExitStack], dict[str, str]]] = {
    "relay": _child_relay,
    "storage": _child_storage,
    "local-grpc": _child_local_grpc,
    "relay-face": _child_relay_face,
    "floor": _child_floor,
}


def child_main(kind: str) -> None:
    """Read a JSON config line, start the servers, print their addresses, serve until
    stdin closes (the parent ending, however it ends, ends this process too)."""
    config = json.loads(sys.stdin.readline())
    with ExitStack() as stack:
        print(json.dumps(CHILDREN[kind](config, stack)), flush=True)
        sys.stdin.buffer.read()


def _first_line(stream: Any, timeout: float) -> str:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0].decode(errors="replace").strip() if got else ""


@contextlib.contextmanager
def _child(kind: str, config: dict[str, Any] | None = None) -> Iterator[dict[str, str]]:
    """Run ``--child kind`` in its own process group; yield the addresses it prints."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps(config or {}).encode() + b"\n")
            process.stdin.flush()
            line = _first_line(process.stdout, START_SECONDS)
            if not line.startswith("{"):
                log.seek(0)
                tail = " | ".join(log.read().decode(errors="replace").splitlines()[-5:])
                raise RuntimeError(f"--child {kind} did not start: {line!r} {tail}")
            yield json.loads(line)
        finally:
            _end(process, stdin_first=True)


def _end(process: subprocess.Popen[bytes], *, stdin_first: bool) -> None:
    """End a server process: close its stdin or SIGTERM it, then SIGKILL its group."""
    if stdin_first and process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    elif process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# ---------------------------------------------------------------------------------------
# Pub/Sub


@dataclass
class PubSubClients:
    publisher: pubsub_v1.PublisherClient
    gapic: GapicPublisherClient
    subscriber: pubsub_v1.SubscriberClient

    def calls(self, names: Names) -> dict[str, Callable[[], object]]:
        message: Any = {"data": MESSAGE_DATA}  # as callers write it
        return {
            "GetTopic": lambda: self.publisher.get_topic(topic=names.topic, timeout=RPC_SECONDS),
            "Publish": lambda: self.gapic.publish(
                topic=names.publish_topic, messages=[message], timeout=RPC_SECONDS
            ),
            "Pull (empty)": lambda: self.subscriber.pull(
                subscription=names.subscription,
                max_messages=10,
                return_immediately=True,
                timeout=RPC_SECONDS,
            ),
        }

    def create(self, names: Names) -> None:
        self.publisher.create_topic(name=names.topic, timeout=RPC_SECONDS)
        self.publisher.create_topic(name=names.publish_topic, timeout=RPC_SECONDS)
        self.subscriber.create_subscription(
            name=names.subscription, topic=names.topic, timeout=RPC_SECONDS
        )

    def close(self) -> None:
        self.publisher.stop()
        for transport in (self.publisher.transport, self.gapic.transport):
            transport.close()
        self.subscriber.close()


def _grpc_clients(address: str, stack: ExitStack) -> PubSubClients:
    """The real clients, each on an explicit gRPC channel of its own to ``address``."""
    clients = PubSubClients(
        publisher=pubsub_v1.PublisherClient(
            transport=PublisherGrpcTransport(channel=grpc.insecure_channel(address))
        ),
        gapic=GapicPublisherClient(
            transport=PublisherGrpcTransport(channel=grpc.insecure_channel(address))
        ),
        subscriber=pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(address))
        ),
    )
    stack.callback(clients.close)
    return clients


def _check_pubsub(name: str, calls: dict[str, Callable[[], object]], names: Names) -> None:
    """One call of each operation, checked, before any timing."""
    topic: Any = calls["GetTopic"]()
    if topic.name != names.topic:
        raise AssertionError(f"{name}: get_topic answered {topic.name!r}")
    published: Any = calls["Publish"]()
    if len(published.message_ids) != 1:
        raise AssertionError(f"{name}: publish answered {published!r}")
    pulled: Any = calls["Pull (empty)"]()
    if pulled.received_messages:
        raise AssertionError(f"{name}: the pull was not empty")


def _grpc_backend(
    name: str, address: str, names: Names, stack: ExitStack, *, create: bool
) -> Backend:
    clients = _grpc_clients(address, stack)
    if create:
        clients.create(names)
    calls = clients.calls(names)
    _check_pubsub(name, calls, names)
    return Backend(name, calls)


def _inside(
    context: Callable[[], AbstractContextManager[object]], action: Callable[[], object]
) -> None:
    with context():
        action()


# ---------------------------------------------------------------------------------------
# Storage


def _storage_calls(client: storage.Client) -> dict[str, Callable[[], object]]:
    bucket = client.bucket(BUCKET)
    names = itertools.cycle([f"up/{i:02d}.bin" for i in range(UPLOAD_NAMES)])
    return {
        "upload 1 KiB": lambda: bucket.blob(next(names)).upload_from_string(
            PAYLOAD, content_type="application/octet-stream"
        ),
        "download 1 KiB": lambda: bucket.blob(OBJECT).download_as_bytes(),
        "get metadata": lambda: bucket.get_blob(OBJECT),
    }


def _server_client(url: str) -> storage.Client:
    client = storage.Client(
        project="bench-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )
    client._http.request = with_timeout(client._http.request)
    return client


def _storage_backend(name: str, url: str, stack: ExitStack, *, create: bool) -> Backend:
    client = _server_client(url)
    stack.callback(client.close)
    if create:
        client.create_bucket(BUCKET, timeout=RPC_SECONDS)
        client.bucket(BUCKET).blob(OBJECT).upload_from_string(PAYLOAD)
    calls = _storage_calls(client)
    _check_storage(name, calls)
    return Backend(name, calls)


def _check_storage(name: str, calls: dict[str, Callable[[], object]]) -> None:
    calls["upload 1 KiB"]()
    if calls["download 1 KiB"]() != PAYLOAD:
        raise AssertionError(f"{name}: the download came back with other bytes")
    blob: Any = calls["get metadata"]()
    if blob is None or blob.size != len(PAYLOAD):
        raise AssertionError(f"{name}: get_blob answered {blob!r}")


def _record_storage_answers(
    fakes: GCPFakes, client: storage.Client
) -> dict[str, tuple[str, list[tuple[str, str]], bytes]]:
    """The fake's own answer to each Storage operation (for the do-nothing WSGI app)."""
    recorder = StorageRecorder(fakes.storage.app)
    recording = StorageCannedHandle(recorder, fakes.config)
    _registry.activate(recording)
    try:
        calls = _storage_calls(client)
        for op in STORAGE_OPS:  # get metadata last: "storage" is every JSON API call
            calls[op]()
    finally:
        _registry.deactivate(recording)
    if set(recorder.answers) != {"upload", "download", "storage"}:
        raise RuntimeError(f"recorded {sorted(recorder.answers)}")
    return recorder.answers


def _fake_gcs_server(stack: ExitStack) -> Backend:
    python = gcs_venv_python()
    if isinstance(python, str):
        return Backend(FAKE_GCS, skipped=python)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    try:
        command = fake_gcs_server_command(python, port)
    except (subprocess.SubprocessError, OSError) as error:
        return Backend(FAKE_GCS, skipped=f"cannot find the bundled binary: {error}")
    why = stack.enter_context(loopback_server("fake-gcs-server", command, url))
    if why is not None:
        return Backend(FAKE_GCS, skipped=why)
    try:
        return _storage_backend(FAKE_GCS, url, stack, create=True)
    except Exception as error:
        return Backend(FAKE_GCS, skipped=f"{type(error).__name__}: {str(error)[:300]}")


# ---------------------------------------------------------------------------------------
# Measuring and printing


def measure(
    backends: list[Backend], ops: tuple[str, ...], settings: Settings, per_round: int
) -> dict[str, dict[str, Spread]]:
    """``{op: {backend: Spread}}`` for every backend that was not skipped."""
    live = [b for b in backends if b.skipped is None]
    results: dict[str, dict[str, Spread]] = {}
    for op in ops:
        for backend in live:
            with backend.around():
                for _ in range(backend.warmup or settings.warmup):
                    backend.calls[op]()
        samples = alternating_rounds(
            {b.name: b.calls[op] for b in live},
            settings.rounds,
            per_round,
            around={b.name: b.around for b in live},
        )
        results[op] = {name: Spread.of(s) for name, s in samples.items()}
        print(f"  {op}: measured", flush=True)
    return results


def _cell(spread: Spread | None) -> str:
    if spread is None:
        return "n/a"
    return f"{spread.median * 1e6:,.0f} ({spread.min * 1e6:,.0f}-{spread.max * 1e6:,.0f})"


def table(
    backends: list[Backend], ops: tuple[str, ...], results: dict[str, dict[str, Spread]]
) -> str:
    lines = [
        "| backend | " + " | ".join(f"{op} µs" for op in ops) + " |",
        "|---|" + "---:|" * len(ops),
    ]
    for backend in backends:
        if backend.skipped is not None:
            lines.append(
                f"| {backend.name} | " + " | ".join("null" for _ in ops) + " |"
                f" <!-- {backend.skipped} -->"
            )
            continue
        lines.append(
            f"| {backend.name} | "
            + " | ".join(_cell(results[op].get(backend.name)) for op in ops)
            + " |"
        )
    return "\n".join(lines)


def ratio_table(
    rows: list[str],
    bases: list[str],
    ops: tuple[str, ...],
    results: dict[str, dict[str, Spread]],
) -> str:
    lines = [
        "| ratio (medians) | " + " | ".join(ops) + " |",
        "|---|" + "---:|" * len(ops),
    ]
    for row in rows:
        for base in bases:
            if base == row:
                continue
            cells = []
            for op in ops:
                mine, theirs = results[op].get(row), results[op].get(base)
                cells.append(
                    "null"
                    if mine is None or theirs is None
                    else f"{mine.median / theirs.median:.2f}"
                )
            lines.append(f"| {_short(row)} / {_short(base)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SHORT = {
    CLI: "CLI",
    RELAY: "relay",
    GRPC_FLOOR: "grpcio floor",
    IN_PROCESS: "in-process",
    EMULATOR: "emulator",
    STORAGE_OURS: "ours",
    STORAGE_SERVE: "ours (serve())",
    WSGI_FLOOR: "WSGI floor",
    FAKE_GCS: "fake-gcs-server",
}


def _short(name: str) -> str:
    return SHORT.get(name, name)


def verdicts(
    rows: list[str], floor: str, ops: tuple[str, ...], results: dict[str, dict[str, Spread]]
) -> list[str]:
    lines = []
    for row in rows:
        parts = []
        for op in ops:
            mine, base = results[op].get(row), results[op].get(floor)
            if mine is None or base is None:
                parts.append(f"{op} not measured")
                continue
            ratio = mine.median / base.median
            parts.append(f"{op} {ratio:.2f}x {'met' if ratio <= TARGET else 'NOT met'}")
        lines.append(
            f"target: {_short(row)} at most {TARGET}x the {_short(floor)}: " + ", ".join(parts)
        )
    return lines


# ---------------------------------------------------------------------------------------


def _unary_calls(caller: Any, requests: dict[str, bytes]) -> dict[str, Callable[[], object]]:
    """Each operation's serialized request handed to ``caller.unary`` (a link's caller, the
    framed caller, the service layer), as the relay hands it over."""
    calls: dict[str, Callable[[], object]] = {
        op: functools.partial(caller.unary, path, requests[path]) for op, path in PUBSUB_OPS.items()
    }
    return calls


def _link_calls(url: str, requests: dict[str, bytes]) -> dict[str, Callable[[], object]]:
    from pytest_gcpfakes.server._link import RemoteCaller

    return _unary_calls(RemoteCaller(url), requests)


def run(settings: Settings) -> dict[str, Any]:
    names = Names(project=f"bench-{uuid.uuid4().hex[:10]}")
    requests = names.request_bytes()
    ops = tuple(PUBSUB_OPS)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings.__dict__,
        "load_average_at_start": _load(),
    }
    with ExitStack() as stack:
        fakes = stack.enter_context(GCPFakes())
        handles = (fakes.pubsub, fakes.storage)
        in_process = _activated(*handles)
        for handle in handles:  # current only around the in-process rounds (see _common.activated)
            _registry.deactivate(handle)
        with in_process():
            local = PubSubClients(
                pubsub_v1.PublisherClient(), GapicPublisherClient(), pubsub_v1.SubscriberClient()
            )
            stack.callback(_inside, in_process, local.close)
            local.create(names)
            pubsub_answers = {path: _service.call_bytes(path, requests[path]) for path in requests}
            local_calls = local.calls(names)
            _check_pubsub(IN_PROCESS, local_calls, names)
            local_storage = storage.Client()
            stack.callback(_inside, in_process, local_storage.close)
            local_storage.create_bucket(BUCKET)
            local_storage.bucket(BUCKET).blob(OBJECT).upload_from_string(PAYLOAD)
            storage_answers = _record_storage_answers(fakes, local_storage)
            local_storage_calls = _storage_calls(local_storage)
            _check_storage(IN_PROCESS, local_storage_calls)
            service_calls = _unary_calls(_service.LOCAL, requests)

        print("starting the servers (start-up not timed)", flush=True)
        emulator_address, emulator_why = stack.enter_context(pubsub_emulator())
        cli = stack.enter_context(_cli())
        relay = stack.enter_context(_child("relay"))
        floor = stack.enter_context(
            _child(
                "floor",
                {
                    "pubsub": {p: base64.b64encode(b).decode() for p, b in pubsub_answers.items()},
                    "storage": {
                        e: (s, h, base64.b64encode(b).decode())
                        for e, (s, h, b) in storage_answers.items()
                    },
                },
            )
        )
        ours_storage = stack.enter_context(_child("storage"))
        local_grpc = stack.enter_context(_child("local-grpc"))
        relay_face = stack.enter_context(_child("relay-face", {"link": relay["link"]}))

        pubsub_backends = [
            _grpc_backend(CLI, cli["PUBSUB_EMULATOR_HOST"], names, stack, create=True),
            _grpc_backend(RELAY, relay["pubsub"], names, stack, create=True),
            _grpc_backend(GRPC_FLOOR, floor["grpc"], names, stack, create=False),
            Backend(IN_PROCESS, local_calls, around=in_process),
        ]
        if emulator_address is None:
            pubsub_backends.append(Backend(EMULATOR, skipped=emulator_why))
        else:
            emulator = _grpc_backend(EMULATOR, emulator_address, names, stack, create=True)
            emulator.warmup = settings.emulator_warmup
            pubsub_backends.append(emulator)

        storage_backends = [
            _storage_backend(STORAGE_OURS, ours_storage["storage"], stack, create=True),
            _storage_backend(STORAGE_SERVE, relay["storage"], stack, create=True),
            _storage_backend(WSGI_FLOOR, floor["wsgi"], stack, create=False),
            _storage_backend(WSGI_KEEPALIVE_FLOOR, floor["keepalive"], stack, create=False),
            Backend(IN_PROCESS, local_storage_calls, around=in_process),
            _fake_gcs_server(stack),
        ]

        breakdown_backends = [
            pubsub_backends[2],  # the floor
            _grpc_backend(FLOOR_SWITCH, floor["grpc_switch"], names, stack, create=False),
            _grpc_backend(LOCAL_FACE, local_grpc["direct"], names, stack, create=True),
            pubsub_backends[0],  # CLI
            _grpc_backend(RELAY_FACE, relay_face["direct"], names, stack, create=False),
            pubsub_backends[1],  # relay
            Backend(LINK_CALL, _link_calls(relay["link"], requests)),
            Backend(WERKZEUG_HOP, _unary_calls(_HttpCaller(floor["wsgi"]), requests)),
            Backend(KEEPALIVE_HOP, _unary_calls(_HttpCaller(floor["keepalive"]), requests)),
            Backend(FRAMED_HOP, _unary_calls(_FramedCaller(floor["framed"]), requests)),
            Backend(SERVICE, service_calls, around=in_process),
        ]

        print(
            f"Pub/Sub: {settings.rounds} alternating rounds of {settings.pubsub_calls} calls",
            flush=True,
        )
        pubsub_results = measure(pubsub_backends, ops, settings, settings.pubsub_calls)
        print(
            f"Storage: {settings.rounds} alternating rounds of {settings.storage_calls} calls",
            flush=True,
        )
        storage_results = measure(storage_backends, STORAGE_OPS, settings, settings.storage_calls)
        print("where the relay's time goes", flush=True)
        breakdown_results = measure(breakdown_backends, ops, settings, settings.pubsub_calls)

    report["pubsub"] = _numbers(pubsub_backends, ops, pubsub_results)
    report["storage"] = _numbers(storage_backends, STORAGE_OPS, storage_results)
    report["relay_breakdown"] = _numbers(breakdown_backends, ops, breakdown_results)
    report["ratios"] = {
        "pubsub": _ratios(pubsub_results, ops, [CLI, RELAY], [GRPC_FLOOR, EMULATOR, IN_PROCESS]),
        "storage": _ratios(
            storage_results,
            STORAGE_OPS,
            [STORAGE_OURS, STORAGE_SERVE],
            [WSGI_FLOOR, FAKE_GCS, IN_PROCESS],
        ),
    }
    report["target"] = TARGET
    report["load_average_at_end"] = _load()

    print()
    print(f"{report['date']}, {report['machine']}")
    print(
        f"load average (1, 5, 15 min) at the start {report['load_average_at_start']}, "
        f"at the end {report['load_average_at_end']}: other work on the machine adds noise"
    )
    print()
    print("Pub/Sub, µs per call: median (fastest round-slowest round)")
    print()
    print(table(pubsub_backends, ops, pubsub_results))
    print()
    print(ratio_table([CLI, RELAY], [GRPC_FLOOR, EMULATOR, IN_PROCESS], ops, pubsub_results))
    print()
    print("Storage, µs per call: median (fastest round-slowest round)")
    print()
    print(table(storage_backends, STORAGE_OPS, storage_results))
    print()
    print(
        ratio_table(
            [STORAGE_OURS, STORAGE_SERVE],
            [WSGI_FLOOR, FAKE_GCS, IN_PROCESS],
            STORAGE_OPS,
            storage_results,
        )
    )
    print()
    for line in verdicts([CLI, RELAY], GRPC_FLOOR, ops, pubsub_results):
        print(line)
    for line in verdicts([STORAGE_OURS, STORAGE_SERVE], WSGI_FLOOR, STORAGE_OPS, storage_results):
        print(line)
    for backend in pubsub_backends + storage_backends:
        if backend.skipped is not None:
            print(f"{backend.name}: null ({backend.skipped})")
    print()
    print("Where the relay's time goes, µs per call: median (fastest round-slowest round)")
    print()
    print(table(breakdown_backends, ops, breakdown_results))
    print()
    for line in _breakdown_lines(breakdown_results, ops):
        print(line)
    return report


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _breakdown_lines(results: dict[str, dict[str, Spread]], ops: tuple[str, ...]) -> list[str]:
    steps = [
        ("the switch (floor behind a switch - floor)", FLOOR_SWITCH, GRPC_FLOOR),
        ("our gRPC face and service layer (face - floor)", LOCAL_FACE, GRPC_FLOOR),
        ("the link hop (relay's face - our face)", RELAY_FACE, LOCAL_FACE),
        ("the relay's switch (relay - relay's face)", RELAY, RELAY_FACE),
        ("relay over floor, in all (relay - floor)", RELAY, GRPC_FLOOR),
        (
            "werkzeug's closed connections (werkzeug hop - keep-alive hop)",
            WERKZEUG_HOP,
            KEEPALIVE_HOP,
        ),
        ("HTTP on a kept connection (keep-alive hop - framed hop)", KEEPALIVE_HOP, FRAMED_HOP),
        ("the link's own work (link call - framed hop)", LINK_CALL, FRAMED_HOP),
        ("the link call over the service layer alone", LINK_CALL, SERVICE),
    ]
    lines = []
    for label, row, base in steps:
        cells = []
        for op in ops:
            mine, theirs = results[op].get(row), results[op].get(base)
            if mine is None or theirs is None:
                cells.append(f"{op} n/a")
            else:
                cells.append(f"{op} {(mine.median - theirs.median) * 1e6:+,.0f} µs")
        lines.append(f"{label}: " + ", ".join(cells))
    return lines


def _numbers(
    backends: list[Backend], ops: tuple[str, ...], results: dict[str, dict[str, Spread]]
) -> dict[str, Any]:
    numbers: dict[str, Any] = {}
    for backend in backends:
        if backend.skipped is not None:
            numbers[backend.name] = {"skipped": backend.skipped, **dict.fromkeys(ops)}
        else:
            numbers[backend.name] = {op: results[op][backend.name].as_us() for op in ops}
    return numbers


def _ratios(
    results: dict[str, dict[str, Spread]], ops: tuple[str, ...], rows: list[str], bases: list[str]
) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for row in rows:
        for base in bases:
            key = f"{_short(row)} / {_short(base)}"
            ratios[key] = {}
            for op in ops:
                mine, theirs = results[op].get(row), results[op].get(base)
                ratios[key][op] = (
                    None
                    if mine is None or theirs is None
                    else round(mine.median / theirs.median, 3)
                )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    report = run(QUICK if args.quick else FULL)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
