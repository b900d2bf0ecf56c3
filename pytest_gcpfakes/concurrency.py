"""Drivers that make requests really overlap, so that client-sharing bugs show up in a test.

- :func:`concurrent_requests` sends many requests at once to a Flask app (one test client
  per thread) or to a base URL (real HTTP), released together by a barrier.
- :func:`rendezvous` holds each request at its first client use until ``n`` requests have
  got there: overlap becomes certain rather than likely, with no change to the app.
- :class:`LiveServer` serves an app with werkzeug's threaded server on 127.0.0.1 in this
  process, so the fakes and the recorder see every request (a forked server would not).
- :func:`repeat` runs a scenario several times with fresh fakes and counts the runs the
  checks flagged, for races that need more than one try.
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pytest_gcpfakes._clock import logical_now

DEFAULT_TIMEOUT = 30.0

RequestSpec = tuple[str, str] | tuple[str, str, Mapping[str, Any]]


@dataclass(frozen=True)
class Result:
    """The response to one request sent by :func:`concurrent_requests`."""

    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]
    data: bytes
    thread_name: str
    started: int  # logical time the request was sent
    ended: int  # logical time its response was complete

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` if it is empty)."""
        return jsonlib.loads(self.data) if self.data else None

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.data.decode("utf-8", "replace")


def concurrent_requests(
    target: Any,
    requests: Sequence[RequestSpec],
    *,
    threads: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Result]:
    """Send ``requests`` at once and return one :class:`Result` per request, in order.

    ``target`` is a Flask app (each thread gets its own test client: a test client must
    not be shared between threads) or a base URL such as ``live_app(app)`` returns.
    ``requests`` holds ``(method, path)`` or ``(method, path, kwargs)`` tuples, ``kwargs``
    being what Flask's test client ``open()`` takes (``json=``, ``data=``, ``headers=``;
    the same names work over HTTP). ``threads`` defaults to one per request; with fewer,
    each thread takes the next request when it is free. The threads start together (a
    barrier). A 5xx is returned, not raised; an exception raised in a worker (such as a
    view's exception propagated by Flask's testing mode) is re-raised here.
    """
    specs = [_normalise(spec) for spec in requests]
    if not specs:
        return []
    count = min(threads or len(specs), len(specs))
    if count < 1:
        raise ValueError("concurrent_requests() needs threads >= 1.")
    send = _http_sender(str(target)) if isinstance(target, str) else _flask_sender(target)
    results: list[Result | None] = [None] * len(specs)
    errors: list[BaseException] = []
    start = threading.Barrier(count)
    next_index = iter(range(len(specs)))
    lock = threading.Lock()

    def worker(own: int) -> None:
        try:
            session = send()
            start.wait(timeout)
            if count == len(specs):  # one request per thread: no thread may take two
                results[own] = session(*specs[own], timeout)
                return
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                results[index] = session(*specs[index], timeout)
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)
            start.abort()

    workers = [
        threading.Thread(target=worker, args=(i,), name=f"concurrent-request-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout * max(1, len(specs)))
    real_errors = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real_errors:
        raise real_errors[0]
    if errors:
        raise errors[0]
    missing = [i for i, result in enumerate(results) if result is None]
    if missing:
        raise TimeoutError(
            f"concurrent_requests(): {len(missing)} of {len(specs)} requests did not finish "
            f"within {timeout:g} s each; raise timeout= if they are slow on purpose."
        )
    return [result for result in results if result is not None]


Sender = Callable[[str, str, Mapping[str, Any], float], Result]


def _normalise(spec: RequestSpec) -> tuple[str, str, Mapping[str, Any]]:
    if len(spec) == 2:
        method, path = spec
        return str(method).upper(), str(path), {}
    if len(spec) == 3:
        method, path, kwargs = spec
        return str(method).upper(), str(path), dict(kwargs)
    raise TypeError(
        f"concurrent_requests() takes (method, path) or (method, path, kwargs) tuples, "
        f"not {spec!r}."
    )


def _flask_sender(app: Any) -> Callable[[], Sender]:
    if not hasattr(app, "test_client"):
        raise TypeError(
            "concurrent_requests() takes a Flask app or a base URL string such as "
            "live_app(app) returns, not {app!r}."
        )

    def make() -> Sender:
        client = app.test_client()

        def send(method: str, path: str, kwargs: Mapping[str, Any], timeout: float) -> Result:
            started = logical_now()
            response = client.open(path, method=method, **kwargs)
            try:
                data = response.get_data()
            finally:
                response.close()
            return Result(
                method,
                path,
                response.status_code,
                dict(response.headers),
                data,
                threading.current_thread().name,
                started,
                logical_now(),
            )

        return send

    return make


def _http_sender(base_url: str) -> Callable[[], Sender]:
    import requests

    base = base_url.rstrip("/")

    def make() -> Sender:
        session = requests.Session()

        def send(method: str, path: str, kwargs: Mapping[str, Any], timeout: float) -> Result:
            started = logical_now()
            response = session.request(method, base + path, timeout=timeout, **kwargs)
            return Result(
                method,
                path,
                response.status_code,
                dict(response.headers),
                response.content,
                threading.current_thread().name,
                started,
                logical_now(),
            )

        return send

    return make


# -- rendezvous --------------------------------------------------------------------------------


class RendezvousTimeout(AssertionError):
    """Fewer requests than expected reached their first client use in time."""


class rendezvous:
    """Hold each request at its first client use until ``n`` requests have reached it.

    ``with rendezvous(2): concurrent_requests(app, [...])`` makes two requests use their
    clients at the same time, whatever the app does, so a shared client is certain to be
    caught. If fewer than ``n`` arrive within ``timeout`` seconds (a pool smaller than
    ``n`` can cause that), the waiting requests go on and the test fails when the block
    ends, saying how many arrived.
    """

    def __init__(self, n: int, *, timeout: float = 10.0) -> None:
        if n < 2:
            raise ValueError("rendezvous(n) needs n >= 2: one request cannot overlap itself.")
        self.n = n
        self.timeout = timeout
        self._cond = threading.Condition()
        self._arrived: set[int] = set()
        self._open = False
        self.failure: str | None = None

    def __enter__(self) -> rendezvous:
        from pytest_gcpfakes.usage import _instrument

        if _instrument._rendezvous[0] is not None:
            raise RuntimeError(
                "A rendezvous is already active; end it before starting another (they do not nest)."
            )
        _instrument._rendezvous[0] = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from pytest_gcpfakes.usage import _instrument

        _instrument._rendezvous[0] = None
        with self._cond:
            self._open = True
            self._cond.notify_all()
        if self.failure is not None and exc_type is None:
            __tracebackhide__ = True
            raise RendezvousTimeout(self.failure)

    def arrive(self, request: int | None) -> None:
        """Called on every client use: wait here if this is the request's first."""
        if request is None:
            return
        with self._cond:
            if self._open or request in self._arrived:
                return
            self._arrived.add(request)
            if len(self._arrived) >= self.n:
                self._open = True
                self._cond.notify_all()
                return
            if not self._cond.wait_for(lambda: self._open, self.timeout):
                self._open = True  # let everyone go; the block's end reports the failure
                self.failure = (
                    f"rendezvous({self.n}): only {len(self._arrived)} of {self.n} requests "
                    f"reached their first client use within {self.timeout:g} s; send at "
                    f"least {self.n} overlapping requests that use a client (a client pool "
                    f"smaller than {self.n} also stops them), or lower n."
                )
                self._cond.notify_all()


# -- live server ---------------------------------------------------------------------------------


class LiveServer:
    """A WSGI app served by werkzeug's threaded server in a thread of this process."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        from werkzeug.serving import make_server

        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("LiveServer binds to loopback only (127.0.0.1).")
        self._server = make_server(host, port, app, threaded=True)
        self.port = int(self._server.server_port)
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gcpfakes-live-app-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the serving thread (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(DEFAULT_TIMEOUT)
        self._server.server_close()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- repeat ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepeatResult:
    """How many of ``runs`` runs of a scenario the checks flagged, with their messages."""

    runs: int
    flagged: int
    messages: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.flagged} of {self.runs} runs flagged"


def repeat(
    scenario: Callable[[Any], object],
    *,
    times: int,
    check: Sequence[str] = ("sharing",),
    **options: Any,
) -> RepeatResult:
    """Run ``scenario(fakes)`` ``times`` times, each with fresh fakes; count flagged runs.

    Each run gets a new ``GCPFakes`` (empty backends, a clean recording) built from
    ``options``; after it, the ``check`` assertions run and a failure counts the run as
    flagged instead of raising. Inside a test that uses the fakes, the runs replace the
    test's recording.
    """
    from pytest_gcpfakes._fakes import GCPFakes
    from pytest_gcpfakes.assertions import GCPUsage

    if times < 1:
        raise ValueError("repeat() needs times >= 1.")
    messages: list[str] = []
    for _ in range(times):
        with GCPFakes(**options) as fakes:
            scenario(fakes)
            try:
                GCPUsage(fakes.usage()).check(check)
            except AssertionError as failure:
                messages.append(str(failure))
    return RepeatResult(times, len(messages), tuple(messages))
