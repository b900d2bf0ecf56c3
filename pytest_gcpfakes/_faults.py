"""Injected faults and latency, by API method.

Faults are raised where the service would answer, so the client library's own retry logic
runs: a ``ServiceUnavailable`` on ``Publish`` is retried by the publisher, on
``storage.objects.insert`` by the storage client. Method names are the APIs' own
(``"Publish"``, ``"Pull"``, ``"Acknowledge"``, ``"StreamingPull"``;
``"storage.objects.insert"``, ``"storage.objects.get"``, …); ``"*"`` matches every method.
Only calls from clients meet them: the fixtures' own helpers (``fake_pubsub.publish()`` …)
go to the backends directly, so arranging a test never uses a fault up.

A client that retries a fault injected in-process backs off in virtual time (``_backoff``):
its retry deadline passes without real waiting, under freezegun too. A deadline that is
out of reach (an ordering-key publish retries for 2**32 s) would then spin at full speed,
so after ``MAX_VIRTUAL_RETRIES`` consecutive injections of a retryable error into one
method the fault stops being retryable: the call fails with a sentence saying why.

Backoff is real where the fault reaches the client over a socket (server mode). Under
freezegun such a client's retry deadline reads the frozen ``time.monotonic()`` and never
passes, so there the bound is ``MAX_FROZEN_RETRIES``.
"""

from __future__ import annotations

import enum
import random
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pytest_gcpfakes import _backoff

if TYPE_CHECKING:
    from pytest_gcpfakes._backoff import RetriedCall

MAX_FROZEN_RETRIES = 5  # real backoff under a frozen clock: keep the total short
MAX_VIRTUAL_RETRIES = 1000  # virtual backoff: only a deadline out of reach gets this far


class DefaultTimes(enum.Enum):
    """The type of ``fail(times=)``'s default, which depends on ``probability``.

    ``times=1`` would be the wrong default for ``probability=p``: the first call that draws
    a failure would use the fault up, so ``probability=0.5`` would fail one call in a run
    instead of half of them. Unless ``times`` is given, a fault with a probability lasts.
    """

    DEFAULT = "default"

    def __repr__(self) -> str:
        return "1 (every call with probability=)"


DEFAULT_TIMES: Final = DefaultTimes.DEFAULT

_RETRYABLE_NAMES = frozenset(
    {
        "Aborted",
        "BadGateway",
        "DeadlineExceeded",
        "GatewayTimeout",
        "InternalServerError",
        "ResourceExhausted",
        "ServiceUnavailable",
        "TooManyRequests",
        "Unknown",
    }
)


@dataclass
class _Fault:
    method: str
    exception: Any
    times: int | None
    probability: float | None
    rng: random.Random | None
    injected: int = 0


@dataclass
class FaultPlan:
    """The faults and latencies injected into one fake service."""

    service: str
    _faults: list[_Fault] = field(default_factory=list)
    _latency: dict[str, float] = field(default_factory=dict)
    _streak: dict[str, int] = field(default_factory=dict)
    _retried: list[RetriedCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self,
        method: str,
        exception: Any,
        *,
        times: int | DefaultTimes | None = DEFAULT_TIMES,
        probability: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Make ``method`` raise ``exception`` (a class or an instance).

        ``times=k`` fails the next k calls (``None``: every call); ``probability=p`` fails
        each call with probability p, drawn from ``random.Random(seed)`` so a failing run
        can be replayed. ``times`` defaults to 1 alone and to every call with
        ``probability``; both together fail at most k calls, at random.
        """
        if isinstance(times, DefaultTimes):
            times = 1 if probability is None else None
        if not _is_api_exception(exception):
            raise TypeError(
                "fail() takes a google.api_core.exceptions class or instance, such as "
                f"ServiceUnavailable, not {exception!r}."
            )
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError("fail(probability=) takes a number between 0 and 1.")
        if times is not None and times < 1:
            raise ValueError("fail(times=) takes a whole number >= 1, or None for every call.")
        rng = random.Random(seed) if probability is not None else None
        with self._lock:
            self._faults.append(_Fault(method, exception, times, probability, rng))

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every call of ``method`` (or ``"*"``) by ``seconds`` of real time."""
        if seconds < 0:
            raise ValueError("Latency takes a non-negative number of seconds.")
        with self._lock:
            self._latency[method] = seconds

    def configure(self, latency: Mapping[str, float]) -> None:
        """Apply a ``latency=`` option: keys are a service name, a method, or ``"*"``."""
        for key, seconds in latency.items():
            if key == self.service:
                self.set_latency("*", seconds)
            elif key not in ("pubsub", "storage"):
                self.set_latency(key, seconds)

    def clear(self) -> None:
        """Forget every fault and latency."""
        with self._lock:
            self._faults.clear()
            self._latency.clear()
            self._streak.clear()

    @property
    def active(self) -> bool:
        """Whether any fault or latency is set (checked before naming the method)."""
        return bool(self._faults or self._latency)

    def before(self, method: str) -> None:
        """Run at the start of each call of ``method``: sleep, then maybe raise."""
        if not self._faults and not self._latency:
            return
        delay = self._latency.get(method, self._latency.get("*", 0.0))
        if delay:
            time.sleep(delay)  # simulated network time: real seconds, never frozen
        error = self._draw(method)
        if error is not None:
            raise error

    def record_retried(self, call: RetriedCall) -> None:
        """Keep a call that its client retried after failures this fake answered."""
        with self._lock:
            self._retried.append(call)

    @property
    def retried_calls(self) -> list[RetriedCall]:
        """Every call retried after failures this fake answered, in the order they ended."""
        with self._lock:
            return list(self._retried)

    def _draw(self, method: str) -> BaseException | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (method, "*"):
                    continue
                if fault.times is not None and fault.injected >= fault.times:
                    continue
                if fault.rng is not None and fault.rng.random() >= (fault.probability or 0):
                    continue
                fault.injected += 1
                return self._bounded(method, _instantiate(fault.exception, self.service, method))
            self._streak.pop(method, None)
        return None

    def _bounded(self, method: str, error: BaseException) -> BaseException:
        if type(error).__name__ not in _RETRYABLE_NAMES:
            return error
        if _backoff.in_client_retry():  # raised in the retrying thread: virtual backoff
            limit = MAX_VIRTUAL_RETRIES
            why = (
                "the client's retry deadline is out of reach (an ordering-key publish retries "
                "for 2**32 s), so it would retry at full speed for ever"
            )
        elif _time_is_frozen():
            limit = MAX_FROZEN_RETRIES
            why = "time is frozen, so the client's retry deadline never passes"
        else:
            return error
        streak = self._streak.get(method, 0) + 1
        self._streak[method] = streak
        if streak <= limit:
            return error
        from pytest_gcpfakes._errors import GCPFakesError

        return GCPFakesError(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: stopped after {limit} injected {type(error).__name__} errors "
            f"on {method}: {why}; inject with times=k or probability=p instead of every call."
        )


def _is_api_exception(exception: Any) -> bool:
    from google.api_core.exceptions import GoogleAPICallError

    if isinstance(exception, type):
        return issubclass(exception, GoogleAPICallError)
    return isinstance(exception, GoogleAPICallError)


def _instantiate(exception: Any, service: str, method: str) -> BaseException:
    if isinstance(exception, type):
        fixture = "fake_pubsub" if service == "pubsub" else "fake_storage"
        made: BaseException = exception(
            f"Injected by pytest-gcpfakes: {fixture}.fail({method!r}, {exception.__name__})."
        )
        return made
    instance: BaseException = exception
    return instance


def _time_is_frozen() -> bool:
    freezegun_api = sys.modules.get("freezegun.api")
    return bool(freezegun_api is not None and freezegun_api.freeze_factories)
