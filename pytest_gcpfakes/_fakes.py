"""``GCPFakes``: the fakes of one test (or one ``with`` block), usable without pytest."""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes import _activation, _registry
from pytest_gcpfakes._clock import Clock
from pytest_gcpfakes._config import Config, build_config, resolve_project

if TYPE_CHECKING:
    from pytest_gcpfakes.pubsub._handle import FakePubSub
    from pytest_gcpfakes.storage._handle import FakeStorage

SERVICES = _registry.SERVICES


class GCPFakes:
    """Fresh in-memory Pub/Sub and Storage for the real client libraries.

    ``with GCPFakes() as fakes:`` installs interception (if the pytest plugin has not),
    activates an empty backend for each service, and restores everything on exit. Inside,
    ``pubsub_v1.PublisherClient()`` and ``storage.Client()`` need no credentials and reach
    ``fakes.pubsub`` / ``fakes.storage``; ``fakes.clock`` is their shared observable time.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        services: Iterable[str] = SERVICES,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise TypeError("GCPFakes() takes either a Config or keyword options, not both.")
        self.config = config if config is not None else build_config(options, where="GCPFakes()")
        self._services = tuple(services)
        unknown = sorted(set(self._services) - set(SERVICES))
        if unknown:
            raise TypeError(
                f"GCPFakes() got unknown service {unknown[0]!r}; services are "
                f"{', '.join(repr(s) for s in SERVICES)}."
            )
        self.clock = Clock()
        self._handles: dict[str, Any] = {}
        self._entered = False
        self.pid = os.getpid()
        self.name = name or _entered_at(sys._getframe(1))
        """How reports name this session: the test's node id under pytest."""
        self.ended = False
        self.session_id = 0  # set when entered
        self.threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        """Threads started while this session was active (see ``_sessions``)."""

    @property
    def project(self) -> str:
        """The project id the fakes default to."""
        return resolve_project(self.config, _registry.default_project())

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> GCPFakes:
        if self._entered:
            raise RuntimeError("This GCPFakes is already active; create a new GCPFakes() instead.")
        _activation.install()
        from pytest_gcpfakes import _child
        from pytest_gcpfakes.usage._recorder import recorder

        _child.detach()  # a process with fakes of its own records and serves itself

        recorder.begin()  # each GCPFakes (each test) records from a clean slate
        self._entered = True
        self.session_id = _registry.open_session(self)
        for service in self._services:
            self.start(service)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Deactivate every service and release interception (idempotent).

        First the work the session left behind is settled inside it: publisher batches
        still pending are sent (into *these* fakes), streaming pulls left open are cancelled
        and their threads stopped; threads still running are reported. From then on a call
        from any of them is refused (``LateCallError``): it never reaches a later session.
        """
        if not self._entered:
            return
        self._entered = False
        from pytest_gcpfakes import _sessions

        leftovers = _sessions.settle(self)
        self.ended = True
        _registry.close_session(self)
        errors: list[BaseException] = []
        for handle in reversed(list(self._handles.values())):
            _registry.deactivate(handle)
            handle.close()
            errors.extend(getattr(handle, "errors", list)())
        _activation.uninstall()
        from pytest_gcpfakes import _processes

        _processes.fakes_closed()
        _sessions.report(leftovers)
        if errors:
            # Errors of the fakes' own threads are raised on the test's thread, not lost.
            raise errors[0]

    def late_call(self, service: str) -> None:
        """Refuse a call made for this ended session by one of its leftovers (and say so)."""
        from pytest_gcpfakes import _sessions

        _sessions.refuse_late_call(self, service)

    def start(self, service: str) -> Any:
        """Activate ``service`` ("pubsub" or "storage") if it is not active yet."""
        if not self._entered:
            raise RuntimeError("Enter the GCPFakes (`with GCPFakes() as fakes:`) before start().")
        if service not in SERVICES:
            raise TypeError(f"Unknown service {service!r}; services are 'pubsub', 'storage'.")
        handle = self._handles.get(service)
        if handle is None:
            handle = self._new_handle(service)
            self._handles[service] = handle
            _registry.activate(handle)
        return handle

    def _new_handle(self, service: str) -> Any:
        if service == "pubsub":
            from pytest_gcpfakes.pubsub._handle import FakePubSub

            return FakePubSub(self)
        from pytest_gcpfakes.storage._handle import FakeStorage

        return FakeStorage(self)

    def serve(self) -> Any:
        """Serve these fakes on loopback too; return the process's ``Servers``.

        Storage (HTTP) and the link start in this process; Pub/Sub's gRPC face runs in a
        relay process, so this one hosts no gRPC server and may still fork. The servers
        follow whichever fakes are current, and stay up until the process exits.
        """
        if not self._entered:
            raise RuntimeError("Enter the GCPFakes (`with GCPFakes() as fakes:`) before serve().")
        from pytest_gcpfakes import _processes

        servers = _processes.host().start_pubsub(relay=True)
        _processes.export_link()
        return servers

    def usage(self) -> Any:
        """What the usage recorder saw since this GCPFakes was entered (a ``Recording``)."""
        from pytest_gcpfakes.usage._recorder import recorder

        return recorder.recording()

    # -- access --------------------------------------------------------------------------

    @property
    def pubsub(self) -> FakePubSub:
        """The Pub/Sub fake (arrange and inspect state without a client)."""
        return self._handle("pubsub", "fake_pubsub")  # type: ignore[no-any-return]

    @property
    def storage(self) -> FakeStorage:
        """The Storage fake (arrange and inspect state without a client)."""
        return self._handle("storage", "fake_storage")  # type: ignore[no-any-return]

    def _handle(self, service: str, fixture: str) -> Any:
        handle = self._handles.get(service)
        if handle is None:
            raise RuntimeError(
                f"The {service} fake is not active here; request the `{fixture}` fixture "
                f"(or pass services=(..., {service!r}) to GCPFakes)."
            )
        return handle


def _entered_at(frame: Any) -> str:
    """``the GCPFakes made at app_test.py:12``: a name for a session made outside pytest."""
    from pytest_gcpfakes.usage._recorder import user_site

    return f"the GCPFakes made at {user_site(frame)}"
