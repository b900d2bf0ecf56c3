"""Class-level wrappers that report client creation, uses and closing to the recorder.

What counts as a use is a table (``CLASSES``): the public methods of the client classes
and of the objects derived from them. A call is recorded only when it is the outermost
one and its immediate caller is outside ``google/`` and ``pytest_gcpfakes/``: the
libraries call their own public methods from their threads (batch commit, streaming-pull
manager, metadata cache), and those are never a request's use.

Wrappers are installed at the class that defines each method, after the activation
patches on the same class, so that they are the outermost layer the user's code calls.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pytest_gcpfakes.usage._recorder import (
    ENTRY_REQUEST,
    TASK_CODES,
    _caller_cache,
    _local,
    _pid,
    is_library_caller,
    next_seq,
    recorder,
    task_site,
)

_CLIENT_ATTR = "_gcpfakes_client_serial"
_FUTURE_ATTR = "_gcpfakes_future_client"
TRANSPORT_OWNER_ATTR = "_gcpfakes_owner_serial"


class _Guard(threading.local):
    """Whether this thread is inside a recorded use: only the outermost call is one.

    A one-item list, read once per call and then flipped in place: each access to a
    ``threading.local`` attribute costs as much as the rest of a small step of the wrapper.
    """

    def __init__(self) -> None:
        self.busy = [False]


_guard = _Guard()


# The active rendezvous (see ``concurrency``), if any: a one-slot list, read on every use.
_rendezvous: list[Any] = [None]

# Serials of clients closed through a closing method. Closing one again (``close()`` after
# ``with client:``, a teardown that closes twice) is harmless in every library, so it is
# not a use: the use-after-close check must not flag it.
_closed_serials: set[int] = set()


@dataclass(frozen=True)
class Spec:
    """How one class is instrumented."""

    attr: str  # class name in its module
    display: str | None  # a client class's name in reports; None for derived objects
    owner: Callable[[Any], int | None]  # the client serial an instance belongs to
    methods: tuple[str, ...] | None = None  # None: every public method defined on it
    closing: frozenset[str] = frozenset()
    returns_futures: frozenset[str] = frozenset()


def _self(obj: Any) -> int | None:
    serial: int | None = obj.__dict__.get(_CLIENT_ATTR) if hasattr(obj, "__dict__") else None
    return serial


def _via_client(obj: Any) -> int | None:
    client = getattr(obj, "client", None)
    return _self(client) if client is not None else None


def _via_private_client(obj: Any) -> int | None:
    client = getattr(obj, "_client", None)
    return _self(client) if client is not None else None


def _stamped(obj: Any) -> int | None:
    serial: int | None = obj.__dict__.get(_FUTURE_ATTR) if hasattr(obj, "__dict__") else None
    return serial


_PUBSUB = "google.pubsub_v1.services"
CLASSES: dict[str, tuple[Spec, ...]] = {
    "google.cloud.pubsub_v1.publisher.client": (
        Spec(
            "Client",
            "PublisherClient",
            _self,
            closing=frozenset({"stop"}),
            returns_futures=frozenset({"publish"}),
        ),
    ),
    "google.cloud.pubsub_v1.subscriber.client": (
        Spec(
            "Client",
            "SubscriberClient",
            _self,
            closing=frozenset({"close", "__exit__"}),
            returns_futures=frozenset({"subscribe"}),
        ),
    ),
    f"{_PUBSUB}.publisher.client": (
        Spec("PublisherClient", "gapic.PublisherClient", _self, closing=frozenset({"__exit__"})),
    ),
    f"{_PUBSUB}.subscriber.client": (
        Spec("SubscriberClient", "gapic.SubscriberClient", _self, closing=frozenset({"__exit__"})),
    ),
    f"{_PUBSUB}.schema_service.client": (
        Spec("SchemaServiceClient", "SchemaServiceClient", _self, closing=frozenset({"__exit__"})),
    ),
    "google.cloud.pubsub_v1.publisher.futures": (
        Spec("Future", None, _stamped, methods=("result", "exception", "cancel")),
    ),
    "google.cloud.pubsub_v1.subscriber.futures": (
        Spec("StreamingPullFuture", None, _stamped, methods=("result", "exception", "cancel")),
    ),
    "google.cloud.storage.client": (
        Spec("Client", "storage.Client", _self, closing=frozenset({"close", "__exit__"})),
    ),
    "google.cloud.storage.bucket": (Spec("Bucket", None, _via_client),),
    "google.cloud.storage.blob": (Spec("Blob", None, _via_client),),
    "google.cloud.storage.batch": (
        Spec("Batch", None, _via_private_client, methods=("finish", "__enter__", "__exit__")),
    ),
}

_display_names: dict[type, str] = {}


def display_name(cls: type) -> str:
    """The name reports use for a client class (its closest instrumented ancestor's)."""
    for klass in cls.__mro__:
        name = _display_names.get(klass)
        if name is not None:
            return name if klass is cls or cls.__module__.startswith("google.") else cls.__name__
    return cls.__name__


def patch_module(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Instrument the classes of ``module`` listed in ``CLASSES``."""
    for spec in CLASSES.get(module.__name__, ()):
        cls = getattr(module, spec.attr)
        if spec.display is not None:
            _display_names[cls] = spec.display
            original_init = vars(cls).get("__init__")
            if original_init is not None:
                replace(cls, "__init__", _init_wrapper(original_init))
        for name in _methods(cls, spec):
            original = getattr(cls, name)
            qualified = name if spec.display is not None else f"{spec.attr}.{name}"
            replace(cls, name, _use_wrapper(original, qualified, spec, name))


def _methods(cls: type, spec: Spec) -> list[str]:
    if spec.methods is not None:
        return [name for name in spec.methods if hasattr(cls, name)]
    names = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        if inspect.isfunction(value):
            names.append(name)
    # A closing method inherited from a class nobody instruments is wrapped here: before
    # google-cloud-storage 3.11, storage.Client.close() is google-cloud-core's
    # google.cloud.client.Client.close(), and a closed client would read as a leak.
    for name in sorted(spec.closing - set(names)):
        owner = next((base for base in cls.__mro__ if name in vars(base)), object)
        if owner is not object and owner.__module__ not in CLASSES:
            names.append(name)
    return names


def _init_wrapper(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if _CLIENT_ATTR not in self.__dict__:
            serial = recorder.new_client(self, display_name(type(self)), sys._getframe(1))
            transport = self.__dict__.get("_transport")
            if transport is not None and hasattr(transport, "__dict__"):
                # ``client.transport.close()`` closes the client too (see _transport).
                transport.__dict__[TRANSPORT_OWNER_ATTR] = serial

    return __init__


def _use_wrapper(original: Callable[..., Any], qualified: str, spec: Spec, name: str) -> Any:
    closing = name in spec.closing
    returns_future = name in spec.returns_futures
    owner = spec.owner
    current_thread = threading.current_thread

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        busy = _guard.busy
        if busy[0]:  # only the outermost call is a use
            return original(self, *args, **kwargs)
        frame = sys._getframe(1)
        code = frame.f_code
        filename = code.co_filename
        library = _caller_cache.get(filename)  # inlined: this runs on every client call
        if library is None:
            library = is_library_caller(filename)
        if code in TASK_CODES:  # executor.submit(client.method, ...): used at the submit
            filename, lineno, function = task_site() or (filename, frame.f_lineno, code.co_name)
        elif library:
            return original(self, *args, **kwargs)
        else:
            lineno = frame.f_lineno
            function = code.co_name
        serial = owner(self)
        if serial is None or (closing and serial in _closed_serials):
            return original(self, *args, **kwargs)
        # Recorder.use() and end_use(), inlined: the call to each cost a tenth of a use.
        remote = None
        if recorder._sink is None:
            thread = current_thread()
            stack = _local.stack
            request = stack[-1] if stack else _local.inherited
            seq = next_seq()
            recorder._uses.append(
                (
                    serial,
                    qualified,
                    thread.name,
                    thread.ident,
                    request,
                    _pid[0],
                    filename,
                    lineno,
                    function,
                    seq,
                )
            )
        else:  # a child process: the parent records it
            remote = recorder.use(serial, qualified, (filename, lineno, function))
            request = remote[ENTRY_REQUEST]
        busy[0] = True
        try:
            gathering = _rendezvous[0]
            if gathering is not None:  # hold here while a rendezvous gathers requests
                gathering.arrive(request)
            result = original(self, *args, **kwargs)
        finally:
            busy[0] = False
            # The call returned: the end of this use.
            if remote is None:
                recorder._ends[seq] = next_seq()
            else:
                recorder.end_use(remote)
            if closing:
                _closed_serials.add(serial)
                recorder.closed(serial, frame)
        if returns_future and hasattr(result, "__dict__"):
            result.__dict__[_FUTURE_ATTR] = serial
        return result

    return wrapper
