"""The recorder: which clients exist, which requests ran, and every use of a client.

Process-wide, because clients outlive tests (a module-level client is created once, at
import). Uses and requests are kept per *session* (one test, or one ``GCPFakes`` block):
``begin()`` starts a clean one and ``recording()`` returns what it saw, so each test's
checks look only at that test.

A use is stored as a tuple of plain values and turned into a ``Use`` only when a recording
is read: the hot path must stay within a few microseconds per call. Its end goes into a
separate dict, keyed by the use's seq, so that the tuple never changes: a tuple of strings and
ints is untracked by the garbage collector, while a list per use (how ends were filled in
before) was traversed by every collection, and that cost more than the rest of a use.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import weakref
from types import FrameType
from typing import Any

from pytest_gcpfakes._clock import _logical, logical_now
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Recording, RequestInfo, Use

_SERIAL_ATTR = "_gcpfakes_client_serial"

# Frames in these folders are the libraries, not the user's code.
_LIBRARY_MARKERS = tuple(
    f"{os.sep}{name}{os.sep}"
    for name in ("google", "pytest_gcpfakes", "flask", "werkzeug", "grpc", "proto", "requests")
)
_library_cache: dict[str, bool] = {}


def is_library_file(filename: str) -> bool:
    """Whether ``filename`` belongs to a client library, Flask or this plugin (memoised)."""
    known = _library_cache.get(filename)
    if known is None:
        known = any(marker in filename for marker in _LIBRARY_MARKERS) or filename.startswith(
            "<frozen"
        )
        _library_cache[filename] = known
    return known


_LIBRARY_CALLERS = tuple(f"{os.sep}{name}{os.sep}" for name in ("google", "pytest_gcpfakes"))
_caller_cache: dict[str, bool] = {}


def is_library_caller(filename: str) -> bool:
    """Whether a call made from ``filename`` is the client library calling itself."""
    known = _caller_cache.get(filename)
    if known is None:
        known = any(marker in filename for marker in _LIBRARY_CALLERS)
        _caller_cache[filename] = known
    return known


def user_site(frame: FrameType | None) -> CallSite:
    """Return the first frame, from ``frame`` outwards, that is the user's code."""
    first = frame
    while frame is not None:
        code = frame.f_code
        if not is_library_file(code.co_filename):
            return CallSite(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    if first is not None:
        return CallSite(first.f_code.co_filename, first.f_lineno, first.f_code.co_name)
    return CallSite("<unknown>", 0, "<unknown>")


class Recorder:
    """Clients since the plugin loaded; requests and uses of the current session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client_serials = itertools.count(1)
        self._request_serials = itertools.count(1)
        self._clients: dict[int, ClientInfo] = {}
        self._types: dict[int, type] = {}
        self._objects: dict[int, weakref.ref[Any]] = {}
        self._requests: dict[int, RequestInfo] = {}
        # (client, method, thread, ident, request, pid, filename, lineno, function, seq)
        self._uses: list[tuple[Any, ...]] = []
        # seq of a use -> seq when its call returned (absent while it runs)
        self._ends: dict[int, int] = {}
        self._session_start = 0
        # In a child process: where its events go (see forward_to); None records here.
        self._sink: Any = None
        self._remote_uses: dict[int, int] = {}  # use id -> seq, of children's running uses
        self._remote_use_ids = itertools.count(1)

    # -- children ------------------------------------------------------------------------

    def forward_to(self, sink: Any) -> None:
        """Send every event to another process's recorder (this process is its child).

        ``sink.send(event: dict) -> Any`` delivers one event and returns the parent's
        answer (a serial for new clients and requests, a use id for uses). Serials, and the
        logical order of every event, are the parent's: children's uses then compare with
        the parent's and with each other's.
        """
        self._sink = sink

    def apply(self, event: dict[str, Any]) -> Any:
        """Record an event a child process sent (the parent's half of ``forward_to``)."""
        kind = event["event"]
        site = tuple(event["site"]) if event.get("site") else None
        if kind == "client":
            serial = next(self._client_serials)
            info = ClientInfo(
                serial=serial,
                class_name=str(event["class_name"]),
                created_at=CallSite(*site) if site else CallSite("<unknown>", 0, "<unknown>"),
                created_thread=str(event["thread"]),
                created_thread_ident=int(event["ident"]),
                created_request=event["request"],
                pid=int(event["pid"]),
                created_seq=logical_now(),
            )
            with self._lock:
                self._clients[serial] = info
            return serial
        if kind == "closed":
            self._close(int(event["serial"]), CallSite(*site) if site else None)
            return None
        if kind == "use":
            seq = next_seq()
            entry = (
                event["serial"],
                event["method"],
                event["thread"],
                event["ident"],
                event["request"],
                event["pid"],
                *(site or ("<unknown>", 0, "<unknown>")),
                seq,
            )
            use_id = next(self._remote_use_ids)
            with self._lock:
                self._uses.append(entry)
                self._remote_uses[use_id] = seq
            return use_id
        if kind == "use_end":
            with self._lock:
                started = self._remote_uses.pop(int(event["id"]), None)
            if started is not None:
                self._ends[started] = next_seq()
            return None
        if kind == "request":
            return self._new_request(
                str(event["method"]),
                str(event["path"]),
                str(event["thread"]),
                int(event["ident"]),
                int(event["pid"]),
            )
        if kind == "request_end":
            self._end_request(int(event["serial"]))
            return None
        raise ValueError(f"unknown recorder event {kind!r}")

    # -- sessions ------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a clean session: forget the previous session's uses and requests."""
        with self._lock:
            self._session_start = logical_now()
            self._uses = []
            self._ends = {}
            self._requests = {
                serial: info for serial, info in self._requests.items() if info.end_seq is None
            }

    def recording(self) -> Recording:
        """Return what this session saw: its requests and uses, and the clients involved."""
        with self._lock:
            raw_uses = list(self._uses)
            ends = dict(self._ends)
            requests = dict(self._requests)
            clients = dict(self._clients)
            start = self._session_start
        end = ends.get
        uses = tuple(
            Use(c, m, t, i, r, p, CallSite(f, ln, fn), s, end(s))
            for (c, m, t, i, r, p, f, ln, fn, s) in raw_uses
        )
        used = {u.client for u in uses}
        involved = tuple(
            info
            for serial, info in sorted(clients.items())
            if serial in used or info.created_seq >= start
        )
        return Recording(
            clients=involved,
            requests=tuple(info for _, info in sorted(requests.items())),
            uses=uses,
        )

    # -- clients -------------------------------------------------------------------------

    def serial_of(self, client: Any) -> int | None:
        """Return the serial stamped on a client object, or ``None``."""
        serial: int | None = getattr(client, "__dict__", {}).get(_SERIAL_ATTR)
        return serial

    def client_type(self, serial: int) -> type | None:
        """Return the class of a recorded client."""
        return self._types.get(serial)

    def new_client(self, client: Any, class_name: str, frame: FrameType | None) -> int:
        """Record a client object's creation (once: nested ``__init__`` calls are ignored)."""
        existing = self.serial_of(client)
        if existing is not None:
            return existing
        thread = threading.current_thread()
        if self._sink is not None:
            site = user_site(frame)
            serial = int(
                self._sink.send(
                    {
                        "event": "client",
                        "class_name": class_name,
                        "site": [site.filename, site.lineno, site.function],
                        "thread": thread.name,
                        "ident": thread.ident or 0,
                        "request": current_request(),
                        "pid": os.getpid(),
                    }
                )
            )
            client.__dict__[_SERIAL_ATTR] = serial
            return serial
        serial = next(self._client_serials)
        client.__dict__[_SERIAL_ATTR] = serial
        info = ClientInfo(
            serial=serial,
            class_name=class_name,
            created_at=user_site(frame),
            created_thread=thread.name,
            created_thread_ident=thread.ident or 0,
            created_request=current_request(),
            pid=os.getpid(),
            created_seq=logical_now(),
        )
        with self._lock:
            self._clients[serial] = info
            self._types[serial] = type(client)
            # A client class without weak references leaves liveness unknown.
            with contextlib.suppress(TypeError):
                self._objects[serial] = weakref.ref(client)
        return serial

    def live_clients(self) -> list[Any]:
        """Every recorded client object still alive (for the end-of-test flush)."""
        with self._lock:
            refs = list(self._objects.values())
        return [client for ref in refs if (client := ref()) is not None]

    def still_referenced(self, serial: int) -> bool:
        """Whether the client object is still reachable (call after ``gc.collect()``).

        Unknown clients count as referenced: never call a client abandoned on a guess.
        """
        ref = self._objects.get(serial)
        return ref is None or ref() is not None

    def closed(self, serial: int, frame: FrameType | None) -> None:
        """Record that a client was closed (the first close counts)."""
        site = user_site(frame)
        if self._sink is not None:
            self._sink.send(
                {
                    "event": "closed",
                    "serial": serial,
                    "site": [site.filename, site.lineno, site.function],
                }
            )
            return
        self._close(serial, site)

    def _close(self, serial: int, site: CallSite | None) -> None:
        with self._lock:
            info = self._clients.get(serial)
            if info is None or info.closed_seq is not None:
                return
            self._clients[serial] = ClientInfo(
                **{
                    **info.__dict__,
                    "closed_seq": logical_now(),
                    "closed_at": site,
                }
            )

    # -- uses ----------------------------------------------------------------------------

    def use(self, serial: int, method: str, site: tuple[str, int, str]) -> tuple[Any, ...]:
        """Record the start of one use of client ``serial`` at ``site``; return its entry.

        The instrumentation wrapper does the same inline (``_instrument._use_wrapper``); this
        is the one other callers use, and the one a child process forwards from.
        """
        thread = threading.current_thread()
        if self._sink is not None:
            return self._remote_use(serial, method, site, thread)
        entry = (
            serial,
            method,
            thread.name,
            thread.ident,
            current_request(),
            _pid[0],
            *site,
            next_seq(),
        )
        self._uses.append(entry)
        return entry

    def end_use(self, entry: tuple[Any, ...]) -> None:
        """Record that the use ``entry`` (from :meth:`use`) returned."""
        if isinstance(entry, _RemoteUse):
            if self._sink is not None:
                self._sink.send({"event": "use_end", "id": entry.use_id})
            return
        self._ends[entry[_SEQ]] = next_seq()

    def _remote_use(
        self, serial: int, method: str, site: tuple[str, int, str], thread: threading.Thread
    ) -> tuple[Any, ...]:
        request = current_request()
        use_id = self._sink.send(
            {
                "event": "use",
                "serial": serial,
                "method": method,
                "thread": thread.name,
                "ident": thread.ident,
                "request": request,
                "pid": os.getpid(),
                "site": list(site),
            }
        )
        return _RemoteUse(use_id, request)

    # -- requests ------------------------------------------------------------------------

    def start_request(self, method: str, path: str) -> int:
        """Record the start of a request in the current thread and make it current."""
        thread = threading.current_thread()
        if self._sink is not None:
            serial = int(
                self._sink.send(
                    {
                        "event": "request",
                        "method": method,
                        "path": path,
                        "thread": thread.name,
                        "ident": thread.ident or 0,
                        "pid": os.getpid(),
                    }
                )
            )
        else:
            serial = self._new_request(method, path, thread.name, thread.ident or 0, os.getpid())
        _stack().append(serial)
        return serial

    def _new_request(self, method: str, path: str, thread: str, ident: int, pid: int) -> int:
        serial = next(self._request_serials)
        info = RequestInfo(
            serial=serial,
            method=method,
            path=path,
            thread=thread,
            thread_ident=ident,
            pid=pid,
            start_seq=logical_now(),
        )
        with self._lock:
            self._requests[serial] = info
        return serial

    def end_request(self, serial: int) -> None:
        """Record the end of a request and stop it being current in this thread."""
        stack = _stack()
        if serial in stack:
            stack.remove(serial)
        if self._sink is not None:
            self._sink.send({"event": "request_end", "serial": serial})
            return
        self._end_request(serial)

    def _end_request(self, serial: int) -> None:
        with self._lock:
            info = self._requests.get(serial)
            if info is not None and info.end_seq is None:
                self._requests[serial] = RequestInfo(**{**info.__dict__, "end_seq": logical_now()})


# Where a use's entry keeps its request and its seq.
ENTRY_REQUEST = 4
_SEQ = 9


class _RemoteUse(tuple):  # type: ignore[type-arg]
    """A child's use: shaped as a local entry (index 4 is its request), with its id."""

    use_id: int

    def __new__(cls, use_id: int, request: int | None) -> _RemoteUse:
        entry = super().__new__(
            cls, (None, None, None, None, request, None, None, None, None, None)
        )
        entry.use_id = use_id
        return entry


# -- the current request of a thread or task -----------------------------------------------


class _ThreadState(threading.local):
    """Per-thread request state. Class-level defaults make reads of unset attributes plain
    lookups: ``getattr(local, name, default)`` on a bare ``threading.local`` raises and
    catches ``AttributeError``, which cost more than the rest of recording a use."""

    inherited: int | None = None
    task_site: tuple[str, int, str] | None = None

    def __init__(self) -> None:
        self.stack: list[int] = []


_local = _ThreadState()


def _stack() -> list[int]:
    return _local.stack


def current_request() -> int | None:
    """The request the current code runs for: the innermost one in this thread, else the
    one its task was handed from (a thread or executor task started inside a request)."""
    stack = _local.stack
    return stack[-1] if stack else _local.inherited


# Code objects of the runners of executor submissions: a client method called directly by
# one (``executor.submit(client.get_topic, …)``) is a use made at the submit.
TASK_CODES: set[Any] = set()


def set_task_site(site: tuple[str, int, str] | None) -> tuple[str, int, str] | None:
    """Set where the current executor task was submitted; return the previous value."""
    old = _local.task_site
    _local.task_site = site
    return old


def task_site() -> tuple[str, int, str] | None:
    """Where the current executor task was submitted, if this code runs in one."""
    site = _local.task_site
    return site


def set_inherited(request: int | None) -> int | None:
    """Make ``request`` the inherited request of this thread's current task; return the old."""
    old = _local.inherited
    _local.inherited = request
    return old


recorder = Recorder()

# The hot path reads these instead of calling logical_now() and os.getpid() each time.
next_seq = _logical.__next__
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))
