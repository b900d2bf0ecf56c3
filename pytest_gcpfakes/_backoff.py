"""Virtual backoff: a client's retry sleeps after a failure the fake answered cost no time.

When an in-process fake answers a call with an error (an injected fault, or a retryable
error of its own) and the client retries, ``google.api_core``'s retry loop sleeps for its
backoff and checks its deadline on ``time.monotonic()``. Against the fake those sleeps are
the whole cost of a fault-injection test (seconds per retried call), and they buy nothing:
the fake answers the same at once. So inside a retried call, in the calling thread only,
the loop's ``time`` is a stand-in whose ``sleep()`` after such a failure advances that
call's *virtual* time instead of waiting, and whose ``monotonic()`` adds that virtual time.
Sleep and clock move together, so the client's retry policy (deadline, multiplier,
maximum) behaves as if the time had passed: a call that keeps failing gives up at its
deadline after as many retries as it would make against GCP, not after a spin of 120 real
seconds.

What stays real: a sleep after a failure the fake did not answer (a real server, a socket
error), every sleep outside the retry loop (the publisher's batch timer, the test's own),
and every clock outside ``retry_unary`` / ``retry_base``. The fakes' shared clock does not
move, so other leases and deadlines are untouched; a call's virtual time ends with it.
This is the one place where the client library's internals see a clock that is not the
real one (DESIGN §6).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

__all__ = ["RetriedCall", "in_client_retry", "note_failure", "patch_retry_module"]


@dataclass(frozen=True)
class RetriedCall:
    """One client call that its client retried after failures a fake answered."""

    service: str
    """``"pubsub"`` or ``"storage"``: the fake that answered the failures."""
    sleeps: tuple[float, ...]
    """Each backoff the client computed before a retry, in order, in seconds (virtual:
    none of them was waited for)."""
    succeeded: bool
    """Whether the call returned in the end (``False``: it raised, after its retries)."""
    thread: str
    """The name of the thread the call ran in (the publisher's commit thread for a
    ``publish()``)."""

    @property
    def retries(self) -> int:
        """How many times the client retried the call."""
        return len(self.sleeps)

    @property
    def delay(self) -> float:
        """The total backoff the client computed: what it would have slept, in seconds."""
        return sum(self.sleeps)


class RetrySink(Protocol):
    """Where a fake keeps the calls retried after its failures (its ``FaultPlan``)."""

    service: str

    def record_retried(self, call: RetriedCall) -> None: ...


class _Call:
    """One ``retry_target`` call in progress."""

    __slots__ = ("sink", "sleeps")

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.sink: RetrySink | None = None


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.calls: list[_Call] = []  # retry_target calls in progress, innermost last
        self.failed: RetrySink | None = None  # the fake that answered the last failure
        self.offset = 0.0  # virtual seconds, while a call is in progress


_state = _ThreadState()


def note_failure(sink: object) -> None:
    """Say that a fake answered the calling thread's current request with an error.

    Called by the in-process faces as they answer, with the fake's ``FaultPlan``. The next
    backoff sleep of a retried call in this thread then advances virtual time instead of
    waiting. A fake of another process (a child's handle on its parent's fakes) has no
    plan here: its faults are applied, and bounded, over there, so backoff stays real.
    """
    if hasattr(sink, "record_retried"):
        _state.failed = sink  # type: ignore[assignment]


def in_client_retry() -> bool:
    """Whether the calling thread is inside a client's retry loop (so backoff after a
    failure the fake answers here is virtual)."""
    return bool(_state.calls)


class _VirtualClock:
    """What ``retry_unary`` and ``retry_base`` see as ``time``.

    The real module for everything but ``sleep()`` and ``monotonic()``, which follow the
    calling thread's virtual time while it is inside a retried call. Attributes are read
    from ``time`` on each use, so freezegun, time-machine and ``mock.patch`` still apply.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def monotonic() -> float:
        state = _state
        if state.calls:
            return time.monotonic() + state.offset
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        state = _state
        sink = state.failed
        if sink is None or not state.calls:
            time.sleep(seconds)
            return
        state.failed = None  # one failure buys one virtual sleep
        state.offset += seconds
        call = state.calls[-1]
        call.sleeps.append(seconds)
        if call.sink is None:
            call.sink = sink


CLOCK = _VirtualClock()


def _wrap_retry_target(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def retry_target(*args: Any, **kwargs: Any) -> Any:
        state = _state
        calls = state.calls
        call = _Call()
        calls.append(call)
        state.failed = None  # a failure from before this call is not one of its attempts
        succeeded = False
        try:
            result = original(*args, **kwargs)
            succeeded = True
            return result
        finally:
            calls.pop()
            if not calls:
                state.offset = 0.0  # virtual time ends with the outermost call
            sink = call.sink
            if sink is not None:
                sink.record_retried(
                    RetriedCall(
                        service=sink.service,
                        sleeps=tuple(call.sleeps),
                        succeeded=succeeded,
                        thread=threading.current_thread().name,
                    )
                )

    return retry_target


def patch_retry_module(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Give ``google.api_core.retry.retry_unary`` / ``retry_base`` the virtual clock."""
    from pytest_gcpfakes._internals import api_core

    api_core.swap_clock(module, CLOCK, replace)
    if module.__name__ == api_core.RETRY_UNARY:
        api_core.wrap_retry_target(module, _wrap_retry_target, replace)
