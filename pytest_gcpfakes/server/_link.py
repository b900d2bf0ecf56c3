"""The link: how other processes reach the Pub/Sub service of the process that owns it.

grpcio supports ``fork()`` only before any gRPC server exists in a process (grpc's
multiprocessing example; grpc/grpc#16001), and the test process forks (gunicorn,
multiprocessing, transfer_manager). So the test process hosts no gRPC server: the gRPC
face runs in a relay process started with exec, and it, forked children and spawned
workers reach the test process's backends over this link, served by the same werkzeug
server as every other HTTP face.

Calls travel as frames (1-byte kind, 4-byte big-endian length, payload) on kept
connections. werkzeug closes every HTTP connection after one answer, and a new loopback
connection per call cost more than the call itself, so a caller opens a connection with an
HTTP ``Upgrade`` (``GET /_gcpfakes/v1/frames``, answered ``101``) and keeps it, one per
thread and process. Frames after the upgrade:

- ``U`` a unary call: the gRPC method path, ``\\n``, the serialized request. Answered
  ``A`` with the serialized response, or ``E`` with a serialized ``google.rpc.Status``
  that the caller turns back into the same exception.
- ``R`` one usage-recorder event of a child (JSON), answered ``A`` with
  ``{"result": ...}`` (the owner's serial for a new client or request).
- ``W`` one Storage request of a child's client (a JSON head: method, URL as the client
  called it, headers, whether the body came chunked; ``\n``; the body), answered ``A``
  with a JSON head (status, headers), ``\n`` and the body: the owner's Storage app serves
  it exactly as its in-process face would.
- ``S`` opens a stream (path, ``\\n``, the first request) on a connection of its own: the
  caller then sends ``M`` frames (requests), the owner ``M`` frames (responses) and ends
  with ``Z`` (done) or ``E`` (a status). Either side ending the connection ends the stream.

On a machine with Unix sockets the link also listens on one (its path rides on the link
URL as ``?unix=PATH``): a round trip there costs a fifth of one over TCP loopback
(measured: 12 µs against 53 to 68 µs). A caller there sends an ``H`` frame first (JSON:
the session it works for, its pid) instead of the upgrade's headers.

Plain HTTP routes, under ``/_gcpfakes/v1``: ``GET /info`` (what a child process needs:
the Storage URL, the active options) and ``POST /reset`` (the CLI's ``gcpfakes reset``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import socketserver
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from pytest_gcpfakes._hosts import UNIX_SOCKETS
from pytest_gcpfakes._sessions import SESSION_HEADER, check_remote

if TYPE_CHECKING:
    from pytest_gcpfakes.server._grpc import Caller

PREFIX = "/_gcpfakes/v1"
UPGRADE = "gcpfakes-frames/1"
_FRAME = struct.Struct(">cI")
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


# -- frames ----------------------------------------------------------------------------------


def _frame(kind: bytes, payload: bytes) -> bytes:
    return _FRAME.pack(kind, len(payload)) + payload


def _read_frame(reader: IO[bytes]) -> tuple[bytes, bytes] | None:
    """The next frame from ``reader``, or ``None`` where the connection ends."""
    header = reader.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    kind, length = _FRAME.unpack(header)
    payload = reader.read(length) if length else b""
    if len(payload) < length:
        return None
    return kind, payload


def _call_frame(kind: bytes, path: str, payload: bytes) -> bytes:
    return _frame(kind, path.encode() + b"\n" + payload)


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
        storage: WSGIApp | None = None,
    ) -> None:
        self._caller = caller
        self._storage = storage
        self._on_reset = on_reset
        self._info = info
        self._fallback = fallback

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX + "/"):
            if self._fallback is not None:
                return self._fallback(environ, start_response)
            return _plain(start_response, "404 Not Found", b"not a pytest-gcpfakes route\n")
        route = path[len(PREFIX) :]
        method = environ["REQUEST_METHOD"]
        if route == "/frames" and method == "GET":
            return self._upgrade(environ, start_response)
        if route == "/info" and method == "GET" and self._info is not None:
            body = json.dumps(self._info()).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if route == "/reset" and method == "POST" and self._on_reset is not None:
            self._on_reset()
            return _plain(start_response, "200 OK", b"reset\n")
        return _plain(start_response, "404 Not Found", b"not a pytest-gcpfakes route\n")

    def _upgrade(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # werkzeug's server hands the connection's socket to the app as werkzeug.socket.
        sock = environ.get("werkzeug.socket")
        if sock is None or environ.get("HTTP_UPGRADE") != UPGRADE:
            return _plain(
                start_response, "426 Upgrade Required", f"send Upgrade: {UPGRADE}\n".encode()
            )
        start_response("101 Switching Protocols", [("Upgrade", UPGRADE)])
        return self._serve(sock, environ)

    def _serve(self, sock: socket.socket, environ: dict[str, Any]) -> Iterator[bytes]:
        """Answer the frames of one upgraded connection until the caller ends it.

        The caller sends nothing before it has read the ``101``, so no frame can sit in
        the server's buffered request reader: frames are read straight off the socket.
        """
        yield b""  # the server sends the 101 now
        self.serve_frames(sock, environ)

    def serve_unix_connection(self, sock: socket.socket) -> None:
        """Answer the frames of one Unix-socket connection: a hello (``H``) first."""
        # One reader for the hello and what follows: a caller sends its first call right
        # behind the hello, and a buffered read of the hello may take that too.
        reader = sock.makefile("rb")
        hello = _read_frame(reader)
        if hello is None or hello[0] != b"H":
            reader.close()
            return
        caller = json.loads(hello[1])
        environ: dict[str, Any] = {}
        if caller.get("session"):
            environ[_SESSION_KEY] = str(caller["session"])
            environ["HTTP_X_GCPFAKES_PID"] = str(caller.get("pid", "?"))
        self.serve_frames(sock, environ, reader)

    def serve_frames(
        self, sock: socket.socket, environ: dict[str, Any], reader: IO[bytes] | None = None
    ) -> None:
        """Answer one connection's frames until the caller ends it; ``environ`` says who
        calls (the session it works for, its pid)."""
        if reader is None:
            reader = sock.makefile("rb")
        # This server thread now lives as long as the caller keeps the connection (a pool
        # worker may keep it across tests): named as one of the servers' own.
        thread = threading.current_thread()
        name, thread.name = thread.name, "gcpfakes-link-conn"
        try:
            while True:
                frame = _read_frame(reader)
                if frame is None:
                    return
                kind, payload = frame
                if kind == b"U":
                    sock.sendall(self._unary(environ, payload))
                elif kind == b"R":
                    sock.sendall(_frame(b"A", _record(payload)))
                elif kind == b"W":
                    sock.sendall(_frame(b"A", self._storage_call(environ, payload)))
                elif kind == b"S":
                    self._stream(sock, reader, environ, payload)
                    return
                else:
                    return  # not a frame of ours: drop the connection
        except OSError:
            return  # the caller went away
        finally:
            thread.name = name
            reader.close()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _unary(self, environ: dict[str, Any], payload: bytes) -> bytes:
        rpc_path, _, request = payload.partition(b"\n")
        path = rpc_path.decode()
        try:
            if _SESSION_KEY in environ:  # a child working for one test: refused once it ended
                check_remote({**environ, "PATH_INFO": path}, "pubsub")
            return _frame(b"A", self._caller.unary(path, request))
        except Exception as error:  # every error reaches the caller as a status
            return _frame(b"E", status_bytes(error))

    def _storage_call(self, upgrade: dict[str, Any], payload: bytes) -> bytes:
        from pytest_gcpfakes.storage._wire import build_environ

        head_bytes, _, body = payload.partition(b"\n")
        head = json.loads(head_bytes)
        environ = build_environ(
            head["method"],
            head["url"],
            [(str(k), str(v)) for k, v in head["headers"]],
            body,
            chunked=bool(head["chunked"]),
        )
        for key in _CALLER_KEYS:  # the session the child works for, its pid (_sessions)
            if key in upgrade:
                environ[key] = upgrade[key]
        headers: list[Any] = []
        if self._storage is None:
            status, answer = "404 Not Found", b"no Storage app on this link\n"
        else:
            status, headers, answer = _run_wsgi(self._storage, environ)
        return json.dumps({"status": status, "headers": headers}).encode() + b"\n" + answer

    def _stream(
        self, sock: socket.socket, reader: IO[bytes], environ: dict[str, Any], payload: bytes
    ) -> None:
        rpc_path, _, first = payload.partition(b"\n")
        path = rpc_path.decode()
        try:
            check_remote({**environ, "PATH_INFO": path}, "pubsub")
        except Exception as error:
            sock.sendall(_frame(b"E", status_bytes(error)))
            return
        requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancels: list[Callable[[], None]] = []

        def incoming() -> Iterator[bytes]:
            yield first
            while True:
                item = requests.get()
                if item is _CLOSED:
                    return
                yield item

        def read_requests() -> None:
            try:
                while (frame := _read_frame(reader)) is not None and frame[0] == b"M":
                    requests.put(frame[1])
            except (OSError, ValueError):  # ValueError: the reader closed under us
                pass
            requests.put(_CLOSED)
            for cancel in list(cancels):  # the caller went away: end the service's stream
                cancel()

        threading.Thread(
            target=read_requests, name="gcpfakes-link-stream-reader", daemon=True
        ).start()
        try:
            for response in self._caller.stream(path, incoming(), cancels.append):
                sock.sendall(_frame(b"M", response))
            sock.sendall(_frame(b"Z", b""))
        except OSError:
            pass
        except Exception as error:
            with contextlib.suppress(OSError):
                sock.sendall(_frame(b"E", status_bytes(error)))
        finally:
            requests.put(_CLOSED)
            for cancel in list(cancels):
                cancel()


_SESSION_KEY = "HTTP_X_GCPFAKES_SESSION"
_CALLER_KEYS = (_SESSION_KEY, "HTTP_X_GCPFAKES_PID")


def _run_wsgi(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[Any], bytes]:
    """Call ``app`` as a server would; an exception it raises is answered 500, naming it."""
    answer: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, list(headers)
        return chunks.append

    try:
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception as error:  # a bug of ours: the caller gets a 500 that names it
        message = f"pytest-gcpfakes: the Storage fake failed: {type(error).__name__}: {error}\n"
        return "500 Internal Server Error", [("Content-Type", "text/plain")], message.encode()
    return answer["status"], answer["headers"], b"".join(chunks)


class UnixLinkServer:
    """The link on a Unix socket in a private temporary directory, a thread per connection."""

    def __init__(self, app: LinkApp) -> None:
        self._dir = tempfile.mkdtemp(prefix="gcpfakes-")
        self.path = os.path.join(self._dir, "link.sock")

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                app.serve_unix_connection(self.request)

        try:
            self._server = socketserver.ThreadingUnixStreamServer(self.path, Handler)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="gcpfakes-link-unix",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; connections in progress end with their callers."""
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


def serve_unix(app: LinkApp) -> UnixLinkServer | None:
    """The link on a Unix socket, where the platform has them (else ``None``: TCP only).

    Also ``None`` where one cannot be made (a temporary directory whose path is too long
    for a socket address, say): callers then keep to TCP.
    """
    if not UNIX_SOCKETS:
        return None
    try:
        return UnixLinkServer(app)
    except OSError:
        return None


def with_unix(url: str, path: str) -> str:
    """The link URL that also names its Unix socket."""
    return f"{url}?unix={quote(path)}"


def _record(payload: bytes) -> bytes:
    from pytest_gcpfakes.usage._recorder import recorder

    return json.dumps({"result": recorder.apply(json.loads(payload))}).encode()


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


class _Connection:
    """One upgraded connection: the socket and a buffered reader over it."""

    def __init__(self, sock: socket.socket, reader: IO[bytes]) -> None:
        self.sock = sock
        self.reader = reader
        self.pid = os.getpid()
        self.used = False

    def shutdown(self) -> None:
        """End the connection for both ends (the owner then ends its side's work).

        Only in the process that opened it: a forked child's copy (a stream object
        collected there) must not end its parent's stream.
        """
        if self.pid != os.getpid():
            return
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release this process's descriptor; a forked copy's peer is left untouched."""
        with contextlib.suppress(OSError):
            self.reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def __del__(self) -> None:  # a thread's kept connection, gone with the thread
        self.close()


class RemoteCaller:
    """A :class:`Caller` that forwards to a :class:`LinkApp` over loopback frames.

    Unary calls and recorder events reuse one kept connection per thread; each stream has
    its own. Connections are per process too: a forked child never shares its parent's.
    """

    def __init__(self, url: str, *, timeout: float = 120.0, session: int = 0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.unix_path = (parse_qs(parts.query).get("unix") or [""])[0]
        self._timeout = timeout
        self.session = session
        """The owner's session this process works for (0: whichever is active)."""
        self._local = threading.local()

    def _open(self) -> _Connection:
        """A new connection: on the link's Unix socket where it has one, else over TCP."""
        if self.unix_path and os.path.exists(self.unix_path):
            return self._open_unix()
        return self._open_tcp()

    def _open_unix(self) -> _Connection:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._timeout)
            sock.connect(self.unix_path)
            hello = {"session": self.session, "pid": os.getpid()}
            sock.sendall(_frame(b"H", json.dumps(hello).encode()))
        except BaseException:
            sock.close()
            raise
        return _Connection(sock, sock.makefile("rb"))

    def _open_tcp(self) -> _Connection:
        """A TCP connection, upgraded to frames (the session and pid ride on the upgrade)."""
        sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lines = [
                f"GET {PREFIX}/frames HTTP/1.1",
                f"Host: {self.host}:{self.port}",
                "Connection: Upgrade",
                f"Upgrade: {UPGRADE}",
            ]
            if self.session:
                lines += [f"{SESSION_HEADER}: {self.session}", f"X-Gcpfakes-Pid: {os.getpid()}"]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            reader = sock.makefile("rb")
            status = reader.readline()
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # the answer's headers
            if status.split(b" ", 2)[1:2] != [b"101"]:
                reader.close()
                raise ConnectionError(
                    f"pytest-gcpfakes: {self.host}:{self.port} is not a pytest-gcpfakes link "
                    f"(it answered {status.decode('latin-1').strip()!r} to the upgrade)"
                )
        except BaseException:
            sock.close()
            raise
        return _Connection(sock, reader)

    def _connection(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.pid != os.getpid():
            conn = self._local.conn = self._open()
        return conn

    def _exchange(self, frame: bytes) -> tuple[bytes, bytes]:
        """Send one frame on this thread's connection and read the answer's frame."""
        while True:
            conn = self._connection()
            reused, conn.used = conn.used, True
            try:
                conn.sock.sendall(frame)
                answer = _read_frame(conn.reader)
                if answer is None:
                    raise ConnectionError("pytest-gcpfakes: the link closed the connection")
                return answer
            except OSError:
                conn.close()
                self._local.conn = None
                if not reused:
                    raise
                # A kept connection the owner dropped while idle (its server restarted):
                # once more, on a fresh one.

    def unary(self, path: str, payload: bytes) -> bytes:
        """Call one unary method; raise what the service raised."""
        kind, answer = self._exchange(_call_frame(b"U", path, payload))
        if kind == b"E":
            raise error_from_status_bytes(answer)
        return answer

    def wsgi(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        chunked: bool = False,
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Have the owner's Storage app serve one request; return its status, headers, body."""
        head = {"method": method, "url": url, "headers": headers, "chunked": chunked}
        _, answer = self._exchange(_frame(b"W", json.dumps(head).encode() + b"\n" + body))
        head_bytes, _, data = answer.partition(b"\n")
        reply = json.loads(head_bytes)
        return str(reply["status"]), [(str(k), str(v)) for k, v in reply["headers"]], data

    def send(self, event: dict[str, Any]) -> Any:
        """Deliver one usage-recorder event to the owning process; return its answer."""
        _, answer = self._exchange(_frame(b"R", json.dumps(event).encode()))
        return json.loads(answer)["result"]

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
        conn = self._open()
        conn.sock.settimeout(None)  # a stream may rightly stay quiet for longer than a call
        try:
            conn.sock.sendall(_call_frame(b"S", path, first))
        except BaseException:
            conn.close()
            raise
        if on_cancel(conn.shutdown) is False:
            conn.shutdown()
        threading.Thread(
            target=_send_requests,
            args=(conn, requests),
            name="gcpfakes-link-stream-sender",
            daemon=True,
        ).start()
        return _responses(conn)


def _responses(conn: _Connection) -> Iterator[bytes]:
    try:
        while (frame := _read_frame(conn.reader)) is not None:
            kind, payload = frame
            if kind == b"M":
                yield payload
            elif kind == b"E":
                raise error_from_status_bytes(payload)
            else:
                return  # Z: the service ended the stream
    except (OSError, ValueError):  # the connection, shut down by a cancel
        return
    finally:
        conn.shutdown()
        conn.close()


def _send_requests(conn: _Connection, requests: Iterator[bytes]) -> None:
    try:
        for request in requests:
            conn.sock.sendall(_frame(b"M", request))
    except Exception:  # the connection, or the caller's request iterator (a cancel
        return  # raises grpc.RpcError there): either way the stream is over
