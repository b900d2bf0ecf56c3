"""The Pub/Sub service layer: what every face (in-process transport, gRPC server) calls.

One backend, two faces. This module owns what the faces share, written once:

- the RPC table: every method of Publisher, Subscriber, SchemaService and the IAMPolicy
  mixin, with its gRPC path, GAPIC name, API name (the one faults use), message types and
  kind;
- injected faults and latency, applied before the backend runs a call (the ``fake_pubsub``
  helpers call the backend directly, so arranging a test never uses a fault up);
- the mapping between ``google.api_core`` exceptions and ``google.rpc.Status``, so that a
  client on a real channel gets the same exception class, message and details as one
  in-process;
- bytes-level entry points (``call_bytes``, ``stream_bytes``) for faces that speak a wire.

Each call looks the current fake up in ``_registry`` (unless it is handed one), so a server
that outlives a test serves the next test's fresh state.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core import exceptions
from google.protobuf import any_pb2, descriptor_pool, message, message_factory
from google.rpc import status_pb2

from pytest_gcpfakes import _registry
from pytest_gcpfakes._backoff import note_failure
from pytest_gcpfakes._internals.pubsub import Stub, grpc_stubs

__all__ = [
    "LOCAL",
    "LocalCaller",
    "Rpc",
    "call",
    "call_bytes",
    "error_from_status",
    "open_stream",
    "rpc_named",
    "rpc_table",
    "status_from_error",
    "stream_bytes",
]

# The generated gRPC transports: the wire definition the real clients speak.
_GRPC_TRANSPORTS = (
    ("publisher", "PublisherGrpcTransport"),
    ("subscriber", "SubscriberGrpcTransport"),
    ("schema_service", "SchemaServiceGrpcTransport"),
)


# ---------------------------------------------------------------------------------------
# The RPC table


@dataclass(frozen=True, slots=True)
class Rpc:
    """One RPC as both faces see it."""

    path: str
    """The gRPC method path, ``/google.pubsub.v1.Publisher/Publish``."""
    service: str
    """The proto service, ``google.pubsub.v1.Publisher``."""
    method: str
    """The API's method name, ``Publish``: what ``fake_pubsub.fail()`` takes."""
    name: str
    """The GAPIC transport's name for it, ``publish``: what the backend dispatches on."""
    streaming: bool
    """Bidirectional streaming (``StreamingPull``) rather than unary."""
    request_type: Any
    """The proto-plus request class, or ``None`` where the client sends a raw protobuf."""
    request_pb: type[message.Message]
    response_type: Any
    """The proto-plus response class, or ``None`` where the client reads a raw protobuf."""
    response_pb: type[message.Message]

    def parse(self, payload: bytes) -> Any:
        """The request a client sent as ``payload``, as the backend takes it.

        Raises ``InvalidArgument`` (never an internal error) when the bytes do not parse.
        """
        try:
            raw = self.request_pb.FromString(payload)
        except message.DecodeError:
            raise exceptions.InvalidArgument(
                f"The request to {self.path} is not a serialized "
                f"{self.request_pb.DESCRIPTOR.full_name} message."
            ) from None
        return raw if self.request_type is None else self.request_type.wrap(raw)

    def serialize(self, response: Any) -> bytes:
        """The bytes of a backend's answer (``None`` answers ``google.protobuf.Empty``)."""
        if response is None:
            return b""
        raw = response if isinstance(response, message.Message) else type(response).pb(response)
        data: bytes = raw.SerializeToString()
        return data


def _message_classes(stub: Stub, method: str) -> tuple[Any, type[message.Message], Any, Any]:
    """(proto-plus request, raw request, proto-plus response, raw response) of one stub.

    The generated stubs serialize proto-plus requests with ``Type.serialize`` and read
    responses with ``Type.deserialize`` (proto-plus) or ``Type.FromString`` (raw: Empty and
    the IAM messages). A raw request's class comes from the protobuf descriptor pool, where
    the IAM service's descriptor lives.
    """
    request_type = _proto_plus_class(stub.request_serializer)
    if request_type is not None:
        request_pb: type[message.Message] = request_type.pb()
    else:
        service, _, name = stub.path.strip("/").partition("/")
        found = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
        request_pb = message_factory.GetMessageClass(found.input_type)
    response_owner = getattr(stub.response_deserializer, "__self__", None)
    response_type = _proto_plus_class(stub.response_deserializer)
    response_pb = response_type.pb() if response_type is not None else response_owner
    if not (isinstance(response_pb, type) and issubclass(response_pb, message.Message)):
        raise RuntimeError(
            f"pytest-gcpfakes could not tell the response type of {stub.path} "
            f"({method}) from the generated transport; this google-cloud-pubsub is newer "
            "than the plugin knows."
        )
    return request_type, request_pb, response_type, response_pb


def _proto_plus_class(function: Any) -> Any:
    import proto

    owner = getattr(function, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, proto.Message):
        return owner
    return None


def _snake_case(method: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()


@functools.cache
def rpc_table() -> Mapping[str, Rpc]:
    """Every RPC the Pub/Sub clients can send, by gRPC path (built once, on first use)."""
    import importlib

    table: dict[str, Rpc] = {}
    for module_name, class_name in _GRPC_TRANSPORTS:
        module = importlib.import_module(f"google.pubsub_v1.services.{module_name}.transports.grpc")
        for name, stub in grpc_stubs(getattr(module, class_name)).items():
            if stub.path in table:  # the IAMPolicy mixin is on every service
                continue
            service, _, method = stub.path.strip("/").partition("/")
            if _snake_case(method) != name:
                raise RuntimeError(
                    f"pytest-gcpfakes expected the transport property for {stub.path} to be "
                    f"named {_snake_case(method)!r}, not {name!r}."
                )
            request_type, request_pb, response_type, response_pb = _message_classes(stub, method)
            table[stub.path] = Rpc(
                path=stub.path,
                service=service,
                method=method,
                name=name,
                streaming=stub.streaming,
                request_type=request_type,
                request_pb=request_pb,
                response_type=response_type,
                response_pb=response_pb,
            )
    return table


@functools.cache
def _by_name() -> Mapping[str, Rpc]:
    return {rpc.name: rpc for rpc in rpc_table().values()}


def rpc_named(name: str) -> Rpc | None:
    """The RPC a GAPIC transport calls ``name`` (``"publish"``), or ``None``."""
    return _by_name().get(name)


def _rpc_at(path: str) -> Rpc:
    rpc = rpc_table().get(path)
    if rpc is None:
        raise exceptions.MethodNotImplemented(
            f"pytest-gcpfakes does not serve the gRPC method {path!r}."
        )
    return rpc


# ---------------------------------------------------------------------------------------
# Calls (objects in, objects out): the in-process transport


def call(rpc: Rpc, request: Any, timeout: float | None, handle: Any = None) -> Any:
    """Serve one unary call: injected faults and latency first, then the backend.

    ``request`` is what the client sends (proto-plus, or raw for IAM) and stays the
    caller's: the backend copies what it keeps.
    """
    if handle is None:
        handle = _registry.current("pubsub")
    faults = handle.faults
    try:
        if faults.active:
            faults.before(rpc.method)
        return handle.backend.call(rpc.name, request, timeout)
    except exceptions.GoogleAPICallError:
        note_failure(faults)  # a retry of this call in this thread backs off virtually
        raise


def open_stream(
    rpc: Rpc, requests: Iterator[Any], timeout: float | None, handle: Any = None
) -> Any:
    """Open a ``StreamingPull``: the call object whose ``next()`` yields responses.

    An injected fault ends the stream from its first ``next()``, as a gRPC stream fails.
    """
    if handle is None:
        handle = _registry.current("pubsub")
    refused: exceptions.GoogleAPICallError | None = None
    faults = handle.faults
    if faults.active:
        try:
            faults.before(rpc.method)
        except exceptions.GoogleAPICallError as error:
            refused = error
    return handle.backend.call_stream(rpc.name, requests, timeout, refused=refused)


# ---------------------------------------------------------------------------------------
# Errors as google.rpc.Status


class _StatusCall:
    """The parts of a failed ``grpc.Call`` that ``google.api_core`` and the subscriber read.

    ``exceptions.from_grpc_error`` (and ``grpc_status.rpc_status.from_call``, which the
    exactly-once subscriber uses on ``error.response``) read the code, the message and the
    ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer. An error made from
    one of these is built by the same code as the error a client gets off a real channel.
    """

    def __init__(self, status: status_pb2.Status) -> None:
        self.status = status
        self._code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return str(self.status.message)

    def trailing_metadata(self) -> list[tuple[str, bytes]]:
        return [("grpc-status-details-bin", self.status.SerializeToString())]


_CODES = {code.value[0]: code for code in grpc.StatusCode}
# The HTTP mapping of google/rpc/code.proto, read backwards, for the api_core classes that
# have no gRPC code (Forbidden, Conflict, TooManyRequests, BadGateway …).
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    416: grpc.StatusCode.OUT_OF_RANGE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def error_from_status(status: status_pb2.Status) -> exceptions.GoogleAPICallError:
    """The exception a client gets for ``status``: class by code, message, unpacked details.

    Built by ``google.api_core`` itself from a stand-in call, so an in-process client and
    one on a real channel see the same ``details``, ``error_info`` and ``response`` status.
    """
    error: exceptions.GoogleAPICallError = exceptions.from_grpc_error(_StatusCall(status))
    return error


def status_from_error(error: BaseException) -> status_pb2.Status:
    """The ``google.rpc.Status`` a server sends for ``error`` (``error_from_status``'s inverse).

    An error made by ``error_from_status`` gives back its status unchanged. Any other
    ``GoogleAPICallError`` gets its class's gRPC code (an HTTP-only class such as
    ``Forbidden`` the one for its HTTP status, so it arrives as ``PermissionDenied``), its
    message and its protobuf details packed as ``Any``. Any other exception is a bug in the
    fake: FAILED_PRECONDITION, which no client retries, with a sentence naming it.
    """
    if not isinstance(error, exceptions.GoogleAPICallError):
        return status_pb2.Status(
            code=grpc.StatusCode.FAILED_PRECONDITION.value[0],
            message=(
                f"pytest-gcpfakes: the Pub/Sub fake failed with {type(error).__name__}: "
                f"{error}; this is a bug in pytest-gcpfakes, please report it."
            ),
        )
    response = error.response
    if isinstance(response, _StatusCall):
        copied = status_pb2.Status()
        copied.CopyFrom(response.status)
        return copied
    code = error.grpc_status_code
    if code is None:
        code = _HTTP_TO_GRPC.get(error.code or 0, grpc.StatusCode.UNKNOWN)
    status = status_pb2.Status(code=code.value[0], message=str(error.message))
    for detail in error.details:
        if not isinstance(detail, message.Message):
            continue  # a detail that is not a protobuf message has no wire form
        if isinstance(detail, any_pb2.Any):
            status.details.append(detail)
        else:
            status.details.add().Pack(detail)
    return status


# ---------------------------------------------------------------------------------------
# Bytes in, bytes out: the wire faces


def call_bytes(path: str, payload: bytes, handle: Any = None) -> bytes:
    """Serve one unary call given as its gRPC path and serialized request.

    Raises ``GoogleAPICallError``: ``InvalidArgument`` for a body that does not parse,
    ``MethodNotImplemented`` for an unknown path, ``FailedPrecondition`` with no fake active.
    """
    rpc = _rpc_at(path)
    if rpc.streaming:
        raise exceptions.MethodNotImplemented(f"{path} is a streaming method, not a unary one.")
    return rpc.serialize(call(rpc, rpc.parse(payload), None, handle))


def stream_bytes(
    path: str,
    requests: Iterator[bytes],
    on_cancel: Callable[[Callable[[], None]], object] | None = None,
    handle: Any = None,
) -> Iterator[bytes]:
    """Serve a streaming call (``StreamingPull``): serialized requests in, responses out.

    The stream ends, its backend stream and reader thread with it, and the responses end
    quietly, when the caller goes away: when ``on_cancel(callback)`` (such as
    ``grpc.ServicerContext.add_callback``; returning ``False`` means "already over") calls
    back, when ``requests`` ends or fails, or when the returned iterator is closed. Errors
    found before the stream starts (no fake, an unknown path, a bad first request) are
    raised from this call; errors that end it (``NotFound``, an injected fault …) from the
    iteration, as ``GoogleAPICallError``.
    """
    rpc = _rpc_at(path)
    if not rpc.streaming:
        raise exceptions.MethodNotImplemented(f"{path} is a unary method, not a streaming one.")
    if handle is None:
        handle = _registry.current("pubsub")
    cancelled = threading.Event()
    opened: list[Any] = []

    def cancel() -> None:
        cancelled.set()
        if opened:
            opened[0].cancel()

    def parsed() -> Iterator[Any]:
        try:
            for payload in requests:
                yield rpc.parse(payload)
        except exceptions.GoogleAPICallError:
            raise  # a request that does not parse ends the stream with InvalidArgument
        except Exception:  # grpc raises here once the caller has cancelled
            pass
        cancel()  # the caller closed its side or went away

    stream = open_stream(rpc, parsed(), None, handle)
    opened.append(stream)
    if on_cancel is not None and on_cancel(cancel) is False:
        cancel()
    if cancelled.is_set():
        stream.cancel()
    return _serialized(rpc, stream, cancelled)


def _serialized(rpc: Rpc, stream: Any, cancelled: threading.Event) -> Iterator[bytes]:
    try:
        for response in stream:
            yield rpc.serialize(response)
    except exceptions.Cancelled:
        if not cancelled.is_set():
            raise
    finally:
        stream.cancel()  # a consumer that stops reading ends the backend stream too


class LocalCaller:
    """The service layer of this process, as a wire face calls it (bytes in, bytes out)."""

    def unary(self, path: str, payload: bytes) -> bytes:
        """Serve one unary call on the current fake."""
        return call_bytes(path, payload)

    def stream(
        self,
        path: str,
        requests: Iterator[bytes],
        on_cancel: Callable[[Callable[[], None]], object] | None = None,
    ) -> Iterator[bytes]:
        """Serve a streaming call on the current fake (see :func:`stream_bytes`)."""
        return stream_bytes(path, requests, on_cancel)


LOCAL = LocalCaller()
"""The caller a wire face uses by default: this process's fakes."""
