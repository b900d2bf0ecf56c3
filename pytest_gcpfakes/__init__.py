"""pytest-gcpfakes: in-memory Pub/Sub and Storage for the real Google Cloud clients.

Importing this package imports neither pytest nor google.cloud (each would add to every
pytest start-up); names are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_gcpfakes._backoff import RetriedCall
    from pytest_gcpfakes._clock import Clock
    from pytest_gcpfakes._config import Config
    from pytest_gcpfakes._errors import (
        BlockedCallError,
        FakeNotActiveError,
        ForeignEndpointError,
        ForkedProcessError,
        GCPFakesError,
        GCPFakesWarning,
        LateCallError,
    )
    from pytest_gcpfakes._fakes import GCPFakes
    from pytest_gcpfakes.assertions import (
        GCPUsage,
        assert_no_cross_process_sharing,
        assert_no_cross_request_sharing,
        assert_no_leaked_clients,
        assert_no_use_after_close,
    )
    from pytest_gcpfakes.concurrency import (
        LiveServer,
        RendezvousTimeout,
        RepeatResult,
        Result,
        concurrent_requests,
        rendezvous,
        repeat,
    )
    from pytest_gcpfakes.pubsub._delivery import PublishedMessage
    from pytest_gcpfakes.pubsub._handle import FakePubSub, Outstanding, SubscriptionState
    from pytest_gcpfakes.server._servers import GCPFakesServer
    from pytest_gcpfakes.storage._handle import FakeStorage
    from pytest_gcpfakes.usage._requests import request_scope, track_wsgi

__all__ = [
    "BlockedCallError",
    "Clock",
    "Config",
    "FakeNotActiveError",
    "FakePubSub",
    "FakeStorage",
    "ForeignEndpointError",
    "ForkedProcessError",
    "GCPFakes",
    "GCPFakesError",
    "GCPFakesServer",
    "GCPFakesWarning",
    "GCPUsage",
    "LateCallError",
    "LiveServer",
    "Outstanding",
    "PublishedMessage",
    "RendezvousTimeout",
    "RepeatResult",
    "Result",
    "RetriedCall",
    "SubscriptionState",
    "assert_no_cross_process_sharing",
    "assert_no_cross_request_sharing",
    "assert_no_leaked_clients",
    "assert_no_use_after_close",
    "concurrent_requests",
    "rendezvous",
    "repeat",
    "request_scope",
    "track_wsgi",
]

_WHERE = {
    "GCPUsage": "pytest_gcpfakes.assertions",
    "LiveServer": "pytest_gcpfakes.concurrency",
    "RendezvousTimeout": "pytest_gcpfakes.concurrency",
    "RepeatResult": "pytest_gcpfakes.concurrency",
    "Result": "pytest_gcpfakes.concurrency",
    "concurrent_requests": "pytest_gcpfakes.concurrency",
    "rendezvous": "pytest_gcpfakes.concurrency",
    "repeat": "pytest_gcpfakes.concurrency",
    "assert_no_cross_process_sharing": "pytest_gcpfakes.assertions",
    "assert_no_cross_request_sharing": "pytest_gcpfakes.assertions",
    "assert_no_leaked_clients": "pytest_gcpfakes.assertions",
    "assert_no_use_after_close": "pytest_gcpfakes.assertions",
    "request_scope": "pytest_gcpfakes.usage._requests",
    "track_wsgi": "pytest_gcpfakes.usage._requests",
    "BlockedCallError": "pytest_gcpfakes._errors",
    "Clock": "pytest_gcpfakes._clock",
    "Config": "pytest_gcpfakes._config",
    "FakeNotActiveError": "pytest_gcpfakes._errors",
    "FakePubSub": "pytest_gcpfakes.pubsub._handle",
    "FakeStorage": "pytest_gcpfakes.storage._handle",
    "ForeignEndpointError": "pytest_gcpfakes._errors",
    "ForkedProcessError": "pytest_gcpfakes._errors",
    "GCPFakes": "pytest_gcpfakes._fakes",
    "GCPFakesError": "pytest_gcpfakes._errors",
    "GCPFakesServer": "pytest_gcpfakes.server._servers",
    "GCPFakesWarning": "pytest_gcpfakes._errors",
    "LateCallError": "pytest_gcpfakes._errors",
    "Outstanding": "pytest_gcpfakes.pubsub._handle",
    "PublishedMessage": "pytest_gcpfakes.pubsub._delivery",
    "RetriedCall": "pytest_gcpfakes._backoff",
    "SubscriptionState": "pytest_gcpfakes.pubsub._handle",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_gcpfakes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
