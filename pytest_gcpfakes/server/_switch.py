"""One port, two protocols: gRPC and HTTP/1.1 told apart by a connection's first bytes.

Google's Pub/Sub emulator answers both its gRPC API and its REST/JSON API on one port
(curl to the emulator's address works), and so do we. grpcio's server speaks only HTTP/2,
so a thin switch owns the public port: a connection that opens with the HTTP/2 client
preface goes to the gRPC server, any other to the HTTP server, both on loopback ports of
their own. After that first peek the switch only copies bytes; each protocol is served by
a real, maintained server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from pytest_gcpfakes import _registry
from pytest_gcpfakes._hosts import check_listen_host

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_CHUNK = 256 * 1024


def _no_delay(sock: socket.socket) -> None:
    # Requests and answers are small and latency is the point: never wait for Nagle.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Switch:
    """Listens on ``(host, port)`` and hands each connection to ``grpc`` or ``http``."""

    def __init__(
        self,
        grpc_address: tuple[str, int] | str,
        http_address: tuple[str, int] | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
    ) -> None:
        check_listen_host(host, allow_remote)
        self._targets = {True: grpc_address, False: http_address}
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"gcpfakes-switch-{self.port}", daemon=True
        )
        self._thread.start()
        _registry.serving(self.port, up=True)

    def stop(self) -> None:
        """Stop accepting and close every connection the switch carries."""
        if self._closed.is_set():
            return
        self._closed.set()
        # shutdown() wakes the accept() blocked in the switch's thread; close() alone may not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        _registry.serving(self.port, up=False)
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            _no_delay(client)
            threading.Thread(
                target=self._route, args=(client,), name="gcpfakes-switch-conn", daemon=True
            ).start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._connections.add(sock)
            return True

    def _route(self, client: socket.socket) -> None:
        if not self._track(client):
            client.close()
            return
        try:
            is_grpc = _starts_with_preface(client)
            upstream = _connect(self._targets[is_grpc])
        except OSError:
            self._drop(client)
            return
        _no_delay(upstream)
        if not self._track(upstream):
            upstream.close()
            self._drop(client)
            return
        done = _Countdown(2, lambda: self._drop_all(client, upstream))
        threading.Thread(
            target=_pump, args=(upstream, client, done), name="gcpfakes-switch-pump", daemon=True
        ).start()
        _pump(client, upstream, done)

    def _drop_all(self, *socks: socket.socket) -> None:
        for sock in socks:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _connect(address: tuple[str, int] | str) -> socket.socket:
    """A connection to ``(host, port)``, or to the Unix socket at a path."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(address)


def _starts_with_preface(sock: socket.socket) -> bool:
    """Peek (without consuming) until the first bytes match the HTTP/2 preface or cannot."""
    deadline = time.monotonic() + 10
    while True:
        seen = sock.recv(len(HTTP2_PREFACE), socket.MSG_PEEK)
        if not seen:
            raise OSError("connection closed before its first bytes")
        if not HTTP2_PREFACE.startswith(seen):
            return False  # "GET", "POST", "PUT"… part from "PRI" by the second byte
        if len(seen) == len(HTTP2_PREFACE):
            return True
        if time.monotonic() > deadline:
            raise OSError("the HTTP/2 preface never completed")
        # Peeked bytes stay readable, so select() would return at once: poll instead.
        # Only a client that splits the 24-byte preface across writes gets here.
        time.sleep(0.001)


class _Countdown:
    """Runs ``action`` when both directions of a connection are done."""

    def __init__(self, count: int, action: Callable[[], object]) -> None:
        self._count = count
        self._action = action
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._count -= 1
            last = self._count == 0
        if last:
            self._action()


def _pump(source: socket.socket, target: socket.socket, done: _Countdown) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends; then half-close ``target``.

    Into one buffer per direction: ``recv(_CHUNK)`` would allocate (and, above glibc's mmap
    threshold, map and unmap) 256 KiB for every read, measured at 13 µs of a 15 µs read.
    """
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        while True:
            size = source.recv_into(buffer)
            if not size:
                break
            target.sendall(view[:size])
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        done.done()
