"""Cloud Storage state: buckets and the generations of their objects.

Knows nothing of HTTP or clients: the JSON API app (``_app``) translates requests into these
calls. Each bucket has its own lock, so writes to different buckets never contend; the
registry lock guards only bucket creation and deletion. Preconditions are checked under the
bucket lock in the same critical section as the write, which is what makes
compare-and-swap through ``if_generation_match`` atomic.

Notifications: a change matched by one of the bucket's notification configurations is
recorded under the bucket lock, and handed to ``notification_sink`` (set by the
``fake_storage`` handle, which knows Pub/Sub) when the outermost backend call of the
thread returns, or when an enclosing ``notifying()`` block ends: never under a lock.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import itertools
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import google_crc32c

from pytest_gcpfakes._clock import Clock
from pytest_gcpfakes.storage import _bucket_fields, _csek, _errors, _lifecycle
from pytest_gcpfakes.storage._acl import Grant, acl_on_insert, acl_on_patch, project_private
from pytest_gcpfakes.storage._contexts import Context, ContextChange
from pytest_gcpfakes.storage._notifications import (
    EVENT_TYPES,
    MAX_OVERLAPPING,
    OBJECT_ARCHIVE,
    OBJECT_DELETE,
    OBJECT_FINALIZE,
    OBJECT_METADATA_UPDATE,
    Notification,
    NotificationConfig,
    ObjectEvent,
    pubsub_path,
)
from pytest_gcpfakes.storage._soft_delete import (
    default_soft_delete_policy,
    soft_delete,
    soft_delete_bucket,
)
from pytest_gcpfakes.storage._sorted import SortedKeys

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Called as ``hook(backend, bucket_name)`` before every bucket lookup. Pub/Sub's Cloud
#: Storage subscriptions add one (``pubsub/_cloud_storage``) to write the batches due by
#: then, so a read after freezegun's ``tick()`` sees them. A hook must not raise.
BUCKET_READ_HOOKS: list[Callable[[Any, str], None]] = []


@dataclass(frozen=True)
class Preconditions:
    """The ``if*Match`` parameters of one request (``None`` = not given)."""

    if_generation_match: int | None = None
    if_generation_not_match: int | None = None
    if_metageneration_match: int | None = None
    if_metageneration_not_match: int | None = None

    def check(self, current: ObjectVersion | None, *, read: bool = False) -> None:
        """Raise unless ``current`` (the live version, or ``None``) satisfies all of them.

        A failed ``*Match`` is 412. A failed ``*NotMatch`` is 304 on reads (metadata or media
        GET) and 412 on writes, as HTTP's If-None-Match and GCS's request-preconditions page.
        """
        generation = current.generation if current is not None else 0
        if self.if_generation_match is not None and generation != self.if_generation_match:
            raise _errors.precondition_failed()
        if self.if_generation_not_match is not None and generation == self.if_generation_not_match:
            raise _errors.not_modified() if read else _errors.precondition_failed()
        if self.if_metageneration_match is not None or self.if_metageneration_not_match is not None:
            if current is None:
                raise _errors.precondition_failed()
            mg = current.metageneration
            if self.if_metageneration_match is not None and mg != self.if_metageneration_match:
                raise _errors.precondition_failed()
            if (
                self.if_metageneration_not_match is not None
                and mg == self.if_metageneration_not_match
            ):
                raise _errors.not_modified() if read else _errors.precondition_failed()


@dataclass(frozen=True)
class Retention:
    """An object's retention configuration (Object Retention Lock)."""

    mode: str
    """``"Unlocked"`` (can be shortened or removed with the override) or ``"Locked"``."""
    retain_until: datetime


#: The farthest a retain-until time may lie ahead ([object-lock]: 3,155,760,000 seconds).
MAX_RETENTION = timedelta(seconds=3_155_760_000)


@dataclass(frozen=True)
class ObjectVersion:
    """One generation of one object; immutable, replaced on every change."""

    bucket: str
    name: str
    generation: int
    metageneration: int
    data: bytes
    content_type: str | None
    """``None``: unset, as compose leaves it; served as ``application/octet-stream``."""
    time_created: datetime
    updated: datetime
    md5_hash: str
    crc32c: str
    writer_thread: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    custom_time: str | None = None
    storage_class: str = "STANDARD"
    key_sha256: str | None = None
    """The base64 SHA-256 of the customer-supplied key it was written with (``_csek``)."""
    time_deleted: datetime | None = None
    component_count: int | None = None
    temporary_hold: bool = False
    event_based_hold: bool = False
    retention: Retention | None = None
    acl: tuple[Grant, ...] = ()
    contexts: Mapping[str, Context] = field(default_factory=dict)
    """Object contexts (``contexts.custom``), by key."""
    """Its access control list; given by the bucket (``acl_on_insert``) on insert."""

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Bucket:
    """State of one bucket: its metadata and, per object name, every generation kept."""

    name: str
    project: str
    time_created: datetime
    updated: datetime
    metageneration: int = 1
    location: str = "US"
    storage_class: str = "STANDARD"
    labels: dict[str, str] = field(default_factory=dict)
    versioning: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    live: SortedKeys[ObjectVersion] = field(default_factory=SortedKeys)
    noncurrent: SortedKeys[list[ObjectVersion]] = field(default_factory=SortedKeys)
    """Both keep their names sorted too (``_sorted``): listings read only their range."""
    notifications: dict[str, NotificationConfig] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    requester_pays: bool = False
    """``billing.requesterPays``, kept as a plain attribute: every request reads it."""
    object_retention: bool = False
    """Object Retention Lock: enabled when the bucket is created, never turned off."""
    acl: tuple[Grant, ...] = field(init=False, default=())
    default_object_acl: tuple[Grant, ...] = field(init=False, default=())
    """Both ``projectPrivate`` at first, kept under uniform bucket-level access (``_acl``)."""
    iam_bindings: list[dict[str, Any]] | None = None
    """The IAM policy's bindings as last written; ``None``: the legacy ones (``_iam``)."""
    generation: int = 0
    """Tells apart buckets of one name, one of them soft-deleted (``_soft_delete``)."""
    soft_deleted: dict[str, list[Any]] = field(default_factory=dict)
    """Soft-deleted generations by name (``_soft_delete.SoftDeletedObject``)."""
    managed_folders: dict[str, Any] = field(default_factory=dict)
    """Managed folders by name (``_folders.ManagedFolder``)."""

    def __post_init__(self) -> None:
        self.acl = self.default_object_acl = project_private(project_number(self.project))
        if self.requester_pays:
            self.extra.setdefault("billing", {"requesterPays": True})

    @property
    def retention_period(self) -> int | None:
        """Seconds every object is retained for, or ``None`` without a retention policy."""
        policy = self.extra.get("retentionPolicy") or {}
        period = policy.get("retentionPeriod")
        return int(period) if period is not None else None

    def retained_until(self, version: ObjectVersion, *, own: bool = True) -> datetime | None:
        """When retention lets ``version`` go, or ``None``: the bucket's retention policy,
        and (with ``own``) the object's own retention configuration, whichever ends last."""
        period = self.retention_period
        until = version.time_created + timedelta(seconds=period) if period else None
        retention = version.retention
        if own and retention is not None and (until is None or retention.retain_until > until):
            until = retention.retain_until
        return until


#: Bucket settings kept as the JSON API spells them: stored, returned, and (where the fake
#: acts on them) read back through Bucket's properties.
BUCKET_SETTINGS = (
    "autoclass",
    "billing",
    "cors",
    "customPlacementConfig",
    "defaultEventBasedHold",
    "encryption",
    "hierarchicalNamespace",
    "iamConfiguration",
    "ipFilter",
    "lifecycle",
    "logging",
    "retentionPolicy",
    "rpo",
    "softDeletePolicy",
    "website",
)


#: Metadata a copy, rewrite or compose carries over when the request body does not set it.
COPIED_FIELDS = (
    "content_type",
    "content_encoding",
    "content_disposition",
    "content_language",
    "cache_control",
    "custom_time",
    "metadata",
    "contexts",
)


@dataclass
class RewriteJob:
    """A rewrite that needs more calls: the pinned source and how far it has got."""

    token: str
    source: ObjectVersion
    dest_bucket: str
    dest_name: str
    fields: dict[str, Any]
    preconditions: Preconditions
    done: int = 0


@dataclass
class MultipartUpload:
    """An XML API multipart upload: parts arrive in any order, then one completes them."""

    id: str
    bucket: str
    name: str
    fields: dict[str, Any]
    writer_thread: str
    parts: dict[int, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class UploadSession:
    """A resumable upload in progress: what was asked for, and the bytes persisted so far."""

    id: str
    bucket: str
    name: str
    fields: dict[str, Any]
    preconditions: Preconditions
    expected_md5: str | None
    expected_crc32c: str | None
    total: int | None
    writer_thread: str
    buffer: bytearray = field(default_factory=bytearray)
    result: ObjectVersion | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class NotificationSink(Protocol):
    """Where notifications go: the owner of the backend, which knows Pub/Sub."""

    def topic_exists(self, topic_path: str) -> bool | None:
        """Whether ``projects/P/topics/T`` exists (``None``: nothing to ask)."""

    def deliver(self, notifications: list[Notification]) -> None:
        """Publish the messages of ``notifications``, in order; never raise for one."""


class _Pending(threading.local):
    """Notifications recorded by this thread's backend calls, not handed over yet."""

    def __init__(self) -> None:
        self.depth = 0
        self.items: list[Notification] = []
        self.base_url: str | None = None  # links' base of the request being served


class _HeldNotifications:
    """``with backend.notifying():``; a class rather than ``@contextmanager``, because the
    JSON API app enters one for every request and a generator costs several times more."""

    __slots__ = ("_backend", "_base_url")

    def __init__(self, backend: StorageBackend, base_url: str | None) -> None:
        self._backend = backend
        self._base_url = base_url

    def __enter__(self) -> None:
        pending = self._backend._pending
        if not pending.depth:
            pending.base_url = self._base_url
        pending.depth += 1

    def __exit__(self, *exc_info: object) -> None:
        pending = self._backend._pending
        pending.depth -= 1
        if not pending.depth:
            pending.base_url = None
            if pending.items:
                self._backend._flush_notifications()


def _notifying(
    method: Callable[Concatenate[StorageBackend, _P], _R],
) -> Callable[Concatenate[StorageBackend, _P], _R]:
    """Hand the notifications a backend call recorded over when the outermost one returns."""

    @functools.wraps(method)
    def wrapper(self: StorageBackend, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        pending = self._pending
        pending.depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            pending.depth -= 1
            if not pending.depth and pending.items:
                self._flush_notifications()

    return wrapper


class StorageBackend:
    """Every bucket of one fake session."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.buckets: dict[str, Bucket] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.rewrites: dict[str, RewriteJob] = {}
        self.multipart: dict[str, MultipartUpload] = {}
        # Bytes one rewrite call copies when the request does not say (None: all of them).
        # GCS finishes same-location rewrites in one call and larger moves in several; the
        # Python client never sends maxBytesRewrittenPerCall, so this is how a test makes
        # its token loop run.
        self.rewrite_bytes_per_call: int | None = None
        # The project whose requester-pays buckets the caller may use without naming a
        # billing project: GCS lets a caller holding createBillingAssignment on the
        # bucket's project go without (_wire.bill). None: a caller outside every project.
        self.billing_exempt_project: str | None = None
        self._last_generation = 0
        self._generation_lock = threading.Lock()
        self._serials = itertools.count(1)
        self.notification_sink: NotificationSink | None = None
        self._pending = _Pending()
        self._held: dict[str | None, _HeldNotifications] = {}
        self.soft_deleted_buckets: list[Any] = []  # _soft_delete.SoftDeletedBucket

    # -- notifications -------------------------------------------------------------------

    def notifying(self, base_url: str | None = None) -> _HeldNotifications:
        """Hold back this thread's notifications until the block ends (callers holding a
        lock of their own, like the JSON API app, publish only after releasing it).

        ``base_url`` goes with the notifications the block raises: their payloads are
        rendered after the request, with links to the face that request came through.
        The blocks hold no state of their own, so one per base URL serves every request.
        """
        held = self._held.get(base_url)
        if held is None:
            if len(self._held) >= 64:  # a face has one or two; never let them pile up
                self._held.clear()
            held = self._held[base_url] = _HeldNotifications(self, base_url)
        return held

    def _flush_notifications(self) -> None:
        items, self._pending.items = self._pending.items, []
        sink = self.notification_sink
        if sink is not None:
            sink.deliver(items)

    def _emit(self, bucket: Bucket, events: list[ObjectEvent]) -> None:
        """Record the notifications ``events`` cause (the caller holds the bucket lock)."""
        configs = list(bucket.notifications.values())
        if not configs:
            return
        pending = self._pending.items
        base_url = self._pending.base_url
        for event in events:
            pending.extend(Notification(c, event, base_url) for c in configs if c.matches(event))

    @_notifying
    def insert_notification(
        self, bucket_name: str, fields: Mapping[str, Any]
    ) -> NotificationConfig:
        """Add a notification configuration (fields from ``parse_config``) to a bucket.

        GCS checks that the topic exists and that its service agent may publish to it. The
        fake asks the sink; with no Pub/Sub fake to ask, it takes the topic on trust.
        """
        bucket = self.get_bucket(bucket_name)
        topic = str(fields["topic"])
        sink = self.notification_sink
        if sink is not None and sink.topic_exists(pubsub_path(topic)) is False:
            raise _errors.topic_not_found(topic, service_agent(bucket.project))
        with bucket.lock:
            asked = fields.get("event_types") or EVENT_TYPES
            for event_type in asked:
                overlapping = sum(1 for c in bucket.notifications.values() if c.covers(event_type))
                if overlapping >= MAX_OVERLAPPING:
                    raise _errors.too_many_overlapping_notifications()
            # The id is the bucket's metageneration, which the insert then moves (sources
            # in _notifications: [zig-measured]; [notifications]: creating or deleting a
            # configuration increments it).
            config = NotificationConfig(id=str(bucket.metageneration), **fields)
            bucket.notifications[config.id] = config
            bucket.metageneration += 1
        return config

    def get_notification(self, bucket_name: str, notification_id: str) -> NotificationConfig:
        """Return one notification configuration of a bucket, or raise 404."""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            config = bucket.notifications.get(notification_id)
        if config is None:
            raise _errors.notification_not_found()
        return config

    def list_notifications(self, bucket_name: str) -> list[NotificationConfig]:
        """Return a bucket's notification configurations, oldest first."""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            return list(bucket.notifications.values())

    def delete_notification(self, bucket_name: str, notification_id: str) -> None:
        """Remove one notification configuration (moving the bucket's metageneration)."""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            if bucket.notifications.pop(notification_id, None) is None:
                raise _errors.notification_not_found()
            bucket.metageneration += 1

    # -- buckets -------------------------------------------------------------------------

    def create_bucket(self, name: str, project: str, **fields: Any) -> Bucket:
        """Create bucket ``name``; 409 if it exists (bucket names are global in GCS)."""
        now = self.clock.now()
        with self._lock:
            if name in self.buckets:
                raise _errors.bucket_already_owned()
            fields.setdefault("generation", self._next_generation(now))
            bucket = Bucket(name=name, project=project, time_created=now, updated=now, **fields)
            # GCS's default soft delete policy, for buckets created without one.
            bucket.extra["softDeletePolicy"] = default_soft_delete_policy(now)
            self.buckets[name] = bucket
        return bucket

    @_notifying
    def get_bucket(self, name: str) -> Bucket:
        """Return bucket ``name`` (lifecycle rules applied up to now) or raise 404."""
        for hook in BUCKET_READ_HOOKS:
            hook(self, name)
        bucket = self.buckets.get(name)
        if bucket is None:
            raise _errors.bucket_not_found()
        if bucket.extra.get("lifecycle"):
            with bucket.lock:
                self._emit(bucket, _lifecycle.apply(bucket, self.clock.now()))
        return bucket

    @_notifying
    def configure_bucket(
        self, bucket: Bucket, body: Mapping[str, Any], *, replace_all: bool = False
    ) -> None:
        """Apply a bucket resource (insert / patch; ``replace_all`` for update), checked
        against ``_schema.BUCKET`` by the caller: all of it or, if refused, none of it."""
        now = self.clock.now()
        with bucket.lock:
            # The refusals of a locked policy, before any change: shortened (400), or removed
            # by a null, a {} or (update) by leaving it out (403); a locked policy only grows.
            policy = body.get("retentionPolicy")
            if policy:
                policy = self._retention_policy(bucket, policy, now)
            elif (bucket.extra.get("retentionPolicy") or {}).get("isLocked") and (
                "retentionPolicy" in body or replace_all
            ):
                raise _errors.retention_policy_lock_removed(bucket.name)
            if replace_all:
                bucket.labels = {}
                for key in BUCKET_SETTINGS:
                    if key not in body:
                        bucket.extra.pop(key, None)
            if "labels" in body:
                labels = dict(bucket.labels)
                for key, value in (body["labels"] or {}).items():
                    if value is None:
                        labels.pop(key, None)
                    else:
                        labels[key] = str(value)
                bucket.labels = labels
            if "versioning" in body:
                bucket.versioning = bool((body["versioning"] or {}).get("enabled"))
            if body.get("storageClass") is not None:
                bucket.storage_class = str(body["storageClass"])
            for key in BUCKET_SETTINGS:
                if key not in body:
                    continue
                value = body[key]
                if value is None or value == {}:
                    bucket.extra.pop(key, None)
                    continue
                if key == "retentionPolicy":
                    value = policy
                else:  # with the times GCS keeps for it (when Autoclass was toggled, ...)
                    value = _bucket_fields.stamp(key, bucket.extra.get(key), value, now)
                bucket.extra[key] = value
            bucket.requester_pays = bool((bucket.extra.get("billing") or {}).get("requesterPays"))
            if bucket.extra.get("lifecycle"):
                self._emit(bucket, _lifecycle.apply(bucket, now))

    @staticmethod
    def _retention_policy(bucket: Bucket, value: Mapping[str, Any], now: datetime) -> Any:
        current = bucket.extra.get("retentionPolicy") or {}
        if current.get("isLocked"):
            # A locked policy can only grow (cloud.google.com/storage/docs/bucket-lock).
            if int(value.get("retentionPeriod", 0)) < int(current["retentionPeriod"]):
                raise _errors.retention_policy_locked(bucket.name)
            return {**current, "retentionPeriod": str(value["retentionPeriod"])}
        return {
            "retentionPeriod": str(value.get("retentionPeriod", 0)),
            "effectiveTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def lock_retention_policy(self, bucket: Bucket) -> None:
        """Lock the bucket's retention policy for good (it can then only be lengthened)."""
        with bucket.lock:
            policy = bucket.extra.get("retentionPolicy")
            if not policy:
                # Guess: GCS refuses to lock a bucket without a policy; wording ours.
                raise _errors.invalid_argument("Bucket has no retention policy to lock.")
            bucket.extra["retentionPolicy"] = {**policy, "isLocked": True}
            bucket.metageneration += 1
            bucket.updated = self.clock.now()

    def list_buckets(self, project: str, prefix: str = "") -> list[Bucket]:
        """Return the buckets of ``project`` whose names start with ``prefix``, sorted."""
        with self._lock:
            found = [b for b in self.buckets.values() if b.project == project]
        return sorted((b for b in found if b.name.startswith(prefix)), key=lambda b: b.name)

    @_notifying
    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket; 409 if it still holds objects."""
        with self._lock:
            bucket = self.get_bucket(name)
            with bucket.lock:
                if bucket.live or bucket.noncurrent:
                    raise _errors.bucket_not_empty()
            del self.buckets[name]
            soft_delete_bucket(self, bucket, self.clock.now())

    # -- objects -------------------------------------------------------------------------

    @_notifying
    def insert_object(
        self,
        /,
        bucket_name: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        preconditions: Preconditions = Preconditions(),
        expected_md5: str | None = None,
        expected_crc32c: str | None = None,
        writer_thread: str = "",
        typed: bool = True,
        **metadata: Any,
    ) -> ObjectVersion:
        """Write a new generation of ``name``; checksums and preconditions as GCS checks them.

        ``typed``: an upload without a content type is stored as
        ``application/octet-stream``; compose, copy and rewrite pass ``False`` and leave
        it unset (``None``) when the request and the source give none.
        """
        md5, crc = _check_checksums(data, expected_md5, expected_crc32c)
        if metadata.get("component_count"):
            # Composite objects have a CRC32C but no MD5 hash (cloud.google.com/storage/
            # docs/composite-objects#metadata).
            md5 = ""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            current = bucket.live.get(name)
            preconditions.check(current)
            now = self.clock.now()
            if metadata.get("retention") is not None:
                # Only a hold the request itself sets conflicts (as [zig-fake] checks it);
                # whether a bucket's default event-based hold does too is not on record.
                _check_new_retention(bucket, metadata["retention"], now)
                if metadata.get("event_based_hold"):
                    raise _errors.retention_with_event_based_hold()
            if current is not None:
                _check_not_protected(bucket, current, now, archiving=bucket.versioning)
            # New objects take the bucket's default storage class and event-based hold.
            metadata.setdefault("storage_class", bucket.storage_class)
            if isinstance(metadata.get("contexts"), ContextChange):  # what the request set
                metadata["contexts"] = metadata["contexts"].apply({}, now)
            if bucket.extra.get("defaultEventBasedHold"):
                metadata.setdefault("event_based_hold", True)
            acl_on_insert(bucket, project_number(bucket.project), metadata)
            version = ObjectVersion(
                bucket=bucket_name,
                name=name,
                generation=self._next_generation(now),
                metageneration=1,
                data=data,
                content_type=content_type or ("application/octet-stream" if typed else None),
                time_created=now,
                updated=now,
                md5_hash=md5,
                crc32c=crc,
                writer_thread=writer_thread,
                **metadata,
            )
            retired = self._retire(bucket, current, now) if current is not None else None
            if current is not None and retired is None:
                soft_delete(bucket, current, now)  # overwritten for good
            bucket.live[name] = version
            if bucket.notifications:  # events are built only for someone to hear them
                self._emit(bucket, _write_events(version, current, retired, now))
        return version

    # -- resumable uploads -----------------------------------------------------------------

    def start_upload(
        self,
        bucket_name: str,
        name: str,
        *,
        fields: dict[str, Any],
        preconditions: Preconditions,
        expected_md5: str | None,
        expected_crc32c: str | None,
        total: int | None,
        writer_thread: str,
    ) -> UploadSession:
        """Open a resumable upload session; preconditions are checked when it completes."""
        # GCS answers the initiating POST with 200 even when ifGenerationMatch cannot hold,
        # and fails the final chunk with 412 (google-cloud-java#201, 2015, still so).
        self.get_bucket(bucket_name)
        session = UploadSession(
            id=secrets.token_urlsafe(24),
            bucket=bucket_name,
            name=name,
            fields=fields,
            preconditions=preconditions,
            expected_md5=expected_md5,
            expected_crc32c=expected_crc32c,
            total=total,
            writer_thread=writer_thread,
        )
        with self._lock:
            self.uploads[session.id] = session
        return session

    def get_upload(self, upload_id: str) -> UploadSession:
        """Return an open (or completed) resumable upload session, or raise 404."""
        session = self.uploads.get(upload_id)
        if session is None:
            raise _errors.upload_not_found()
        return session

    def cancel_upload(self, upload_id: str) -> None:
        """Forget a resumable upload session (the client's DELETE on the session URI)."""
        with self._lock:
            if self.uploads.pop(upload_id, None) is None:
                raise _errors.upload_not_found()

    @_notifying
    def append_upload(
        self,
        session: UploadSession,
        start: int,
        data: bytes,
        total: int | None,
        *,
        client_md5: str | None = None,
        client_crc32c: str | None = None,
    ) -> ObjectVersion | None:
        """Persist a chunk at ``start``; return the object once the upload is complete."""
        with session.lock:
            if session.result is not None:
                return session.result
            persisted = len(session.buffer)
            if start > persisted:
                raise _errors.upload_offset_gap(start, persisted)
            # Bytes below the persisted offset were already stored (a chunk resent after an
            # interrupted request): GCS ignores them ("performing resumable uploads", status
            # check: "resume from the next byte"), so does the fake.
            session.buffer += data[persisted - start :]
            if total is not None:
                if session.total is not None and session.total != total:
                    raise _errors.upload_total_changed(session.total, total)
                session.total = total
                if len(session.buffer) > total:
                    raise _errors.upload_too_long(total, len(session.buffer))
            if session.total is None or len(session.buffer) < session.total:
                return None
            data = bytes(session.buffer)
            # The final chunk's x-goog-hash and the initiating request's md5Hash / crc32c
            # metadata are both checked: either one wrong fails the upload.
            _check_checksums(data, client_md5, client_crc32c)
            version = self.insert_object(
                session.bucket,
                session.name,
                data,
                preconditions=session.preconditions,
                expected_md5=session.expected_md5,
                expected_crc32c=session.expected_crc32c,
                writer_thread=session.writer_thread,
                **session.fields,
            )
            session.result = version
            session.buffer = bytearray()
            return version

    # -- XML API multipart uploads (transfer_manager.upload_chunks_concurrently) -------------

    def start_multipart(
        self, bucket_name: str, name: str, fields: dict[str, Any], writer_thread: str
    ) -> MultipartUpload:
        """Open an XML API multipart upload."""
        self.get_bucket(bucket_name)
        upload = MultipartUpload(
            secrets.token_urlsafe(24), bucket_name, name, fields, writer_thread
        )
        with self._lock:
            self.multipart[upload.id] = upload
        return upload

    def get_multipart(self, upload_id: str) -> MultipartUpload:
        """Return an open multipart upload, or raise 404."""
        upload = self.multipart.get(upload_id)
        if upload is None:
            raise _errors.multipart_upload_not_found()
        return upload

    @_notifying
    def complete_multipart(self, upload_id: str, part_numbers: list[int]) -> ObjectVersion:
        """Join the listed parts, in order, into a new generation of the object."""
        upload = self.get_multipart(upload_id)
        with upload.lock:
            missing = [n for n in part_numbers if n not in upload.parts]
            if missing or not part_numbers or part_numbers != sorted(part_numbers):
                raise _errors.invalid_part_list()
            version = self.insert_object(
                upload.bucket,
                upload.name,
                b"".join(upload.parts[n] for n in part_numbers),
                writer_thread=upload.writer_thread,
                # The result is a composite object: a CRC32C but no MD5 (its ETag is not an
                # MD5 either). cloud.google.com/storage/docs/multipart-uploads.
                component_count=len(part_numbers),
                **upload.fields,
            )
        with self._lock:
            self.multipart.pop(upload_id, None)
        return version

    def abort_multipart(self, upload_id: str) -> None:
        """Drop a multipart upload and its parts."""
        with self._lock:
            if self.multipart.pop(upload_id, None) is None:
                raise _errors.multipart_upload_not_found()

    def get_object(
        self, bucket_name: str, name: str, generation: int | None = None
    ) -> ObjectVersion:
        """Return the live version (or the given generation) of an object, or raise 404."""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            live = bucket.live.get(name)
            if generation is None or (live is not None and live.generation == generation):
                if live is None:
                    raise _errors.object_not_found(bucket_name, name)
                return live
            for version in bucket.noncurrent.get(name, ()):
                if version.generation == generation:
                    return version
        raise _errors.object_not_found(bucket_name, name)

    @_notifying
    def delete_object(
        self,
        bucket_name: str,
        name: str,
        generation: int | None = None,
        preconditions: Preconditions = Preconditions(),
    ) -> None:
        """Delete the live version (kept as noncurrent under versioning) or one generation.

        A ``generation`` deletes that generation, the live one too: under versioning only a
        delete that names no generation makes the live version noncurrent (objects/delete:
        "Deletions are permanent if versioning is not enabled for the bucket, or if the
        generation parameter is used"; python-storage's ``bucket.delete(force=True)``
        deletes every version by its generation and expects the bucket empty, system test
        ``test_bucket_delete_force_works_with_versions``). With a soft-delete policy such a
        deletion is a soft delete on GCS (the same page).
        """
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            live = bucket.live.get(name)
            if generation is not None and (live is None or live.generation != generation):
                kept = bucket.noncurrent.get(name, [])
                match = [v for v in kept if v.generation == generation]
                if not match:
                    raise _errors.object_not_found(bucket_name, name)
                preconditions.check(match[0])
                now = self.clock.now()
                _check_not_protected(bucket, match[0], now)
                kept.remove(match[0])
                if not kept:
                    del bucket.noncurrent[name]
                soft_delete(bucket, match[0], now)
                # A noncurrent version deleted is gone for good: OBJECT_DELETE.
                self._emit(bucket, [ObjectEvent(OBJECT_DELETE, match[0], now)])
                return
            if live is None:
                raise _errors.object_not_found(bucket_name, name)
            preconditions.check(live)
            now = self.clock.now()
            archiving = bucket.versioning and generation is None
            _check_not_protected(bucket, live, now, archiving=archiving)
            del bucket.live[name]
            retired = self._retire(bucket, live, now) if archiving else None
            # [notifications] #events: with versioning the live version becomes noncurrent
            # (OBJECT_ARCHIVE, not OBJECT_DELETE); without, it is deleted (OBJECT_DELETE).
            if retired is None:
                soft_delete(bucket, live, now)
                self._emit(bucket, [ObjectEvent(OBJECT_DELETE, live, now)])
            else:
                self._emit(bucket, [ObjectEvent(OBJECT_ARCHIVE, retired, now)])

    @_notifying
    def patch_object(
        self,
        bucket_name: str,
        name: str,
        changes: Mapping[str, Any],
        *,
        generation: int | None = None,
        preconditions: Preconditions = Preconditions(),
        merge_metadata: bool = False,
        override_unlocked_retention: bool = False,
    ) -> ObjectVersion:
        """Change metadata of the live version; bumps metageneration.

        With ``merge_metadata`` (objects.patch), ``changes["metadata"]`` adds and replaces
        keys, and a ``None`` value deletes one; otherwise it replaces the whole mapping.
        ``changes["retention"]`` sets (a ``Retention``) or removes (``None``) the object's
        retention configuration, under Object Retention Lock's rules.
        Everything happens under the bucket lock, so concurrent patches lose no key.
        """
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            current = self.get_object(bucket_name, name, generation)
            preconditions.check(current)
            changes = dict(changes)
            acl_on_patch(bucket, project_number(bucket.project), changes)
            if "retention" in changes or "event_based_hold" in changes:
                _check_retention_change(
                    bucket,
                    current,
                    changes.get("retention", current.retention),
                    bool(changes.get("event_based_hold", current.event_based_hold)),
                    self.clock.now(),
                    override=override_unlocked_retention,
                )
            if isinstance(changes.get("contexts"), ContextChange):
                changes["contexts"] = changes["contexts"].apply(
                    current.contexts, self.clock.now(), merge=merge_metadata
                )
            if "metadata" in changes:
                merged = dict(current.metadata) if merge_metadata else {}
                for key, value in (changes["metadata"] or {}).items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = str(value)
                changes["metadata"] = merged
            updated = replace(
                current,
                metageneration=current.metageneration + 1,
                updated=self.clock.now(),
                **changes,
            )
            if bucket.live.get(name) is current:
                bucket.live[name] = updated
            else:
                kept = bucket.noncurrent[name]
                kept[kept.index(current)] = updated
            self._emit(bucket, [ObjectEvent(OBJECT_METADATA_UPDATE, updated, updated.updated)])
        return updated

    # -- copy, rewrite, compose ------------------------------------------------------------

    @_notifying
    def rewrite_object(
        self,
        source_bucket: str,
        source_name: str,
        dest_bucket: str,
        dest_name: str,
        *,
        fields: dict[str, Any],
        source_generation: int | None = None,
        source_preconditions: Preconditions = Preconditions(),
        preconditions: Preconditions = Preconditions(),
        token: str | None = None,
        max_bytes: int | None = None,
        writer_thread: str = "",
        source_key: str | None = None,
    ) -> tuple[RewriteJob | None, ObjectVersion | None]:
        """Copy a source version to a destination, ``max_bytes`` per call when given.

        Returns the unfinished job (its token resumes it) or the new destination version.
        ``fields`` are the destination's metadata from the request body; what it leaves out
        is taken from the source. ``source_key`` is the SHA-256 of the customer-supplied key
        the request gives for the source; the destination's is in ``fields``.
        """
        if token:
            job = self.rewrites.get(token)
            if job is None or (job.dest_bucket, job.dest_name) != (dest_bucket, dest_name):
                raise _errors.invalid_rewrite_token()
        else:
            source = self.get_object(source_bucket, source_name, source_generation)
            source_preconditions.check(source)
            _csek.check(source.key_sha256, source_key)
            self.get_bucket(dest_bucket)
            merged = {f: getattr(source, f) for f in COPIED_FIELDS}
            merged.update(fields)
            job = RewriteJob(
                token=secrets.token_urlsafe(32),
                source=source,
                dest_bucket=dest_bucket,
                dest_name=dest_name,
                fields=merged,
                preconditions=preconditions,
            )
        size = job.source.size
        max_bytes = max_bytes or self.rewrite_bytes_per_call
        step = size - job.done if max_bytes is None else max_bytes
        if job.done + step < size:
            job.done += step
            with self._lock:
                self.rewrites[job.token] = job
            return job, None
        version = self.insert_object(
            dest_bucket,
            dest_name,
            job.source.data,
            preconditions=job.preconditions,
            writer_thread=writer_thread,
            typed=False,
            **job.fields,
        )
        with self._lock:
            self.rewrites.pop(job.token, None)
        job.done = size
        return None, version

    @_notifying
    def compose_objects(
        self,
        bucket_name: str,
        dest_name: str,
        sources: list[tuple[str, int | None, int | None]],
        *,
        fields: dict[str, Any],
        preconditions: Preconditions = Preconditions(),
        writer_thread: str = "",
        key_sha256: str | None = None,
        delete_sources: bool = False,
    ) -> ObjectVersion:
        """Concatenate ``(name, generation, if_generation_match)`` sources into one object.

        ``key_sha256``: the customer-supplied key the request gives; every encrypted source
        must have been written with it, and the composite is encrypted with it.
        ``delete_sources`` (the body's ``deleteSourceObjects``) then deletes the sources
        in the same critical section, each as a delete of it would (see ``_compose_cleanup``).
        """
        if not sources:
            raise _errors.required()
        if len(sources) > _errors.MAX_COMPOSE_SOURCES:
            raise _errors.too_many_compose_sources(len(sources))
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            parts: list[ObjectVersion] = []
            for name, generation, if_generation_match in sources:
                part = self.get_object(bucket_name, name, generation)
                Preconditions(if_generation_match=if_generation_match).check(part)
                if part.key_sha256 is not None:
                    _csek.check(part.key_sha256, key_sha256)
                parts.append(part)
            if delete_sources:  # refused before anything is written, as a delete would be
                now = self.clock.now()
                for part in parts:
                    if part.name != dest_name:
                        _check_not_protected(bucket, part, now)
            # The destination has only the metadata the request gives it: GCS leaves
            # contentType unset rather than take the first source's ("the server does
            # *not* set application/octet-stream as the composed object's contentType:
            # it remains unset", google-cloud-python#5834).
            composed = self.insert_object(
                bucket_name,
                dest_name,
                b"".join(p.data for p in parts),
                preconditions=preconditions,
                writer_thread=writer_thread,
                component_count=sum(p.component_count or 1 for p in parts),
                typed=False,
                key_sha256=key_sha256,
                **fields,
            )
            if delete_sources:
                self._compose_cleanup(bucket, dest_name, parts)
            return composed

    def _compose_cleanup(self, bucket: Bucket, dest_name: str, parts: list[ObjectVersion]) -> None:
        """Delete a compose's sources (``deleteSourceObjects``; the caller holds the lock).

        python-storage's system test ``test_blob_compose_delete_source_objects`` expects the
        sources gone afterwards; Google's storage-testbench deletes each source by the
        generation composed, as here (so a versioned bucket keeps no noncurrent copy; a
        soft-delete policy keeps it soft-deleted). Guesses: each generation once, and a
        source that is also the destination stays (its new generation is the composite).
        """
        done: set[tuple[str, int]] = set()
        for part in parts:
            if part.name == dest_name or (part.name, part.generation) in done:
                continue
            done.add((part.name, part.generation))
            self.delete_object(bucket.name, part.name, part.generation)

    @_notifying
    def replace_data(
        self, bucket_name: str, name: str, data: bytes, *, generation: int | None = None
    ) -> None:
        """Swap the bytes of one version in place, keeping its hashes (damaged storage)."""
        bucket = self.get_bucket(bucket_name)
        with bucket.lock:
            current = self.get_object(bucket_name, name, generation)
            damaged = replace(current, data=data)
            if bucket.live.get(name) is current:
                bucket.live[name] = damaged
            else:
                kept = bucket.noncurrent[name]
                kept[kept.index(current)] = damaged

    def list_objects(
        self,
        bucket_name: str,
        *,
        versions: bool = False,
        prefix: str = "",
        start_offset: str = "",
        end_offset: str = "",
    ) -> list[ObjectVersion]:
        """Return the objects of a bucket sorted by name (bytes order), then generation;
        only names under ``prefix``, from ``start_offset``, below ``end_offset`` (found by
        bisection: the cost follows the range, not the bucket)."""
        bucket = self.get_bucket(bucket_name)
        live = bucket.live
        with bucket.lock:
            names = live.between(prefix, start_offset, end_offset)
            if not versions:
                return [live[name] for name in names]
            noncurrent = bucket.noncurrent
            found = [live[name] for name in names]
            for name in noncurrent.between(prefix, start_offset, end_offset):
                found.extend(noncurrent[name])
        found.sort(key=lambda v: (v.name, v.generation))
        return found

    # -- helpers -------------------------------------------------------------------------

    def _retire(
        self, bucket: Bucket, version: ObjectVersion, now: datetime
    ) -> ObjectVersion | None:
        """Keep a replaced live version as noncurrent under versioning; return it if kept."""
        if not bucket.versioning:
            return None
        retired = replace(version, time_deleted=now)
        bucket.noncurrent.setdefault(version.name, []).append(retired)
        return retired

    def _next_generation(self, now: datetime) -> int:
        # GCS generations are microsecond timestamps; strictly increasing even when the
        # clock is frozen, so every write is distinguishable.
        with self._generation_lock:
            candidate = int(now.timestamp() * 1_000_000)
            self._last_generation = max(candidate, self._last_generation + 1)
            return self._last_generation


def _check_not_protected(
    bucket: Bucket, version: ObjectVersion, now: datetime, *, archiving: bool = False
) -> None:
    """403 if a hold or retention still protects ``version`` from deletion or replacement.

    ``archiving``: ``version`` would become noncurrent, not go. An object's own retention
    allows that ([object-lock]: an object before its retain-until time "can still be made
    noncurrent"); holds and the bucket's retention policy do not.
    """
    # Holds first: GCS names the hold even when retention would also refuse.
    if version.temporary_hold:
        raise _errors.object_held(bucket.name, version.name, "Temporary")
    if version.event_based_hold:
        raise _errors.object_held(bucket.name, version.name, "Event-Based")
    until = bucket.retained_until(version, own=not archiving)
    if until is not None and now < until:
        raise _errors.object_retained(bucket.name, version.name, until)


def _write_events(
    version: ObjectVersion,
    current: ObjectVersion | None,
    retired: ObjectVersion | None,
    now: datetime,
) -> list[ObjectEvent]:
    """The notification events of writing ``version`` over ``current`` (if any)."""
    if current is None:
        return [ObjectEvent(OBJECT_FINALIZE, version, now)]
    # [notifications] (see _notifications) #events: a replaced live version is
    # OBJECT_ARCHIVE with versioning (it becomes noncurrent), else OBJECT_DELETE;
    # #attributes: the two sides of an overwrite name each other's generation.
    return [
        ObjectEvent(OBJECT_FINALIZE, version, now, overwrote_generation=current.generation),
        ObjectEvent(
            OBJECT_DELETE if retired is None else OBJECT_ARCHIVE,
            retired or current,
            now,
            overwritten_by_generation=version.generation,
        ),
    ]


def _check_new_retention(bucket: Bucket, retention: Retention, now: datetime) -> None:
    """400 unless ``retention`` may be set on an object of ``bucket`` at ``now``."""
    # The order of the checks follows [zig-fake]: the bucket first, then the time.
    if not bucket.object_retention:
        raise _errors.object_retention_not_enabled()
    if retention.retain_until <= now:
        raise _errors.retain_until_in_the_past()
    if retention.retain_until > now + MAX_RETENTION:
        raise _errors.retain_until_too_far()


def _check_retention_change(
    bucket: Bucket,
    current: ObjectVersion,
    retention: Retention | None,
    event_based_hold: bool,
    now: datetime,
    *,
    override: bool,
) -> None:
    """Refuse a patch whose resulting retention Object Retention Lock does not allow.

    [object-lock]: an Unlocked configuration can be removed, shortened or locked only with
    ``overrideUnlockedRetention``; a Locked one can only be lengthened, by anyone.
    """
    old = current.retention
    if retention is None:
        if old is not None and old.mode == "Locked":
            raise _errors.locked_retention_unchangeable()
        if old is not None and not override:
            raise _errors.unlocked_retention_override_required()
        return
    if retention != old:
        _check_new_retention(bucket, retention, now)
    if event_based_hold:
        raise _errors.retention_with_event_based_hold()
    if old is None:
        return
    shorter = retention.retain_until < old.retain_until
    if old.mode == "Locked":
        if retention.mode != "Locked" or shorter:
            raise _errors.locked_retention_unchangeable()
    elif (shorter or retention.mode == "Locked") and not override:
        raise _errors.unlocked_retention_override_required()


def _check_checksums(
    data: bytes, expected_md5: str | None, expected_crc32c: str | None
) -> tuple[str, str]:
    """Return the base64 MD5 and CRC32C of ``data``; 400 if a client-sent one differs."""
    # binascii and google_crc32c.value() directly: the base64 module and the Checksum
    # object are wrappers that cost more than hashing a small object.
    md5 = binascii.b2a_base64(hashlib.md5(data).digest(), newline=False).decode()
    crc = binascii.b2a_base64(google_crc32c.value(data).to_bytes(4, "big"), newline=False).decode()
    if expected_md5 is not None and expected_md5 != md5:
        raise _errors.md5_mismatch(expected_md5, md5)
    if expected_crc32c is not None and expected_crc32c != crc:
        raise _errors.crc32c_mismatch(expected_crc32c, crc)
    return md5, crc


@functools.lru_cache(maxsize=256)  # every insert asks (its ACL): 1.8 µs a call uncached
def project_number(project: str) -> int:
    """A stable, made-up number for ``project`` (GCS returns one; clients only display it)."""
    return int(sum(ord(c) * 31**i for i, c in enumerate(project)) % 10**12)


def service_agent(project: str) -> str:
    """The Cloud Storage service agent of ``project``, which publishes its notifications."""
    # cloud.google.com/storage/docs/projects#service-agents: service-PROJECT_NUMBER@...
    return f"service-{project_number(project)}@gs-project-accounts.iam.gserviceaccount.com"
