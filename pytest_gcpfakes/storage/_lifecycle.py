"""Object Lifecycle Management: ``Delete`` and ``SetStorageClass`` rules on the fakes' clock.

GCS evaluates rules asynchronously, "usually within 24 hours" of a condition becoming true.
The fake applies them at once, whenever the bucket is next touched (every backend call goes
through ``StorageBackend.get_bucket``), so a test that advances ``fakes.clock`` or moves a
frozen clock forward sees the outcome on its next call. Conditions and their meaning from
cloud.google.com/storage/docs/lifecycle#conditions; all conditions of a rule must hold.

Each action returns the object event Pub/Sub notifications report for it: a deletion is
OBJECT_DELETE, or OBJECT_ARCHIVE for a live version kept as noncurrent under versioning
(cloud.google.com/storage/docs/pubsub-notifications#events: OBJECT_DELETE "includes
objects ... deleted as part of the bucket's lifecycle configuration"). A storage class
change is OBJECT_METADATA_UPDATE: a guess backed by practice (the public
gcp-storage-class-match-notifier watches metadataUpdate events to see lifecycle class
changes); the docs do not say.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage._notifications import (
    OBJECT_ARCHIVE,
    OBJECT_DELETE,
    OBJECT_METADATA_UPDATE,
    ObjectEvent,
)
from pytest_gcpfakes.storage._schema import parse_date, parse_time
from pytest_gcpfakes.storage._soft_delete import soft_delete

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._backend import Bucket, ObjectVersion

_DAY = 86_400.0


def apply(bucket: Bucket, now: datetime) -> list[ObjectEvent]:
    """Apply the bucket's lifecycle rules at ``now`` (the caller holds the bucket lock).

    Returns the object events of what was done, for notifications.
    """
    rules = [
        rule
        for rule in (bucket.extra.get("lifecycle") or {}).get("rule") or []
        if (rule.get("action") or {}).get("type") in ("Delete", "SetStorageClass")
    ]
    events: list[ObjectEvent] = []
    if not rules:
        return events
    for name in sorted(set(bucket.live) | set(bucket.noncurrent)):
        for rule in rules:
            live = bucket.live.get(name)
            kept = bucket.noncurrent.get(name, [])
            versions = ([live] if live is not None else []) + list(kept)
            for version in versions:
                newer = sum(1 for v in versions if v.generation > version.generation)
                is_live = version is live
                if _matches(rule.get("condition") or {}, version, is_live, newer, now):
                    event = _act(bucket, rule["action"], version, is_live, now)
                    if event is not None:
                        events.append(event)
    return events


def _matches(
    condition: dict[str, Any], version: ObjectVersion, is_live: bool, newer: int, now: datetime
) -> bool:
    def days_since(moment: datetime | None) -> float | None:
        return None if moment is None else (now - moment).total_seconds() / _DAY

    checks: list[bool] = []
    if "age" in condition:
        age = (now - version.time_created).total_seconds() / _DAY
        checks.append(age >= float(condition["age"]))
    if "createdBefore" in condition:
        checks.append(version.time_created < _midnight(condition["createdBefore"]))
    if "isLive" in condition:
        checks.append(bool(condition["isLive"]) == is_live)
    if "numNewerVersions" in condition:
        checks.append(not is_live and newer >= int(condition["numNewerVersions"]))
    if "daysSinceNoncurrentTime" in condition:
        since = days_since(version.time_deleted)
        checks.append(since is not None and since >= float(condition["daysSinceNoncurrentTime"]))
    if "noncurrentTimeBefore" in condition:
        gone = version.time_deleted
        checks.append(gone is not None and gone < _midnight(condition["noncurrentTimeBefore"]))
    # Rules and custom times were checked (``_schema``) before they were stored; one
    # written around the JSON API (``fake_storage.put(custom_time=...)``) that does not
    # parse is no time at all, rather than an error on every later call on the bucket.
    custom = parse_time(version.custom_time)
    if "daysSinceCustomTime" in condition:
        since = days_since(custom)
        checks.append(since is not None and since >= float(condition["daysSinceCustomTime"]))
    if "customTimeBefore" in condition:
        checks.append(custom is not None and custom < _midnight(condition["customTimeBefore"]))
    if "matchesPrefix" in condition:
        checks.append(any(version.name.startswith(p) for p in condition["matchesPrefix"]))
    if "matchesSuffix" in condition:
        checks.append(any(version.name.endswith(s) for s in condition["matchesSuffix"]))
    if "matchesStorageClass" in condition:
        checks.append(version.storage_class in condition["matchesStorageClass"])
    # A rule without a condition never applies (GCS requires at least one).
    return bool(checks) and all(checks)


def _act(
    bucket: Bucket, action: dict[str, Any], version: ObjectVersion, is_live: bool, now: datetime
) -> ObjectEvent | None:
    if action.get("type") == "SetStorageClass":
        target = str(action.get("storageClass") or version.storage_class)
        if target == version.storage_class:
            return None
        changed = replace(version, storage_class=target)
        _swap(bucket, version, is_live, changed)
        return ObjectEvent(OBJECT_METADATA_UPDATE, changed, now)
    # Lifecycle never removes what a hold, the retention policy or the object's own retention
    # protects (lifecycle docs: "Object Lifecycle Management does not ... delete objects ...
    # under retention/hold"; object-lock: not before the retain-until time).
    until = bucket.retained_until(version)
    if version.temporary_hold or version.event_based_hold or (until and now < until):
        return None
    if is_live:
        del bucket.live[version.name]
        if bucket.versioning:
            # Deleting a live version of a versioned object makes it noncurrent.
            retired = replace(version, time_deleted=now)
            bucket.noncurrent.setdefault(version.name, []).append(retired)
            return ObjectEvent(OBJECT_ARCHIVE, retired, now)
        soft_delete(bucket, version, now)
        return ObjectEvent(OBJECT_DELETE, version, now)
    kept = bucket.noncurrent[version.name]
    kept.remove(version)
    if not kept:
        del bucket.noncurrent[version.name]
    soft_delete(bucket, version, now)
    return ObjectEvent(OBJECT_DELETE, version, now)


def _swap(bucket: Bucket, old: ObjectVersion, is_live: bool, new: ObjectVersion) -> None:
    if is_live:
        bucket.live[old.name] = new
    else:
        kept = bucket.noncurrent[old.name]
        kept[kept.index(old)] = new


def _midnight(day: str) -> datetime:
    """The start (UTC) of a condition's date, ``_schema.Date``-checked when stored."""
    parsed = parse_date(day)
    if parsed is None:
        return datetime.min.replace(tzinfo=timezone.utc)
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=timezone.utc)
