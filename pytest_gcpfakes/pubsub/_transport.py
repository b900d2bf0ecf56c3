"""An in-memory GAPIC transport for the generated Pub/Sub clients.

The class is derived from the generated abstract transport (``PublisherTransport`` …) so the
real client runs every line of its own code: request building, retries, timeouts, the
streaming-pull machinery. Each RPC property returns the same callable every time (the
client keys its ``_wrapped_methods`` dict by them), and each call goes to the service layer
(``_service``), which looks up the *current* fake: that is what lets a client built at
import time serve every test. The RPCs are those of the service layer's table, the same
ones the gRPC server serves.
"""

from __future__ import annotations

import functools
import importlib
import threading
import weakref
from typing import Any

import grpc
from google.api_core import exceptions

from pytest_gcpfakes._hosts import is_servable_endpoint
from pytest_gcpfakes.pubsub import _service

_EMULATOR = "PUBSUB_EMULATOR_HOST"

_call = _service.call  # read per call: one global lookup instead of two
_open_stream = _service.open_stream


class _UnaryMethod(grpc.UnaryUnaryMultiCallable):  # type: ignore[misc]
    """One unary RPC: hands the request to the service layer."""

    def __init__(self, rpc: _service.Rpc) -> None:
        self.rpc = rpc
        self.__name__ = rpc.name

    def __call__(self, request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return _call(self.rpc, request, timeout)

    def with_call(self, request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return self(request, timeout), None

    def future(self, request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("pytest-gcpfakes transports have no future() calls.")


class _StreamMethod(grpc.StreamStreamMultiCallable):  # type: ignore[misc]
    """A bidirectional streaming RPC (``StreamingPull``).

    Being a ``StreamStreamMultiCallable`` makes ``google.api_core`` wrap the result as a
    stream; the subscriber client sets ``_prefetch_first_result_`` on this object.
    """

    def __init__(self, rpc: _service.Rpc, channel: _FakeChannel) -> None:
        self.rpc = rpc
        self.__name__ = rpc.name
        self._prefetch_first_result_ = True
        self._channel = channel

    def __call__(self, request_iterator: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        stream = _open_stream(self.rpc, request_iterator, timeout)
        self._channel.opened(stream)
        return stream


class _RefusedMethod:
    """Any RPC of a transport whose endpoint the fakes cannot serve: fails at once."""

    def __init__(self, rpc: _service.Rpc, endpoint: str) -> None:
        self.rpc = rpc
        self.__name__ = rpc.name
        self._endpoint = endpoint
        self._prefetch_first_result_ = True  # the subscriber sets it on StreamingPull

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from pytest_gcpfakes._errors import ForeignEndpointError

        raise ForeignEndpointError("pubsub", f"{self._endpoint} ({self.rpc.method})")

    with_call = __call__
    future = __call__


class _FakeChannel:
    """What ``SubscriberClient.close()`` closes: there is no connection to release, but
    the streams opened through it end, as a gRPC channel's do when it closes.

    A subscriber closed with a streaming pull open (``with subscriber:`` around
    ``subscribe()``) sees its stream end with ``Cancelled``, which shuts the stream's
    manager down and resolves its future; otherwise ``result()`` would wait forever.
    """

    def __init__(self) -> None:
        self.closed = False
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def opened(self, stream: Any) -> None:
        """Note a stream opened through this channel (ended at once if it is closed)."""
        with self._lock:
            if not self.closed:
                self._streams.add(stream)
                return
        _end(stream)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            streams, self._streams = list(self._streams), weakref.WeakSet()
        for stream in streams:
            _end(stream)


def _end(stream: Any) -> None:
    """End one stream as the installed grpcio ends the calls of a channel being closed."""
    finish = getattr(stream, "_finish", None)
    if finish is not None:
        finish(exceptions.Cancelled(_channel_closed()))


@functools.cache
def _channel_closed() -> str:
    """What grpcio tells a stream whose channel is closed: CANCELLED with these details.

    Measured with a real channel and server: "Channel closed!" up to grpcio 1.80,
    "Stream removed (Channel closed!)" from 1.81 (checked to 1.85).
    """
    major, minor = (int(part) for part in grpc.__version__.split(".")[:2])
    if (major, minor) >= (1, 81):
        return "Stream removed (Channel closed!)"
    return "Channel closed!"


@functools.cache
def fake_transport_class(service_module: str, base_name: str) -> type:
    """Build the in-memory transport class for one generated Pub/Sub service."""
    base_module = importlib.import_module(
        f"google.pubsub_v1.services.{service_module}.transports.base"
    )
    base: type = getattr(base_module, base_name)
    # Every property of the base that the table knows is an RPC (the rest: host, kind).
    rpcs = {
        name: rpc
        for name, value in vars(base).items()
        if isinstance(value, property) and (rpc := _service.rpc_named(name)) is not None
    }

    def __init__(self: Any, *, host: str = base.DEFAULT_HOST, **kwargs: Any) -> None:  # type: ignore[attr-defined]
        from google.auth.credentials import AnonymousCredentials

        # PUBSUB_EMULATOR_HOST makes the client open a channel and pass it in: the
        # in-process fake takes precedence, so release that channel straight away.
        given = kwargs.get("channel")
        if given is not None and hasattr(given, "close"):
            given.close()
        base.__init__(  # type: ignore[misc]
            self,
            host=host,
            credentials=AnonymousCredentials(),
            client_info=kwargs.get("client_info") or base_module.DEFAULT_CLIENT_INFO,
            api_audience=kwargs.get("api_audience"),
        )
        # An api_endpoint the fakes cannot serve (neither Google's, nor this machine's,
        # nor $PUBSUB_EMULATOR_HOST's) makes every call fail at once, naming it.
        self.refused_endpoint = None if is_servable_endpoint(host, _EMULATOR) else host
        channel = _FakeChannel()
        self._fake_methods = {
            name: _RefusedMethod(rpc, host)
            if self.refused_endpoint
            else _StreamMethod(rpc, channel)
            if rpc.streaming
            else _UnaryMethod(rpc)
            for name, rpc in rpcs.items()
        }
        self._channel = channel
        self._prep_wrapped_messages(self._fake_client_info(kwargs))

    def _fake_client_info(self: Any, kwargs: dict[str, Any]) -> Any:
        return kwargs.get("client_info") or base_module.DEFAULT_CLIENT_INFO

    def close(self: Any) -> None:
        self._channel.close()
        owner = self.__dict__.get("_gcpfakes_owner_serial")
        if owner is not None:  # the usage recorder counts this as closing the client
            import sys

            from pytest_gcpfakes.usage._recorder import recorder

            recorder.closed(owner, sys._getframe(1))

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": f"In-memory {base_name} served by the current pytest-gcpfakes backend.",
        "__module__": __name__,
        "_fake_client_info": _fake_client_info,
        "close": close,
        "kind": property(lambda self: "grpc"),
        "grpc_channel": property(lambda self: self._channel),
    }
    for name in rpcs:
        namespace[name] = property(functools.partial(_method_of, rpc=name))
    return type(f"InMemory{base_name}", (base,), namespace)


def _method_of(transport: Any, *, rpc: str) -> Any:
    return transport._fake_methods[rpc]
