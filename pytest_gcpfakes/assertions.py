"""The lifecycle assertions: shared clients, leaked clients, uses after close.

Each builds its message and raises ``AssertionError`` itself (assert rewriting does not
apply to this package when it is loaded with ``-p gcpfakes``), and hides its own frame
from pytest's traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pytest_gcpfakes.usage._model import ClientInfo, Recording, RequestInfo, Use
from pytest_gcpfakes.usage._recorder import recorder

CHECKS = ("sharing", "leaks", "use_after_close", "processes")


class GCPUsage:
    """What the current test recorded: clients, requests and uses, and the checks on them."""

    def __init__(self, recording: Recording | None = None) -> None:
        self._fixed = recording

    @property
    def recording(self) -> Recording:
        """The recording as of now (or the one this object was built from)."""
        return self._fixed if self._fixed is not None else recorder.recording()

    @property
    def clients(self) -> tuple[ClientInfo, ...]:
        """Clients created or used during this test."""
        return self.recording.clients

    @property
    def requests(self) -> tuple[RequestInfo, ...]:
        """Requests (Flask, WSGI, ``request_scope``) that ran during this test."""
        return self.recording.requests

    @property
    def uses(self) -> tuple[Use, ...]:
        """Every recorded use, in logical order."""
        return self.recording.uses

    def to_dict(self) -> dict[str, Any]:
        """The recording and its findings in the versioned JSON schema (version 1), as a dict."""
        document = self._document()
        json.dumps(document)  # fail here, not in the reader, if anything is not JSON
        return document

    def to_json(self, **dumps_kwargs: Any) -> str:
        """``to_dict()`` as a JSON string (keyword arguments go to ``json.dumps``), as
        ``to_json`` is in proto-plus, pandas and pydantic."""
        return json.dumps(self._document(), **dumps_kwargs)

    def _document(self) -> dict[str, Any]:
        from pytest_gcpfakes.usage import _report

        rec = self.recording
        document: dict[str, Any] = _report.to_json(rec, all_findings(rec))
        return document

    def assert_no_cross_request_sharing(
        self, *, allow: Iterable[object] = (), strict: bool = False
    ) -> None:
        """Fail if one client was in use by two requests at once (see the docs)."""
        __tracebackhide__ = True
        from pytest_gcpfakes.usage import _analysis, _report

        rec = self.recording
        failures, near = _analysis.find_sharing(rec, allow=_allowed(rec, allow), strict=strict)
        if failures:
            raise AssertionError(_report.sharing_message(rec, failures, near, strict=strict))

    def assert_no_leaked_clients(self) -> None:
        """Fail if a client made for a request was abandoned without being closed."""
        __tracebackhide__ = True
        from pytest_gcpfakes.usage import _report

        rec = self.recording
        findings = _leaks(rec)
        if findings:
            raise AssertionError(_report.leak_message(rec, findings))

    def assert_no_use_after_close(self) -> None:
        """Fail if a client was used after it was closed."""
        __tracebackhide__ = True
        from pytest_gcpfakes.usage import _analysis, _report

        rec = self.recording
        findings = _analysis.find_use_after_close(rec)
        if findings:
            raise AssertionError(_report.use_after_close_message(rec, findings))

    def assert_no_cross_process_sharing(self) -> None:
        """Fail if a client was used in a process other than the one that created it."""
        __tracebackhide__ = True
        from pytest_gcpfakes.usage import _analysis, _report

        rec = self.recording
        findings = _analysis.find_cross_process(rec)
        if findings:
            raise AssertionError(_report.cross_process_message(rec, findings))

    def check(self, names: Iterable[str]) -> None:
        """Run the named checks (``"sharing"``, ``"leaks"``, ``"use_after_close"``,
        ``"processes"``)."""
        __tracebackhide__ = True
        for name in names:
            if name == "sharing":
                self.assert_no_cross_request_sharing()
            elif name == "leaks":
                self.assert_no_leaked_clients()
            elif name == "use_after_close":
                self.assert_no_use_after_close()
            elif name == "processes":
                self.assert_no_cross_process_sharing()
            else:
                raise TypeError(
                    f"Unknown check {name!r}; checks are {', '.join(repr(c) for c in CHECKS)}."
                )


def all_findings(rec: Recording) -> list[Any]:
    """Every verdict on a recording: shared, near misses, leaked, used after close, and
    used in another process."""
    from pytest_gcpfakes.usage import _analysis

    failures, near = _analysis.find_sharing(rec)
    return [
        *failures,
        *near,
        *_leaks(rec),
        *_analysis.find_use_after_close(rec),
        *_analysis.find_cross_process(rec),
    ]


def _leaks(rec: Recording) -> list[Any]:
    """Leak findings, counting only clients that nothing references any more (abandoned)."""
    import gc

    from pytest_gcpfakes.usage import _analysis

    candidates = _analysis.find_leaks(rec)
    if not candidates:
        return candidates
    _join_library_threads()
    gc.collect()  # per-request clients often sit in reference cycles
    return _analysis.find_leaks(rec, still_referenced=recorder.still_referenced)


def _join_library_threads(timeout: float = 5.0) -> None:
    """Wait (bounded) for the client libraries' per-batch threads, so that they no longer
    hold the clients whose reachability the leak check is about to judge."""
    import threading

    from pytest_gcpfakes._internals.pubsub import BATCH_THREAD_PREFIXES

    # Each holds its client until the batch's RPC is done, which can be just after the
    # publish future resolved.
    for thread in threading.enumerate():
        if (
            thread.name.startswith(BATCH_THREAD_PREFIXES)
            and thread is not threading.current_thread()
        ):
            thread.join(timeout)


def _allowed(rec: Recording, allow: Iterable[object]) -> frozenset[int]:
    """Serials of the recorded clients that ``allow`` names, by object or by class."""
    serials: set[int] = set()
    for item in allow:
        if isinstance(item, type):
            for info in rec.clients:
                cls = recorder.client_type(info.serial)
                if cls is not None and issubclass(cls, item):
                    serials.add(info.serial)
        else:
            serial = recorder.serial_of(item)
            if serial is None:
                raise TypeError(
                    f"allow= takes client classes or client objects; {item!r} is neither a "
                    "class nor a client pytest-gcpfakes has seen."
                )
            serials.add(serial)
    return frozenset(serials)


def assert_no_cross_request_sharing(*, allow: Iterable[object] = (), strict: bool = False) -> None:
    """Fail if one client was in use by two requests at once during the current test.

    ``allow`` names client classes or client objects that may be shared; ``strict=True``
    demands one client per request (any reuse by a second request fails).
    """
    __tracebackhide__ = True
    GCPUsage().assert_no_cross_request_sharing(allow=allow, strict=strict)


def assert_no_leaked_clients() -> None:
    """Fail if a client created in a request was neither closed nor used again."""
    __tracebackhide__ = True
    GCPUsage().assert_no_leaked_clients()


def assert_no_use_after_close() -> None:
    """Fail if a client was used after it was closed."""
    __tracebackhide__ = True
    GCPUsage().assert_no_use_after_close()


def assert_no_cross_process_sharing() -> None:
    """Fail if a client created in one process was used in another (the ``fork`` hazard).

    A module-level client built in gunicorn's master with ``--preload`` and used by every
    forked worker is the classic case; Google documents that its gRPC clients must be
    created after ``fork()``.
    """
    __tracebackhide__ = True
    GCPUsage().assert_no_cross_process_sharing()
