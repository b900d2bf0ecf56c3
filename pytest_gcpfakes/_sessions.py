"""Each test starts fresh: what a session (a test's ``GCPFakes``) leaves behind is settled
inside it, or refused afterwards.

Module-level clients outlive tests, and so do the threads a test starts. Without this, a
publish a test never waited for, or a thread it left running, would land in the *next*
test's fresh fakes. So:

- every thread (and executor task) belongs to the session active when user or client-library
  code started it (``_registry.set_thread_session``, set by the usage recorder's
  ``Thread.start`` / ``submit`` wrappers); the plugin's own server threads belong to none;
- at the end of a session, pending publisher batches are sent into *its* fakes, streaming
  pulls it opened are cancelled and their threads stopped, and threads it left running are
  reported;
- afterwards, a call from a thread of the ended session is refused with ``LateCallError``
  (``_registry.current``), and reported as a ``GCPFakesWarning`` at the end of the session
  running then, naming the thread, the call site and the test it belonged to.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
import weakref
from typing import Any

_SETTLE_SECONDS = 10.0  # a bound on waiting for a left-behind batch or stream to finish
_MAX_REPORTED = 20

_lock = threading.Lock()
_late: list[str] = []  # refused late calls not reported yet
# Streaming pulls opened by subscribe(): future -> (session, call site).
_streams: weakref.WeakKeyDictionary[Any, tuple[Any, str]] = weakref.WeakKeyDictionary()


def track_stream(future: Any, site: str) -> None:
    """Remember a ``StreamingPullFuture`` and where ``subscribe()`` was called."""
    from pytest_gcpfakes import _registry

    session = _registry.thread_session() or _registry.active_session()
    if session is not None:
        with _lock:
            _streams[future] = (session, site)


def settle(session: Any) -> list[str]:
    """Send, stop and list what ``session`` left behind; return what to report."""
    _flush_publishers()
    messages = _stop_streams(session)
    _join_library_threads(session)
    messages.extend(_running_threads(session))
    return messages


def _join_library_threads(session: Any) -> None:
    """Let the client libraries' threads of ``session`` finish inside it (bounded).

    Batch commits and a stream's shutdown (its last nacks) run in threads of their own
    just after a test's futures resolve; their calls belong to that test.
    """
    import time

    from pytest_gcpfakes._internals import pubsub as internals

    give_up = time.monotonic() + _SETTLE_SECONDS
    me = threading.current_thread()
    for thread in list(session.threads):
        if STARTED_AT_ATTR in thread.__dict__ or thread is me or not thread.is_alive():
            continue  # a user's thread: reported, not waited for
        thread.join(max(0.0, min(1.0, give_up - time.monotonic())))
        if thread.is_alive():
            internals.stop_orphaned_stream_worker(thread)  # a worker started too late
            thread.join(max(0.0, give_up - time.monotonic()))


def _flush_publishers() -> None:
    """Commit every faked publisher's pending batches now, and wait for them to land."""
    module = sys.modules.get("google.cloud.pubsub_v1.publisher.client")
    if module is None:
        return
    from pytest_gcpfakes._internals import pubsub as internals
    from pytest_gcpfakes.usage._recorder import recorder

    for client in recorder.live_clients():
        transport = internals.client_transport(client)
        if isinstance(client, module.Client) and hasattr(transport, "_fake_methods"):
            internals.commit_pending_batches(client)


def _stop_streams(session: Any) -> list[str]:
    from pytest_gcpfakes._internals import pubsub as internals

    with _lock:
        mine = [(f, site) for f, (s, site) in list(_streams.items()) if s is session]
        for future, _ in mine:
            _streams.pop(future, None)
    messages = []
    for future, site in mine:
        was_open = internals.streaming_pull_open(future) and not future.cancelled()
        # Also when the stream already stopped (a callback raised, or the RPC ended): the
        # shutdown it started may still be running; cancel() is a no-op once it is done.
        future.cancel()
        if not was_open:
            continue
        subscription = internals.streaming_pull_subscription(future)
        # Cancelled, or ended by the fake closing: either way its threads are done when
        # result() returns.
        with contextlib.suppress(Exception):
            future.result(timeout=_SETTLE_SECONDS)
        messages.append(
            f"{session.name} left a streaming pull open on {subscription} (subscribe() at "
            f"{site}); it was cancelled at teardown: cancel the future subscribe() returned "
            "and wait for its result(), or close the subscriber (`with subscriber:`)."
        )
    return messages


def _running_threads(session: Any) -> list[str]:
    return [
        f"{session.name} left thread {thread.name!r} running (started at "
        f"{thread.__dict__[STARTED_AT_ATTR]}); its calls to the fakes are refused from now "
        "on: join it before the test returns."
        for thread in list(session.threads)
        if STARTED_AT_ATTR in thread.__dict__ and thread.is_alive()
    ]


STARTED_AT_ATTR = "_gcpfakes_started_at"


def refuse_late_call(session: Any, service: str) -> None:
    """Raise ``LateCallError`` for a call from ``session``'s leftovers; queue its report."""
    from pytest_gcpfakes._errors import LateCallError
    from pytest_gcpfakes.usage._recorder import user_site

    error = LateCallError(
        service, session.name, threading.current_thread().name, str(user_site(sys._getframe(2)))
    )
    with _lock:
        if len(_late) < _MAX_REPORTED and error.message not in _late:
            _late.append(str(error.message))
    raise error


SESSION_HEADER = "X-Gcpfakes-Session"
"""Sent by another process with each call: the id of the session it works for."""


def check_remote(environ: dict[str, Any], service: str) -> None:
    """Refuse a call from another process that works for an ended session (and queue its
    report); a call naming no session, or an active one, goes ahead."""
    from pytest_gcpfakes import _registry
    from pytest_gcpfakes._errors import LateCallError

    raw = environ.get("HTTP_X_GCPFAKES_SESSION")
    if not raw or not raw.isdigit():
        return
    name = _registry.ended_session(int(raw))
    if name is None:
        return
    pid = environ.get("HTTP_X_GCPFAKES_PID", "?")
    path = environ.get("PATH_INFO", "")
    error = LateCallError(service, name, f"process {pid}", path)
    with _lock:
        if len(_late) < _MAX_REPORTED and error.message not in _late:
            _late.append(str(error.message))
    raise error


def report(messages: list[str]) -> None:
    """Warn, on the calling (test's) thread, of leftovers and of late calls refused so far."""
    from pytest_gcpfakes._errors import GCPFakesWarning

    with _lock:
        late, _late[:] = list(_late), []
    for message in [*messages, *late]:
        warnings.warn(GCPFakesWarning(message), stacklevel=3)
