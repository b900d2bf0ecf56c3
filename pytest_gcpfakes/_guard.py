"""Stand-ins for connections that would reach Google: every call through them fails at once.

A blocked gRPC channel is returned instead of raising at channel creation so that the
error surfaces from the RPC the test made (and, for a publish, lands in its future) rather
than from wherever the channel happened to be built, such as a module imported at
collection time.
"""

from __future__ import annotations

import functools
from typing import Any

import grpc
import requests.adapters

from pytest_gcpfakes._errors import BlockedCallError


class _BlockedMultiCallable:
    """A gRPC multi-callable whose every invocation raises :class:`BlockedCallError`."""

    def __init__(self, target: str, method: str) -> None:
        self._target = target
        self._method = method

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise BlockedCallError(f"{self._target}{self._method}", "pubsub")

    __call__ = _fail
    with_call = _fail
    future = _fail


class BlockedChannel(grpc.Channel):  # type: ignore[misc]
    """A ``grpc.Channel`` to a Google host that never opens a connection."""

    def __init__(self, target: str) -> None:
        self.target = target

    def _callable(self, method: str, *args: Any, **kwargs: Any) -> _BlockedMultiCallable:
        return _BlockedMultiCallable(self.target, method)

    unary_unary = _callable
    unary_stream = _callable
    stream_unary = _callable
    stream_stream = _callable

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        """Accept connectivity subscriptions; the channel never changes state."""

    def unsubscribe(self, callback: Any) -> None:
        """Accept unsubscription; see :meth:`subscribe`."""

    def close(self) -> None:
        """Nothing to close: no connection was ever opened."""

    def __enter__(self) -> BlockedChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlockedAdapter(requests.adapters.BaseAdapter):
    """A requests adapter for Google hosts: raises instead of connecting."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = str(request.url)
        service = "storage" if "storage" in url.split("?", 1)[0] else None
        raise BlockedCallError(f"{request.method} {url}", service)

    def close(self) -> None:
        """Nothing to close."""


class ForeignEndpointAdapter(requests.adapters.BaseAdapter):
    """A requests adapter for an explicit endpoint the fakes cannot serve: fails at once."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        from pytest_gcpfakes._errors import ForeignEndpointError

        raise ForeignEndpointError("storage", str(request.url))

    def close(self) -> None:
        """Nothing to close."""


@functools.cache
def foreign_endpoint_adapter() -> ForeignEndpointAdapter:
    """Return the process-wide adapter for endpoints the fakes cannot serve."""
    return ForeignEndpointAdapter()


@functools.cache
def blocked_adapter() -> BlockedAdapter:
    """Return the process-wide blocked adapter."""
    return BlockedAdapter()
