"""The fakes of another process: what a forked or spawned child's clients reach.

A child gets these handles in its registry instead of the in-memory ones (a forked child's
copy of its parent's backends would silently split the state). The faked clients of the
child run unchanged, through the same in-memory transport and ``requests`` adapter as in
the parent; only the handle behind them forwards each call to the process that owns the
fakes: Pub/Sub over the link, Storage over the parent's Storage server.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from pytest_gcpfakes._config import Config, build_config
from pytest_gcpfakes.pubsub._delivery import CallSurface


class _Remote:
    """What every remote handle shares: it holds no state, so it serves any process.

    A remote handle is inherited by the processes its process forks (gunicorn's workers of
    a master that reached the fakes): they reach the same fakes with connections of their
    own, so the handle's ``pid`` is always the current process's.
    """

    remote = True

    @property
    def pid(self) -> int:
        return os.getpid()


class RemoteStorage(_Remote):
    """The Storage fake of another process, reached over its link."""

    service = "storage"

    def __init__(self, link_url: str, config: Config, project: str, *, session: int = 0) -> None:
        self.config = config
        self.project = project
        self.app = ForwardingApp(link_url, session=session)


class ForwardingApp:
    """A WSGI app that has the owning process's Storage app serve each request, over the
    link, and returns its answer.

    The request keeps the URL the client called, so the links in the answer (``mediaLink``,
    session URIs) still name that address, which the client's ``requests`` adapter routes
    back here.
    """

    def __init__(self, link_url: str, *, session: int = 0) -> None:
        from pytest_gcpfakes.server._link import RemoteCaller

        self._caller = RemoteCaller(link_url, timeout=300, session=session)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        from pytest_gcpfakes.server._link import read_body
        from pytest_gcpfakes.storage._wire import RAW_HEADERS

        raw = environ.get(RAW_HEADERS)
        headers = [(str(k), str(v)) for k, v in raw] if raw is not None else _headers(environ)
        status, reply, data = self._caller.wsgi(
            environ["REQUEST_METHOD"],
            _url(environ),
            headers,
            read_body(environ),
            chunked=bool(environ.get("wsgi.input_terminated")),
        )
        start_response(status, reply)
        return [data]


def _url(environ: dict[str, Any]) -> str:
    """The URL a request was made to, path still percent-encoded as sent."""
    host = environ.get("HTTP_HOST")
    if not host:
        name = environ.get("SERVER_NAME", "")
        host = (
            f"[{name}]:{environ.get('SERVER_PORT')}"
            if ":" in name
            else (f"{name}:{environ.get('SERVER_PORT')}")
        )
    target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    if "?" not in target and environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{target}"


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """A request's headers from its ``HTTP_*`` keys, for an environ without the raw list."""
    headers = [
        (key[5:].replace("_", "-").title(), str(value))
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    return headers


def fetch_info(link_url: str) -> dict[str, Any]:
    """What a child needs to know of the owning process: its Storage URL and its config."""
    from pytest_gcpfakes.server._link import PREFIX

    parts = urlsplit(link_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        conn.request("GET", f"{PREFIX}/info")
        info: dict[str, Any] = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return info


def config_from(info: dict[str, Any]) -> Config:
    """Rebuild the owning process's ``Config`` from its JSON form."""
    options = dict(info.get("config") or {})
    if "check" in options:
        options["check"] = tuple(options["check"])
    return build_config(options, where="the parent process's gcpfakes options")


# -- Pub/Sub ---------------------------------------------------------------------------------


class _NoFaults:
    """Faults are injected where the fakes live: the owning process applies them."""

    active = False


class RemotePubSub(_Remote):
    """The Pub/Sub fake of another process, reached over its link."""

    service = "pubsub"
    faults = _NoFaults()

    def __init__(self, link_url: str, config: Config, project: str, *, session: int = 0) -> None:
        from pytest_gcpfakes.server._link import RemoteCaller

        self.config = config
        self.project = project
        self.backend = _RemoteBackend(RemoteCaller(link_url, session=session))


class _RemoteBackend:
    """What the service layer calls on a handle's backend, forwarded in serialized form."""

    def __init__(self, caller: Any) -> None:
        self._caller = caller

    def call(self, name: str, request: Any, timeout: float | None) -> Any:
        from pytest_gcpfakes.pubsub._service import rpc_named

        rpc = rpc_named(name)
        assert rpc is not None  # the transport only has the table's RPCs
        answer = self._caller.unary(rpc.path, _serialize(request))
        return _parse(rpc, answer)

    def call_stream(
        self, name: str, requests: Any, timeout: float | None, *, refused: Any = None
    ) -> Any:
        from pytest_gcpfakes.pubsub._service import rpc_named

        rpc = rpc_named(name)
        assert rpc is not None
        return RemoteStream(rpc, requests, self._caller)


def _serialize(request: Any) -> bytes:
    to_pb = getattr(type(request), "pb", None)
    pb = to_pb(request) if to_pb is not None else request
    return bytes(pb.SerializeToString())


def _parse(rpc: Any, payload: bytes) -> Any:
    if rpc.response_type is not None:
        return rpc.response_type.deserialize(payload)
    return rpc.response_pb.FromString(payload)


class RemoteStream(CallSurface):
    """A ``StreamingPull`` call object (as ``google.api_core.bidi`` drives it) over the link."""

    def __init__(self, rpc: Any, requests: Any, caller: Any) -> None:
        self._rpc = rpc
        self._active = True
        self._error: Exception | None = None
        self._callbacks: list[Callable[[Any], None]] = []
        self._cancels: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._responses = caller.stream(
            rpc.path, (_serialize(r) for r in requests), self._cancels.append
        )

    def __iter__(self) -> RemoteStream:
        return self

    def __next__(self) -> Any:
        from google.api_core import exceptions

        if not self._active:
            raise self._error or exceptions.Cancelled("The operation was cancelled.")
        try:
            payload = next(self._responses)
        except StopIteration:
            error: Exception = self._error or exceptions.Cancelled("The operation was cancelled.")
            self._finish(error)
            raise error from None
        except exceptions.GoogleAPICallError as failure:
            self._finish(failure)
            raise
        return _parse(self._rpc, payload)

    def is_active(self) -> bool:
        return self._active

    def cancel(self) -> bool:
        from google.api_core import exceptions

        self._finish(exceptions.Cancelled("The operation was cancelled."))
        for cancel in list(self._cancels):
            cancel()
        return True

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        with self._lock:
            if self._active:
                self._callbacks.append(callback)
                return
        callback(self._error)

    def _finish(self, error: Exception) -> None:
        with self._lock:
            if not self._active:
                return
            self._active = False
            self._error = error
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(error)


def remote_handle(service: str, link_url: str, like: Any, *, session: int = 0) -> Any:
    """A handle for ``service`` of the process behind ``link_url``, with ``like``'s options
    (or the defaults, for a child forked before any fake was active)."""
    if like is not None:
        config, project = like.config, like.project
    else:
        from pytest_gcpfakes._registry import client_project

        config, project = Config(), client_project()
    if service == "pubsub":
        return RemotePubSub(link_url, config, project, session=session)
    return RemoteStorage(link_url, config, project, session=session)
