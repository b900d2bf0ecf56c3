"""Observable time of the fakes, and the logical order of events.

Observable time (publish times, ack deadlines, object timestamps) follows freezegun and
time-machine. freezegun hands *real* time to callers within a few frames of ``threading``
or ``queue``, and our backends often run in the client library's threads, so its state is
read explicitly instead of trusting ``time.time()``. time-machine patches at C level, so
``time.time()`` is right under it.

Ordering never uses wall time: freezegun freezes ``time.time()`` and ``time.monotonic()``,
which would make every pair of events look simultaneous. A process-wide counter does.
"""

from __future__ import annotations

import calendar
import itertools
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

_logical = itertools.count(1)


def logical_now() -> int:
    """Return the next value of the process-wide logical clock (thread-safe, never repeats)."""
    return next(_logical)


def wall_time() -> float:
    """Return the current observable time in seconds since the epoch, as tests see it."""
    freezegun_api = sys.modules.get("freezegun.api")
    if freezegun_api is not None and freezegun_api.freeze_factories:
        frozen: datetime = freezegun_api.get_current_time()
        return calendar.timegm(frozen.timetuple()) + frozen.microsecond / 1_000_000
    return time.time()


def real_monotonic() -> float:
    """Return a monotonic reading that no time-freezing library can stop (for real waits)."""
    freezegun_api = sys.modules.get("freezegun.api")
    if freezegun_api is not None:
        value: float = freezegun_api.real_monotonic()
        return value
    return time.monotonic()


class Clock:
    """The fakes' observable clock: global (possibly frozen) time plus a local offset.

    ``advance()`` moves only the fakes' time, so a test can expire an ack deadline or a
    retention period without touching the time its own code sees.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        """Seconds added by ``advance()`` so far."""
        return self._offset

    def time(self) -> float:
        """Return observable seconds since the epoch."""
        return wall_time() + self._offset

    def now(self) -> datetime:
        """Return the observable time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        """Move the fakes' observable time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(
                "fakes.clock.advance() takes a non-negative number of seconds; "
                "to go back in time, use freezegun or time-machine."
            )
        with self._lock:
            self._offset += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every ``advance()`` (backends re-check their deadlines)."""
        with self._lock:
            self._listeners.append(listener)
