"""Stand-ins for connections that would reach Google: every call through them fails at once.

A blocked gRPC channel is returned instead of raising at channel creation so that the
error surfaces from the RPC the test made (and, for a publish, lands in its future) rather
than from wherever the channel happened to be built, such as a module imported at
collection time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc
import requests.adapters

from pytest_gcpfakes._errors import BlockedCallError
from pytest_gcpfakes._hosts import _METADATA_HOSTS, grpc_target_host

# The services the plugin fakes, by the first label of their host (pubsub.googleapis.com).
_FAKED = ("pubsub", "storage")
# Other Google APIs a test suite commonly reaches, by the same label; any other API is
# named by its label ("the Google API 'translate'").
_API_NAMES = {
    "aiplatform": "Vertex AI",
    "bigquery": "BigQuery",
    "bigquerystorage": "BigQuery Storage",
    "bigtable": "Bigtable",
    "bigtableadmin": "Bigtable",
    "cloudkms": "Cloud KMS",
    "cloudtasks": "Cloud Tasks",
    "cloudtrace": "Cloud Trace",
    "datastore": "Datastore",
    "firestore": "Firestore",
    "logging": "Cloud Logging",
    "monitoring": "Cloud Monitoring",
    "secretmanager": "Secret Manager",
    "spanner": "Spanner",
}
# Where credentials and projects are looked up: not a service anyone means to call.
_LOOKUP_APIS = {
    "iamcredentials": "IAM Service Account Credentials",
    "oauth2": "Google's OAuth 2.0 token service",
    "sts": "Google's Security Token Service",
}
# Path prefixes of www.googleapis.com, which serves many APIs under /API/VERSION/...
_WWW_SKIPPED = frozenset({"upload", "download", "batch"})


@dataclass(frozen=True)
class CalledService:
    """The service a blocked call was for, as :class:`BlockedCallError` takes it."""

    service: str | None  # "pubsub" / "storage", or another service's display name
    lookup: bool = False  # a credentials or project lookup, not a service

    def error(self, target: str) -> BlockedCallError:
        """The error for a call to ``target`` (``host:port/method`` or ``METHOD URL``)."""
        return BlockedCallError(target, self.service, self.lookup)


def called_service(host: str | None, path: str = "") -> CalledService:
    """Name the Google service at ``host`` (and, for www.googleapis.com, ``path``).

    Only the host says which service a call was for: ``bigquerystorage.googleapis.com`` is
    not Cloud Storage, whatever its URL contains. Regional (``us-east1-pubsub``,
    ``pubsub.us-east1.rep``), mTLS (``pubsub.mtls``) and virtual-hosted bucket
    (``BUCKET.storage``) hosts name their service too.
    """
    host = (host or "").lower().rstrip(".")
    if host in _METADATA_HOSTS:
        return CalledService("the metadata server", lookup=True)
    if host == "accounts.google.com":
        return CalledService("Google's sign-in service", lookup=True)
    if host == "storage.cloud.google.com":
        return CalledService("storage")
    if not (host == "googleapis.com" or host.endswith(".googleapis.com")):
        return CalledService(host or None)
    labels = [label for label in host[: -len("googleapis.com")].split(".") if label]
    if labels and labels[-1] == "storage":  # storage, BUCKET.storage
        return CalledService("storage")
    if labels == ["www"]:  # www.googleapis.com/storage/v1/…, /upload/storage/v1/…
        segments = [part for part in path.split("/") if part]
        while segments and segments[0] in _WWW_SKIPPED:
            segments.pop(0)
        labels = segments[:1]
    if not labels:
        return CalledService(None)
    api = labels[0]
    if "-" in api and api.rsplit("-", 1)[1] in (*_FAKED, *_API_NAMES, *_LOOKUP_APIS):
        api = api.rsplit("-", 1)[1]  # a locational endpoint: us-east1-pubsub
    if api in _FAKED:
        return CalledService(api)
    if api in _LOOKUP_APIS:
        return CalledService(_LOOKUP_APIS[api], lookup=True)
    return CalledService(_API_NAMES.get(api, f"the Google API {api!r}"))


def grpc_called_service(target: str) -> CalledService:
    """Name the Google service a gRPC target (``firestore.googleapis.com:443``) is for."""
    return called_service(grpc_target_host(target))


class _BlockedMultiCallable:
    """A gRPC multi-callable whose every invocation raises :class:`BlockedCallError`."""

    # Attribute names of our own: google-api-core wraps a stub with functools.wraps, which
    # copies the stub's __dict__ onto each wrapper, and google-api-core 2.23's wrappers read
    # their own ``_target`` (a stub's ``_target`` there failed the call with "'str' object
    # is not callable" instead of BlockedCallError).
    def __init__(self, target: str, method: str, called: CalledService) -> None:
        self._gcpfakes_target = target
        self._gcpfakes_method = method
        self._gcpfakes_called = called

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self._gcpfakes_called.error(f"{self._gcpfakes_target}{self._gcpfakes_method}")

    __call__ = _fail
    with_call = _fail
    future = _fail


class BlockedChannel(grpc.Channel):  # type: ignore[misc]
    """A ``grpc.Channel`` to a Google host that never opens a connection."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.called = grpc_called_service(target)

    def _callable(self, method: str, *args: Any, **kwargs: Any) -> _BlockedMultiCallable:
        return _BlockedMultiCallable(self.target, method, self.called)

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
        parts = urlsplit(url)
        raise called_service(parts.hostname, parts.path).error(f"{request.method} {url}")

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
