"""The Pub/Sub gRPC face: a real ``grpc.server`` that hands raw bytes to a :class:`Caller`.

A thin shell. Every method of the service layer's RPC table (``pubsub._service``) gets a
handler that takes and returns bytes: with a request deserializer, grpcio would answer a
body that does not parse with INTERNAL "Exception deserializing request!" before any
handler ran, where the service layer answers INVALID_ARGUMENT with a sentence. An error
becomes the ``google.rpc.Status`` the service layer maps it to, sent with
``abort_with_status`` so that its details (exactly-once delivery's ``ErrorInfo``) reach the
client in the ``grpc-status-details-bin`` trailer, as GCP sends them.

The caller is this process's service layer by default, which looks the current fake up on
every call: one server serves each test's fresh fake. A process that hosts this face for
another passes a caller that forwards the calls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from types import TracebackType
from typing import Any, Protocol

import grpc
from google.api_core import exceptions
from grpc_status import rpc_status  # type: ignore[import-untyped]

from pytest_gcpfakes._hosts import UNIX_SOCKETS, check_listen_host

__all__ = ["Caller", "GrpcServer", "start_grpc_server"]

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Send and receive limit: a Pub/Sub message may hold 10 MB (grpcio's default is 4 MiB)."""
MAX_WORKERS = 64
"""Threads serving calls: each open streaming pull holds one for as long as it is open."""
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Never share a port with another process's server (grpcio's default is on).
    ("grpc.so_reuseport", 0),
]
"""The options of every gRPC face (and of the benchmarks' do-nothing floor, built alike)."""


class Caller(Protocol):
    """What the gRPC face calls: the Pub/Sub service by gRPC method path, in bytes.

    Both methods raise ``google.api_core.exceptions.GoogleAPICallError`` for what the
    service answers with an error.
    """

    def unary(self, path: str, payload: bytes) -> bytes:
        """Serve one unary call: a serialized request in, a serialized response out."""
        ...

    def stream(
        self,
        path: str,
        requests: Iterator[bytes],
        on_cancel: Callable[[Callable[[], None]], object],
    ) -> Iterator[bytes]:
        """Serve a bidirectional stream; ``on_cancel(callback)`` registers what to run
        when the client cancels or goes away (it returns ``False`` if it already has)."""
        ...


class GrpcServer:
    """A running gRPC face; stop it with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, server: Any, executor: futures.ThreadPoolExecutor, host: str, port: int):
        self._server = server
        self._executor = executor
        self.host = host
        self.port = port
        self.unix_path: str | None = None
        """The Unix socket it also listens on (``start_grpc_server(unix=True)``), if any."""
        self.unix_dir: str | None = None
        self.errors: list[BaseException] = []
        """Exceptions other than API errors raised while serving (bugs): see :meth:`check`."""
        self._errors_lock = threading.Lock()

    @property
    def address(self) -> str:
        """``host:port``, what ``grpc.insecure_channel()`` and ``PUBSUB_EMULATOR_HOST`` take."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Stop serving, cancelling open calls after ``grace`` seconds; wait for the threads.

        Open streaming pulls are cancelled, which ends their backend streams too.
        """
        self._server.stop(grace).wait()
        self._executor.shutdown(wait=True)
        if self.unix_dir is not None:
            shutil.rmtree(self.unix_dir, ignore_errors=True)

    def check(self) -> None:
        """Raise the first exception (other than an API error) raised while serving."""
        with self._errors_lock:
            if self.errors:
                raise self.errors[0]

    def __enter__(self) -> GrpcServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(0)

    def _record(self, error: BaseException) -> None:
        if not isinstance(error, exceptions.GoogleAPICallError):
            with self._errors_lock:
                self.errors.append(error)


class _Handlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Looks each call's method path up in the handlers built from the RPC table."""

    def __init__(self, handlers: dict[str, Any]) -> None:
        self._handlers = handlers

    def service(self, handler_call_details: Any) -> Any:
        return self._handlers.get(handler_call_details.method)


def _abort(context: Any, error: BaseException) -> None:
    from pytest_gcpfakes.pubsub._service import status_from_error

    context.abort_with_status(rpc_status.to_status(status_from_error(error)))


def _unary_handler(caller: Caller, path: str, record: Callable[[BaseException], None]) -> Any:
    def behaviour(request: bytes, context: Any) -> bytes:
        try:
            return caller.unary(path, request)
        except Exception as error:
            record(error)
            _abort(context, error)
            raise  # abort_with_status has raised already; this is for the type checker

    return grpc.unary_unary_rpc_method_handler(behaviour)


def _stream_handler(caller: Caller, path: str, record: Callable[[BaseException], None]) -> Any:
    def behaviour(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        try:
            yield from caller.stream(path, requests, context.add_callback)
        except Exception as error:
            if context.is_active():  # a client that cancelled hears nothing more
                record(error)
                _abort(context, error)

    return grpc.stream_stream_rpc_method_handler(behaviour)


def start_grpc_server(
    caller: Caller | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    max_workers: int = MAX_WORKERS,
    unix: bool = False,
) -> GrpcServer:
    """Serve Pub/Sub's gRPC API on ``host:port`` (port 0: a free one; see ``.port``).

    ``caller`` defaults to this process's service layer. Only loopback addresses are
    served unless ``allow_remote=True``. ``unix=True`` also listens on a Unix socket in a
    private temporary directory (``.unix_path``; ``None`` where the platform has none),
    for the switch in front: a fifth of a TCP loopback round trip.
    """
    check_listen_host(host, allow_remote)
    from pytest_gcpfakes.pubsub import _service

    served: Caller = caller if caller is not None else _service.LOCAL
    executor = futures.ThreadPoolExecutor(max_workers, thread_name_prefix="gcpfakes-grpc")
    server = grpc.server(executor, options=SERVER_OPTIONS)
    face = GrpcServer(server, executor, host, 0)
    handlers = {
        path: (_stream_handler if rpc.streaming else _unary_handler)(served, path, face._record)
        for path, rpc in _service.rpc_table().items()
    }
    server.add_generic_rpc_handlers((_Handlers(handlers),))
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        face.port = server.add_insecure_port(target)
    except RuntimeError as error:
        executor.shutdown(wait=False)
        raise OSError(f"pytest-gcpfakes could not listen for gRPC on {target}: {error}") from None
    if face.port == 0:  # older grpcio answers 0 instead of raising
        executor.shutdown(wait=False)
        raise OSError(f"pytest-gcpfakes could not listen for gRPC on {target}.")
    if unix and UNIX_SOCKETS:
        face.unix_dir = tempfile.mkdtemp(prefix="gcpfakes-")
        path = os.path.join(face.unix_dir, "grpc.sock")
        with contextlib.suppress(RuntimeError):  # no Unix socket there: TCP only
            if server.add_insecure_port(f"unix:{path}"):
                face.unix_path = path
    server.start()
    return face
