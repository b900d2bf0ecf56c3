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
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from pytest_gcpfakes.usage._recorder import (
    TASK_CODES,
    current_request,
    is_library_caller,
    recorder,
    set_inherited,
    set_task_site,
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
    """Hand the current request to threads started inside it."""
    thread_cls = module.Thread
    original_start = thread_cls.start
    original_bootstrap = thread_cls._bootstrap_inner

    @functools.wraps(original_start)
    def start(self: Any) -> None:
        caller = sys._getframe(1).f_code.co_filename
        self.__dict__[_REQUEST_ATTR] = None if is_library_caller(caller) else current_request()
        original_start(self)

    @functools.wraps(original_bootstrap)
    def _bootstrap_inner(self: Any) -> None:
        set_inherited(self.__dict__.get(_REQUEST_ATTR))
        original_bootstrap(self)

    replace(thread_cls, "start", start)
    replace(thread_cls, "_bootstrap_inner", _bootstrap_inner)


def patch_executor(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Hand the current request to each task submitted to a ``ThreadPoolExecutor``."""
    executor_cls = module.ThreadPoolExecutor
    original_submit = executor_cls.submit

    @functools.wraps(original_submit)
    def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        filename = caller.f_code.co_filename
        request = None if is_library_caller(filename) else current_request()
        site = (filename, caller.f_lineno, caller.f_code.co_name)
        return original_submit(self, _run_task, fn, request, site, *args, **kwargs)

    replace(executor_cls, "submit", submit)


def _run_task(
    fn: Callable[..., Any],
    request: int | None,
    site: tuple[str, int, str],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """Run one submitted task for the request that submitted it (pool threads have none)."""
    previous = set_inherited(request)
    previous_site = set_task_site(site)
    try:
        return fn(*args, **kwargs)
    finally:
        set_inherited(previous)
        set_task_site(previous_site)


# A client method called directly by _run_task was submitted to an executor: the recorder
# attributes it to the submit() call site.
TASK_CODES.add(_run_task.__code__)
