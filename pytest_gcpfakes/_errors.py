"""Errors the plugin raises from inside a GCP client call.

They subclass :class:`google.api_core.exceptions.FailedPrecondition` so that they are
``GoogleAPICallError``\\ s that no client library retries: the call fails at once, from the
public method the test called, and a publish future gets the error instead of hanging.
This module imports google.api_core, so it is only imported once a client is in use.
"""

from __future__ import annotations

from google.api_core import exceptions

FIXTURE_FOR_SERVICE = {"pubsub": "fake_pubsub", "storage": "fake_storage"}
_SERVICE_TITLE = {"pubsub": "Pub/Sub", "storage": "Cloud Storage"}


class GCPFakesError(exceptions.FailedPrecondition):
    """Base class: a GCP client call that pytest-gcpfakes stopped before it went anywhere."""

    _init_args: tuple[object, ...] = ()

    def __reduce__(self) -> tuple[object, ...]:
        # Forked workers (transfer_manager) send errors back pickled; rebuild from our own
        # constructor arguments, not from the formatted message.
        return (type(self), self._init_args)


class FakeNotActiveError(GCPFakesError):
    """A client was used while no fake backend for its service was active."""

    def __init__(self, service: str) -> None:
        self._init_args = (service,)
        self.service = service
        fixture = FIXTURE_FOR_SERVICE[service]
        super().__init__(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: this {_SERVICE_TITLE[service]} call ran with no fake "
            f"{_SERVICE_TITLE[service]} active; add the `{fixture}` fixture to the test "
            f"(or use `with GCPFakes():` outside pytest)."
        )


class ForkedProcessError(GCPFakesError):
    """A forked child could not reach the fakes of the process it was forked from.

    Forked children normally reach their parent's fakes over loopback (server mode); this
    is raised only where the parent could not serve them, instead of letting the child
    write into a private copy of the backends that the test never sees.
    """

    def __init__(self, service: str, pid: int, owner_pid: int, reason: str = "") -> None:
        self._init_args = (service, pid, owner_pid, reason)
        self.service = service
        why = reason or "the fakes were not being served when it was forked"
        super().__init__(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: this {_SERVICE_TITLE[service]} call ran in forked process "
            f"{pid}, which cannot reach the fakes of process {owner_pid} ({why}); its writes "
            "would be lost, so the call fails: fix the cause, or use threads instead."
        )


class ForeignEndpointError(GCPFakesError):
    """A client built with an explicit endpoint that is neither Google's nor a local one."""

    def __init__(self, service: str, target: str) -> None:
        self._init_args = (service, target)
        self.target = target
        variable = "STORAGE_EMULATOR_HOST" if service == "storage" else "PUBSUB_EMULATOR_HOST"
        super().__init__(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: refused {target}: the client's api_endpoint is neither Google's "
            f"nor a loopback or ${variable} address, so the fakes cannot serve it and nothing "
            f"may leave this machine; build the client without api_endpoint (or with "
            f"${variable}) to use `{FIXTURE_FOR_SERVICE[service]}`, or run such tests with "
            "`-p no:gcpfakes`."
        )


class LateCallError(GCPFakesError):
    """A call from a thread or process of a test that has already ended."""

    def __init__(self, service: str, owner: str, thread: str, site: str) -> None:
        self._init_args = (service, owner, thread, site)
        super().__init__(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: refused a {_SERVICE_TITLE[service]} call from thread "
            f"{thread!r} at {site}: it belongs to {owner}, which has ended, and would "
            "otherwise land in a later test's fakes; wait for the work a test starts "
            "(join its threads, call result() on its futures) before the test returns."
        )


class GCPFakesWarning(UserWarning):
    """Something a test left behind: a thread still running, a streaming pull left open, or a
    call refused because it came from an ended test's thread or process."""


class BlockedCallError(GCPFakesError):
    """A request or channel was headed for Google (``*.googleapis.com``, the metadata server).

    ``service`` is what was called: ``"pubsub"`` or ``"storage"`` for a service the plugin
    fakes, else the display name of another one (``"Firestore"``, ``"the metadata
    server"``); ``lookup`` marks a credentials or project lookup (the metadata server, a
    token service), whose fix is different. The message says which, so that a Firestore
    client is never sent to look for a ``fake_pubsub`` fixture.
    """

    def __init__(self, target: str, service: str | None = None, lookup: bool = False) -> None:
        self._init_args = (target, service, lookup)
        self.target = target
        self.service = service
        if service is not None and service in FIXTURE_FOR_SERVICE:
            name = _SERVICE_TITLE[service]
            fix = (
                "build the client without a custom channel, session or endpoint and add the "
                f"`{FIXTURE_FOR_SERVICE[service]}` fixture"
            )
        else:
            name = service or "a Google API"
            unfaked = (
                f"pytest-gcpfakes fakes only Pub/Sub and Cloud Storage, not {service or 'this API'}"
            )
            if lookup:
                fix = (
                    f"{unfaked}: give the code that looked up credentials or a project its own "
                    "(such as AnonymousCredentials() and project=), or run this test with "
                    "`-p no:gcpfakes`"
                )
            else:
                fix = (
                    f"{unfaked}: point its client at an emulator on this machine or mock it, "
                    "or run this test with `-p no:gcpfakes`"
                )
        super().__init__(  # type: ignore[no-untyped-call]
            f"pytest-gcpfakes: blocked a call to {name} ({target}), so nothing reached "
            f"Google; {fix}."
        )
