"""The current fake of each service: a leaf module that every face reads.

The in-process transport, the ``requests`` adapter and the servers all look the current
backend up here at call time (a client built at import time, or a server that lives for
the whole session, serves each test's fresh state). It imports nothing of ours, so none of
its readers depend on the module that installs the patches.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Protocol

SERVICES = ("pubsub", "storage")

STORAGE_BASE_URL = "https://storage.gcpfakes.invalid"
"""Where faked ``storage.Client`` objects send their requests (``.invalid`` never resolves)."""


class ServiceHandle(Protocol):
    """What the registry holds for a service: a handle owning a backend."""

    pid: int
    service: str


class _ThreadSession(threading.local):
    """The session (test) that the code running in this thread belongs to, if any.

    A class-level default makes reading an unset value a plain lookup: ``current()`` reads
    it on every client call.
    """

    session: Any = None


_thread_session = _ThreadSession()
_sessions: list[Any] = []  # active GCPFakes sessions, innermost last

_stacks: dict[str, list[Any]] = {service: [] for service in SERVICES}
_stack_lock = threading.Lock()
_default_project: str | None = None  # the ini option gcpfakes_project, set by the plugin


def activate(handle: ServiceHandle) -> None:
    """Make ``handle`` the current fake for its service (nesting is allowed)."""
    with _stack_lock:
        _stacks[handle.service].append(handle)


def deactivate(handle: ServiceHandle) -> None:
    """Remove ``handle`` from its service's stack, wherever it is."""
    with _stack_lock:
        stack = _stacks[handle.service]
        if handle in stack:
            stack.remove(handle)


_session_ids = itertools.count(1)
_ended_sessions: dict[int, str] = {}  # id -> name, for late calls from other processes
_MAX_ENDED = 10_000


def open_session(session: Any) -> int:
    """Note that ``session`` (a ``GCPFakes``) is active: threads started now belong to it.

    Returns its id, which other processes send along so that a late call of theirs can be
    told apart too (``session_by_id``).
    """
    with _stack_lock:
        _sessions.append(session)
        return next(_session_ids)


def ended_session(session_id: int) -> str | None:
    """The name of the ended session with this id, or ``None`` (still active, or unknown)."""
    return _ended_sessions.get(session_id)


def close_session(session: Any) -> None:
    """Note that ``session`` has ended."""
    with _stack_lock:
        if session in _sessions:
            _sessions.remove(session)
        if len(_ended_sessions) >= _MAX_ENDED:
            _ended_sessions.clear()
        _ended_sessions[session.session_id] = session.name


def active_session() -> Any:
    """The innermost active session, or ``None`` (import time, between tests)."""
    return _sessions[-1] if _sessions else None


def thread_session() -> Any:
    """The session the code running in this thread belongs to, or ``None``."""
    return _thread_session.session


def set_thread_session(session: Any) -> Any:
    """Make the code running in this thread belong to ``session``; return the previous one."""
    previous = _thread_session.session
    _thread_session.session = session
    return previous


def current(service: str) -> Any:
    """Return the active handle for ``service``, or raise the error that says how to get one.

    A call made by a thread (or executor task) that belongs to a session that has ended, such
    as a thread a test left running or a publisher batch it never waited for, is refused:
    it must never land in a later test's fakes.
    """
    owner = _thread_session.session
    if owner is not None and owner.ended:
        owner.late_call(service)  # raises
    stack = _stacks[service]
    if not stack:
        from pytest_gcpfakes._errors import FakeNotActiveError

        raise FakeNotActiveError(service)
    handle = stack[-1]
    pid = os.getpid()
    if pid != handle.pid:
        # A forked child gets remote handles (see _processes) unless its parent could not
        # serve the fakes; then its writes would land in a private copy and be lost.
        from pytest_gcpfakes._errors import ForkedProcessError
        from pytest_gcpfakes._processes import fork_failure

        raise ForkedProcessError(service, pid, handle.pid, fork_failure)
    return handle


def replace(service: str, handle: Any) -> None:
    """Make ``handle`` the only fake of ``service`` (a child replacing its parent's copies)."""
    with _stack_lock:
        _stacks[service][:] = [handle]


def drop_remote() -> None:
    """Forget the handles that reach another process's fakes (see ``_child.detach``)."""
    with _stack_lock:
        for stack in _stacks.values():
            stack[:] = [h for h in stack if not getattr(h, "remote", False)]


def peek(service: str) -> Any | None:
    """Return the active handle for ``service`` or ``None``, never raising."""
    stack = _stacks[service]
    return stack[-1] if stack else None


_served_ports: set[int] = set()


def serving(port: int, *, up: bool) -> None:
    """Note that a server of this process listens on ``port`` (or no longer does)."""
    with _stack_lock:
        if up:
            _served_ports.add(port)
        else:
            _served_ports.discard(port)


def serves(port: int | None) -> bool:
    """Whether a server of this process listens on loopback ``port``.

    Requests to it are left to the socket: it serves the current fakes anyway, and a test
    of the server itself must reach it.
    """
    return port in _served_ports


def set_default_project(project: str | None) -> None:
    """Set the project used when neither a marker nor ``GOOGLE_CLOUD_PROJECT`` names one."""
    global _default_project
    _default_project = project


def default_project() -> str | None:
    """The ini option ``gcpfakes_project``, if the plugin set one."""
    return _default_project


def client_project() -> str:
    """Return the project a client constructed now should get."""
    from pytest_gcpfakes._config import resolve_project

    handle = peek("storage") or peek("pubsub")
    config = handle.config if handle is not None else None
    return resolve_project(config, _default_project)
