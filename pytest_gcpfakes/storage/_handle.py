"""``fake_storage``: arrange and inspect Storage state without going through a client."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_gcpfakes import _registry
from pytest_gcpfakes._faults import DEFAULT_TIMES, DefaultTimes
from pytest_gcpfakes._registry import STORAGE_BASE_URL
from pytest_gcpfakes.storage._app import StorageApp
from pytest_gcpfakes.storage._backend import Bucket, ObjectVersion, StorageBackend
from pytest_gcpfakes.storage._errors import GCSError
from pytest_gcpfakes.storage._notifications import Notification, UndeliveredNotification
from pytest_gcpfakes.storage._resources import object_resource

if TYPE_CHECKING:
    from pytest_gcpfakes._backoff import RetriedCall
    from pytest_gcpfakes._fakes import GCPFakes

_F = TypeVar("_F", bound=Callable[..., Any])


def _api_errors(method: _F) -> _F:
    """Raise what a client would raise (``google.api_core`` exceptions), not wire errors."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except GCSError as error:
            raise error.to_api_exception() from None

    return wrapper  # type: ignore[return-value]


class FakeStorage:
    """The Storage fake of one test."""

    service = "storage"

    def __init__(self, fakes: GCPFakes) -> None:
        self.pid = fakes.pid
        """The process that made this fake (children reach it through server mode)."""
        self.config = fakes.config
        """The test's options (marker and ini), a frozen :class:`~pytest_gcpfakes.Config`."""
        self.clock = fakes.clock
        """The fakes' clock (shared with Pub/Sub): object times, retention, lifecycle rules
        and signed-URL expiry read it; ``clock.advance(seconds)`` moves it."""
        self.project = fakes.project
        """The project buckets are created in when a call names none."""
        self.backend = StorageBackend(fakes.clock)
        self.backend.billing_exempt_project = fakes.project
        self.app = StorageApp(self.backend)
        """The JSON API as a WSGI app: what the client's requests reach (in-process, through
        a ``requests`` adapter), and what a test can serve or call itself, e.g. with
        ``werkzeug.test.Client(fake_storage.app)``."""
        self.app.faults.configure(fakes.config.latency)
        self.undelivered_notifications: list[UndeliveredNotification] = []
        """Notification messages that found no Pub/Sub fake or no topic, oldest first."""
        self._undelivered_lock = threading.Lock()
        self.backend.notification_sink = _PubSubSink(self)

    def close(self) -> None:
        """Nothing to release: the backend holds no threads."""

    # -- arrange -------------------------------------------------------------------------

    @_api_errors
    def create_bucket(self, name: str, *, project: str | None = None, **fields: Any) -> Bucket:
        """Create a bucket in one line (``versioning=True``, ``labels={...}``, …)."""
        from pytest_gcpfakes.storage._names import validate_bucket_name

        validate_bucket_name(name)
        return self.backend.create_bucket(name, project or self.project, **fields)

    @_api_errors
    def put(
        self,
        bucket: str,
        name: str,
        data: bytes | str,
        *,
        content_type: str | None = None,
        **fields: Any,
    ) -> ObjectVersion:
        """Write an object (creating the bucket if needed) and return the new generation."""
        if bucket not in self.backend.buckets:
            self.create_bucket(bucket)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if content_type is None and isinstance(data, str):
            content_type = "text/plain; charset=utf-8"
        return self.backend.insert_object(
            bucket,
            name,
            payload,
            content_type=content_type,
            writer_thread=threading.current_thread().name,
            **fields,
        )

    @_api_errors
    def corrupt(
        self, bucket: str, name: str, data: bytes, *, generation: int | None = None
    ) -> None:
        """Replace an object's stored bytes but keep its recorded MD5 and CRC32C.

        Downloads then fail the client's checksum validation, as they would if GCS served
        damaged data: use it to test how an application handles ``DataCorruption``.
        """
        self.backend.replace_data(bucket, name, bytes(data), generation=generation)

    @property
    def rewrite_bytes_per_call(self) -> int | None:
        """Bytes one ``blob.rewrite()`` call copies before answering with a rewrite token.

        ``None`` (the default) finishes every rewrite in one call, as GCS does within one
        location and storage class. Set it (e.g. ``4 * 1024 * 1024``) to make the client's
        token loop run, as it does for GCS rewrites across locations or storage classes.
        A request's own ``maxBytesRewrittenPerCall`` takes precedence.
        """
        return self.backend.rewrite_bytes_per_call

    @rewrite_bytes_per_call.setter
    def rewrite_bytes_per_call(self, value: int | None) -> None:
        self.backend.rewrite_bytes_per_call = value

    @property
    def outside_caller(self) -> bool:
        """Whether the caller is outside the project, so that requester pays bills it.

        ``False`` (the default): like a team member on GCS, who holds
        ``resourcemanager.projects.createBillingAssignment`` on the project, the caller
        uses the requester-pays buckets of the fakes' project (``fake_storage.project``)
        without naming a billing project; buckets of other projects still need one. Set it
        to ``True`` to test code that must name one: every call on a requester-pays bucket
        without ``user_project=`` then fails with GCS's 400 "Bucket is a requester pays
        bucket but no user project provided." The fake checks no other permission, so
        nothing else changes.
        """
        return self.backend.billing_exempt_project is None

    @outside_caller.setter
    def outside_caller(self, value: bool) -> None:
        self.backend.billing_exempt_project = None if value else self.project

    # -- faults --------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        exception: Any,
        *,
        times: int | DefaultTimes | None = DEFAULT_TIMES,
        probability: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Make a JSON API method (``"storage.objects.insert"``, ``"storage.objects.get"``,
        ``"storage.buckets.get"``, …, or ``"*"``) answer with ``exception``'s HTTP status;
        the client's own retry logic then runs. ``times=k`` fails the next k calls (default
        1), ``probability=p`` (with ``seed=``) fails calls at random, every call unless
        ``times`` says otherwise."""
        self.app.faults.fail(method, exception, times=times, probability=probability, seed=seed)

    def latency(self, method: str, seconds: float) -> None:
        """Delay every call of a JSON API method (or ``"*"``) by ``seconds``."""
        self.app.faults.set_latency(method, seconds)

    @property
    def retried_calls(self) -> list[RetriedCall]:
        """Client calls retried after failures this fake answered, with the backoff each
        client computed (virtual: no real time passed for it)."""
        return self.app.faults.retried_calls

    def _undelivered(self, topic: str, data: bytes, attributes: dict[str, str], why: str) -> None:
        with self._undelivered_lock:
            self.undelivered_notifications.append(
                UndeliveredNotification(topic, data, attributes, why)
            )

    # -- inspect -------------------------------------------------------------------------

    @property
    def buckets(self) -> list[str]:
        """Names of every bucket, sorted."""
        return sorted(self.backend.buckets)

    @_api_errors
    def get(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """Return the bytes of an object (the live version, or one generation)."""
        return self.backend.get_object(bucket, name, generation).data

    @_api_errors
    def object(self, bucket: str, name: str, *, generation: int | None = None) -> ObjectVersion:
        """Return the metadata and bytes of an object as one immutable record."""
        return self.backend.get_object(bucket, name, generation)

    @_api_errors
    def objects(self, bucket: str, *, versions: bool = False) -> list[str]:
        """Names of the objects in ``bucket``, in GCS's listing order."""
        return [v.name for v in self.backend.list_objects(bucket, versions=versions)]

    @_api_errors
    def generations(self, bucket: str, name: str) -> list[ObjectVersion]:
        """Every kept generation of ``name``, oldest first (live one last)."""
        return [v for v in self.backend.list_objects(bucket, versions=True) if v.name == name]


class _PubSubSink:
    """Publishes a bucket's notifications to the Pub/Sub fake active at the time.

    Looked up per event, never imported by the storage backend: Storage works alone, and a
    test that adds ``fake_pubsub`` gets its notifications. GCS publishes asynchronously and
    a storage call never fails because of its notifications, so a message that cannot be
    published (no Pub/Sub fake active, topic deleted since) is kept on
    ``fake_storage.undelivered_notifications`` instead of raising.
    """

    def __init__(self, storage: FakeStorage) -> None:
        self._storage = storage

    @staticmethod
    def _pubsub() -> Any:
        pubsub = _registry.peek("pubsub")
        if pubsub is None or pubsub.pid != os.getpid():
            return None
        return pubsub

    def topic_exists(self, topic_path: str) -> bool | None:
        pubsub = self._pubsub()
        if pubsub is None:
            return None
        return topic_path in pubsub.backend.topics

    def deliver(self, notifications: list[Notification]) -> None:
        storage = self._storage
        for notification in notifications:
            topic = notification.config.topic_path
            # Events raised outside any request (fake_storage.put) link to the in-process face.
            base_url = notification.base_url or STORAGE_BASE_URL
            data, attributes = notification.message(
                functools.partial(object_resource, backend=storage.backend, base_url=base_url)
            )
            pubsub = self._pubsub()
            if pubsub is None:
                storage._undelivered(topic, data, attributes, "no Pub/Sub fake was active")
                continue
            from google.api_core.exceptions import GoogleAPICallError
            from google.pubsub_v1 import types

            request = types.PublishRequest(
                topic=topic, messages=[types.PubsubMessage(data=data, attributes=attributes)]
            )
            try:
                # The backend's RPC itself, not the API method: faults injected into
                # "Publish" are for the application's publishes, not for Cloud Storage's.
                pubsub.backend.rpc_publish(request, None)
            except GoogleAPICallError as error:
                storage._undelivered(topic, data, attributes, f"{type(error).__name__}: {error}")
