"""Requests: where they start and end, and which thread or task works for which one.

- **Flask**: a request starts when its request context is first pushed (before any
  ``before_request``) and ends when that context is popped for good, which is after
  ``teardown_request`` *and* ``teardown_appcontext`` (Flask's tutorial closes ``g``
  resources in the latter). No app changes needed; works for ``app.test_client()``,
  werkzeug's dev server and any WSGI server in the test process.
- **Other WSGI frameworks**: :func:`track_wsgi`.
- **Anything else** (jobs, Celery tasks, gRPC handlers): :func:`request_scope`.

Work handed to another thread carries the request *per task*: a ``Thread`` started inside
a request, or a callable submitted to a ``ThreadPoolExecutor`` inside one, runs for that
request, while pool threads themselves belong to no request (they are reused). Threads
and tasks started by the client libraries belong to no request: subscriber callbacks run
outside any request.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from pytest_gcpfakes import _registry
from pytest_gcpfakes._internals import stdlib
from pytest_gcpfakes.usage._recorder import (
    TASK_CODES,
    current_request,
    is_library_caller,
    recorder,
    set_inherited,
    set_task_site,
    user_site,
)

_REQUEST_ATTR = "_gcpfakes_request"
_NOT_REQUESTS = ("pytest_flask.",)


@contextlib.contextmanager
def request_scope(name: str) -> Iterator[int]:
    """Treat the block as one request named ``name`` (for code that is not a web request)."""
    serial = recorder.start_request("", name)
    try:
        yield serial
    finally:
        recorder.end_request(serial)


def track_wsgi(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Wrap a WSGI app so that each call is recorded as one request (not needed for Flask)."""

    @functools.wraps(app)
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        serial = recorder.start_request(
            str(environ.get("REQUEST_METHOD", "")), str(environ.get("PATH_INFO", ""))
        )
        try:
            result = app(environ, start_response)
        except BaseException:
            recorder.end_request(serial)
            raise
        return _ClosingIterable(result, serial)

    return middleware


class _ClosingIterable:
    """A WSGI response body that ends its request when the server closes it."""

    def __init__(self, body: Iterable[bytes], serial: int) -> None:
        self._body = body
        self._serial = serial

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            recorder.end_request(self._serial)


# -- patches (installed by _activation) -----------------------------------------------------


def patch_flask(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Track Flask request contexts (``flask.ctx``)."""
    context_cls = module.RequestContext
    original_push = context_cls.push
    original_pop = context_cls.pop

    @functools.wraps(original_push)
    def push(self: Any) -> None:
        first = not self._cv_tokens and _REQUEST_ATTR not in self.__dict__
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if first and caller.startswith(_NOT_REQUESTS):
            # pytest-flask pushes a test request context around every test; it is the
            # test's scaffolding, not a request (it would span the whole test).
            self.__dict__[_REQUEST_ATTR] = None
            first = False
        if first:
            request = self.request
            self.__dict__[_REQUEST_ATTR] = recorder.start_request(request.method, request.path)
        original_push(self)

    @functools.wraps(original_pop)
    def pop(self: Any, *args: Any, **kwargs: Any) -> None:
        last = len(self._cv_tokens) == 1
        try:
            original_pop(self, *args, **kwargs)
        finally:
            serial = self.__dict__.get(_REQUEST_ATTR)
            if last and serial is not None:
                recorder.end_request(serial)

    replace(context_cls, "push", push)
    replace(context_cls, "pop", pop)


def patch_threading(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Hand the current request and session to threads started inside them.

    Both ride on the ``Thread`` object (attributes of our own); its target, arguments and
    name stay the caller's.
    """
    thread_cls = module.Thread
    original_start = thread_cls.start

    @functools.wraps(original_start)
    def start(self: Any) -> None:
        frame = sys._getframe(1)
        caller = frame.f_code.co_filename
        self.__dict__[_REQUEST_ATTR] = None if is_library_caller(caller) else current_request()
        session = _session_for_thread(frame)
        self.__dict__[_SESSION_ATTR] = session
        if session is not None:
            origin = _origin(caller)
            if origin is not None:  # settled (library) or reported (user) when it ends
                from pytest_gcpfakes._sessions import STARTED_AT_ATTR

                if origin == "user":
                    self.__dict__[STARTED_AT_ATTR] = str(user_site(frame))
                session.threads.add(self)
        original_start(self)

    replace(thread_cls, "start", start)
    stdlib.run_threads_as(module, replace, _enter_thread)


def _enter_thread(thread: Any) -> None:
    """Run a new thread for the request and session that started it."""
    set_inherited(thread.__dict__.get(_REQUEST_ATTR))
    _registry.set_thread_session(thread.__dict__.get(_SESSION_ATTR))


def patch_executor(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Hand the current request and session to each task submitted to a
    ``ThreadPoolExecutor``.

    They ride on the executor's work item, never in the task: the queued ``fn`` and
    ``args`` stay the caller's, because libraries read them back (google-cloud-pubsub's
    scheduler nacks each queued callback's first argument on shutdown; a wrapper there
    killed its shutdown thread and left ``StreamingPullFuture.result()`` hanging).
    """
    runners = stdlib.carry_on_work_items(module, replace, _take_owner, _enter_task, _leave_task)
    if runners is None:  # unknown work items: tasks run for nobody, like unowned threads
        return
    # A client method the executor calls directly was submitted: it is used at the submit.
    TASK_CODES.update(runners)
    executor_cls = module.ThreadPoolExecutor
    original_submit = executor_cls.submit

    @functools.wraps(original_submit)
    def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        filename = caller.f_code.co_filename
        request = None if is_library_caller(filename) else current_request()
        site = (filename, caller.f_lineno, caller.f_code.co_name)
        # Read back by the work item submit() creates in this thread (_take_owner).
        _pending.owner = (request, _session_for_thread(caller), site)
        try:
            return original_submit(self, fn, *args, **kwargs)
        finally:
            _pending.owner = None

    replace(executor_cls, "submit", submit)


_Owner = tuple[int | None, Any, tuple[str, int, str]]  # request, session, submit site
_Previous = tuple[int | None, Any, "tuple[str, int, str] | None"]


class _Pending(threading.local):
    """The owner of the task being submitted in this thread, until its work item takes it."""

    owner: _Owner | None = None


_pending = _Pending()


def _take_owner() -> _Owner | None:
    owner = _pending.owner
    _pending.owner = None
    return owner


def _enter_task(owner: _Owner) -> _Previous:
    """Run one task for the request and session that submitted it (pool threads are reused
    by later requests and tests); return what to restore."""
    request, session, site = owner
    return (
        set_inherited(request),
        _registry.set_thread_session(session),
        set_task_site(site),
    )


def _leave_task(previous: _Previous) -> None:
    request, session, site = previous
    set_inherited(request)
    _registry.set_thread_session(session)
    set_task_site(site)


_SESSION_ATTR = "_gcpfakes_session"
# Code that starts threads for its own servers (the plugin, werkzeug, grpc, socketserver): such a
# thread belongs to the session of the thread that started it, never to the active one by
# default, since it outlives tests and serves each in turn.
_INFRASTRUCTURE = (
    f"{os.sep}pytest_gcpfakes{os.sep}",
    f"{os.sep}werkzeug{os.sep}",
    f"{os.sep}grpc{os.sep}",  # a grpc server's handler pool serves each request in turn
    f"{os.sep}socketserver.py",
    f"{os.sep}concurrent{os.sep}futures{os.sep}",
    f"{os.sep}multiprocessing{os.sep}",
)


_STDLIB = sysconfig.get_paths()["stdlib"]


def _origin(filename: str) -> str | None:
    """Who started a thread: "library" (a client library's own), "user", or ``None``
    (infrastructure: the standard library, servers, the plugin)."""
    if f"{os.sep}google{os.sep}" in filename:
        return "library"
    if filename.startswith(_STDLIB) or any(part in filename for part in _INFRASTRUCTURE):
        return None
    return "user"


def _session_for_thread(frame: Any) -> Any:
    """The session a thread (or task) started from ``frame`` belongs to."""
    owner = _registry.thread_session()
    if owner is not None:
        return owner
    filename = frame.f_code.co_filename
    if any(part in filename for part in _INFRASTRUCTURE):
        return None
    return _registry.active_session()
