"""The link: how other processes reach the Pub/Sub service of the process that owns it.

grpcio supports ``fork()`` only before any gRPC server exists in a process (grpc's
multiprocessing example; grpc/grpc#16001), and the test process forks (gunicorn,
multiprocessing, transfer_manager). So the test process hosts no gRPC server: the gRPC
face runs in a relay process started with exec, and it, forked children and spawned
workers reach the test process's backends over this plain HTTP link, served by the same
werkzeug server as every other HTTP face.

Wire format, all under ``/_gcpfakes/v1``:

- ``POST /unary/<grpc method path>``: body the serialized request; the answer is the
  serialized response, or (header ``x-gcpfakes-error: 1``) a serialized
  ``google.rpc.Status`` that the caller turns back into the same exception.
- ``POST /stream/<grpc method path>``: body the first request; the answer is a chunked
  stream of frames (1-byte kind, 4-byte big-endian length, payload): ``I`` the stream's
  id, ``M`` a response, ``E`` a final error status. Later requests go to
  ``POST /streams/<id>``; ``DELETE /streams/<id>`` cancels.
- ``GET /info``: what a child process needs: the Storage URL, the active options.
- ``POST /record``: one usage-recorder event of a child (a JSON object), answered with
  ``{"result": ...}`` (the parent's serial for a new client or request).
- ``POST /reset``: wipe every fake (the CLI's ``gcpfakes reset``).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_gcpfakes._sessions import SESSION_HEADER, check_remote

if TYPE_CHECKING:
    from pytest_gcpfakes.server._grpc import Caller

PREFIX = "/_gcpfakes/v1"
_FRAME = struct.Struct(">cI")
_ERROR_HEADER = "x-gcpfakes-error"
_CLOSED = object()


# -- errors as google.rpc.Status -----------------------------------------------------------


def status_bytes(error: BaseException) -> bytes:
    """Serialize an error (a ``GoogleAPICallError``, details included) as ``google.rpc.Status``."""
    from pytest_gcpfakes.pubsub._service import status_from_error

    return bytes(status_from_error(error).SerializeToString())


def error_from_status_bytes(data: bytes) -> BaseException:
    """The exception a client would raise for a serialized ``google.rpc.Status``."""
    from google.rpc import status_pb2

    from pytest_gcpfakes.pubsub._service import error_from_status

    status = status_pb2.Status()
    status.ParseFromString(data)
    return error_from_status(status)


# -- the host side: a WSGI app ---------------------------------------------------------------


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LinkApp:
    """Serves the link routes over ``caller``; any other path goes to ``fallback``."""

    def __init__(
        self,
        caller: Caller,
        *,
        on_reset: Callable[[], None] | None = None,
        info: Callable[[], dict[str, Any]] | None = None,
        fallback: WSGIApp | None = None,
    ) -> None:
        self._caller = caller
        self._on_reset = on_reset
        self._info = info
        self._fallback = fallback
        self._streams: dict[str, tuple[queue.SimpleQueue[Any], list[Callable[[], None]]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX + "/"):
            if self._fallback is not None:
                return self._fallback(environ, start_response)
            return _plain(start_response, "404 Not Found", b"not a pytest-gcpfakes route\n")
        route = path[len(PREFIX) :]
        method = environ["REQUEST_METHOD"]
        if route.startswith("/unary/") and method == "POST":
            return self._unary(route[len("/unary") :], environ, start_response)
        if route.startswith("/stream/") and method == "POST":
            return self._stream(route[len("/stream") :], environ, start_response)
        if route.startswith("/streams/"):
            return self._stream_request(route[len("/streams/") :], method, environ, start_response)
        if route == "/info" and method == "GET" and self._info is not None:
            body = json.dumps(self._info()).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if route == "/record" and method == "POST":
            from pytest_gcpfakes.usage._recorder import recorder

            answer = json.dumps({"result": recorder.apply(json.loads(read_body(environ)))}).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
            )
            return [answer]
        if route == "/reset" and method == "POST" and self._on_reset is not None:
            self._on_reset()
            return _plain(start_response, "200 OK", b"reset\n")
        return _plain(start_response, "404 Not Found", b"not a pytest-gcpfakes route\n")

    def _unary(
        self, rpc_path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        payload = read_body(environ)
        try:
            check_remote(environ, "pubsub")  # a late call of an ended test's child
            answer = self._caller.unary(rpc_path, payload)
            headers = [("Content-Type", "application/x-protobuf")]
        except Exception as error:  # every error reaches the caller as a status
            answer = status_bytes(error)
            headers = [("Content-Type", "application/x-protobuf"), (_ERROR_HEADER, "1")]
        headers.append(("Content-Length", str(len(answer))))
        start_response("200 OK", headers)
        return [answer]

    def _stream(
        self, rpc_path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        first = read_body(environ)
        try:
            check_remote(environ, "pubsub")
        except Exception as error:
            start_response("200 OK", [("Content-Type", "application/x-gcpfakes-frames")])
            return [_frame(b"E", status_bytes(error))]
        stream_id = str(next(self._ids))
        requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancels: list[Callable[[], None]] = []
        with self._lock:
            self._streams[stream_id] = (requests, cancels)
        start_response("200 OK", [("Content-Type", "application/x-gcpfakes-frames")])
        return self._frames(stream_id, rpc_path, first, requests, cancels)

    def _frames(
        self,
        stream_id: str,
        rpc_path: str,
        first: bytes,
        requests: queue.SimpleQueue[Any],
        cancels: list[Callable[[], None]],
    ) -> Iterator[bytes]:
        def incoming() -> Iterator[bytes]:
            yield first
            while True:
                item = requests.get()
                if item is _CLOSED:
                    return
                yield item

        try:
            yield _frame(b"I", stream_id.encode())
            for response in self._caller.stream(rpc_path, incoming(), cancels.append):
                yield _frame(b"M", response)
        except GeneratorExit:
            raise
        except Exception as error:
            yield _frame(b"E", status_bytes(error))
        finally:
            self.cancel(stream_id)
            for cancel in cancels:  # the caller went away: end the service's stream
                cancel()

    def _stream_request(
        self, stream_id: str, method: str, environ: dict[str, Any], start_response: Any
    ) -> Any:
        with self._lock:
            entry = self._streams.get(stream_id)
        if entry is None:
            return _plain(start_response, "404 Not Found", b"no such stream\n")
        if method == "POST":
            entry[0].put(read_body(environ))
        elif method == "DELETE":
            cancels = self.cancel(stream_id)
            for cancel in cancels:
                cancel()
        return _plain(start_response, "204 No Content", b"")

    def cancel(self, stream_id: str) -> list[Callable[[], None]]:
        """Forget a stream and end its requests; return its service's cancel callbacks."""
        with self._lock:
            entry = self._streams.pop(stream_id, None)
        if entry is None:
            return []
        entry[0].put(_CLOSED)
        return list(entry[1])


def _frame(kind: bytes, payload: bytes) -> bytes:
    return _FRAME.pack(kind, len(payload)) + payload


def read_body(environ: dict[str, Any]) -> bytes:
    """A WSGI request's whole body: ``Content-Length`` bytes, or to the end when chunked."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


def _plain(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# -- the calling side ------------------------------------------------------------------------


class RemoteCaller:
    """A :class:`Caller` that forwards to a :class:`LinkApp` over loopback HTTP.

    Unary calls reuse one keep-alive connection per thread; each stream has its own.
    Connections are per process too: a forked child never shares its parent's sockets.
    """

    def __init__(self, url: str, *, timeout: float = 120.0, session: int = 0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._timeout = timeout
        self.session = session
        """The owner's session this process works for (0: whichever is active)."""
        self._local = threading.local()

    def _headers(self) -> dict[str, str]:
        """Who is calling: the session it works for and its pid (see ``_sessions``)."""
        if not self.session:
            return {}
        return {SESSION_HEADER: str(self.session), "X-Gcpfakes-Pid": str(os.getpid())}

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _connect(self) -> http.client.HTTPConnection:
        import socket

        conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def unary(self, path: str, payload: bytes) -> bytes:
        """Call one unary method; raise what the service raised."""
        response, body = self._post(f"{PREFIX}/unary{path}", payload)
        if response.getheader(_ERROR_HEADER):
            raise error_from_status_bytes(body)
        return body

    def send(self, event: dict[str, Any]) -> Any:
        """Deliver one usage-recorder event to the owning process; return its answer."""
        _, body = self._post(f"{PREFIX}/record", json.dumps(event).encode())
        return json.loads(body)["result"]

    def _post(self, target: str, payload: bytes) -> tuple[http.client.HTTPResponse, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", target, body=payload, headers=self._headers())
                response = conn.getresponse()
                return response, response.read()
            except (ConnectionError, http.client.HTTPException):
                # A keep-alive connection the server closed while idle: retry once, fresh.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stream(
        self,
        path: str,
        requests: Iterator[bytes],
        on_cancel: Callable[[Callable[[], None]], object],
    ) -> Iterator[bytes]:
        """Open a stream: send ``requests`` as they come, yield the service's responses.

        A cancel (``on_cancel``'s callback) or closing the generator ends the stream in
        the owning process too.
        """
        first = next(requests)
        conn = self._connect()
        conn.request("POST", f"{PREFIX}/stream{path}", body=first, headers=self._headers())
        response = conn.getresponse()
        return self._responses(conn, response, requests, on_cancel)

    def _responses(
        self,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        requests: Iterator[bytes],
        on_cancel: Callable[[Callable[[], None]], object],
    ) -> Iterator[bytes]:
        stream_id: str | None = None
        sender: threading.Thread | None = None
        try:
            while True:
                header = response.read(_FRAME.size)
                if len(header) < _FRAME.size:
                    return  # the service ended the stream
                kind, length = _FRAME.unpack(header)
                payload = response.read(length) if length else b""
                if kind == b"I":
                    stream_id = payload.decode()
                    ended = functools.partial(self._cancel_quietly, stream_id, conn)
                    if on_cancel(ended) is False:
                        ended()
                    sender = threading.Thread(
                        target=self._send_requests,
                        args=(stream_id, requests),
                        name="gcpfakes-link-stream-sender",
                        daemon=True,
                    )
                    sender.start()
                elif kind == b"M":
                    yield payload
                elif kind == b"E":
                    raise error_from_status_bytes(payload)
        finally:
            if stream_id is not None:
                self._cancel_quietly(stream_id, conn)
            conn.close()

    def _cancel_quietly(self, stream_id: str, conn: http.client.HTTPConnection) -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            self._delete(stream_id)

    def _send_requests(self, stream_id: str, requests: Iterator[bytes]) -> None:
        conn = self._connect()
        try:
            for request in requests:
                conn.request("POST", f"{PREFIX}/streams/{stream_id}", body=request)
                answer = conn.getresponse()
                answer.read()
                if answer.status == 404:
                    return  # the stream is over
        except Exception:  # the connection, or the caller's request iterator (a cancel
            return  # raises grpc.RpcError there): either way the stream is over
        finally:
            conn.close()

    def _delete(self, stream_id: str) -> None:
        conn = self._connect()
        try:
            conn.request("DELETE", f"{PREFIX}/streams/{stream_id}")
            conn.getresponse().read()
        finally:
            conn.close()

    def reset(self) -> None:
        """Ask the owning process to wipe its fakes."""
        conn = self._connect()
        try:
            conn.request("POST", f"{PREFIX}/reset", body=b"")
            conn.getresponse().read()
        finally:
            conn.close()
