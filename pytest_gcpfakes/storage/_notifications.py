"""Pub/Sub notifications for Cloud Storage: configurations, object events, their messages.

Knows nothing of Pub/Sub: the backend records which configuration an object event matches,
and whoever owns the backend (the ``fake_storage`` handle) publishes the messages.

Sources, cited below by tag:

- [notifications] cloud.google.com/storage/docs/pubsub-notifications: event types
  (#events), message attributes (#attributes) and payload (#payload); configurations are
  identified by an integer, and creating or deleting one increments the bucket's
  metageneration; at most 10 configurations may fire for one event type.
- [notifications-resource] cloud.google.com/storage/docs/json_api/v1/notifications: the
  resource's fields (``topic``, ``event_types``, ``custom_attributes``, ``payload_format``,
  ``object_name_prefix``, ``etag``, ``selfLink``, ``kind``).
- [zig-measured] a public Zig GCS client's test fake, "as measured on 2026-10-01": a new
  configuration's id is the bucket's metageneration; a topic is taken as
  ``//pubsub.googleapis.com/projects/P/topics/T`` or ``projects/P/topics/T`` and answered
  in the first form; event types come back in GCS's order, unknown ones dropped; at most 5
  custom attributes; ``event_types`` and ``custom_attributes`` are left out when empty.
- [samples] notification messages kept in public repositories' tests, e.g.
  ``notificationConfig: projects/_/buckets/B/notificationConfigs/94``,
  ``eventTime: 2021-12-21T17:30:59.761138Z`` (microseconds), a ``JSON_API_V1`` payload that
  is the object resource as indented JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _errors

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._backend import ObjectVersion

# [notifications] #events, in the order GCS answers them ([zig-measured]).
OBJECT_FINALIZE = "OBJECT_FINALIZE"
OBJECT_METADATA_UPDATE = "OBJECT_METADATA_UPDATE"
OBJECT_DELETE = "OBJECT_DELETE"
OBJECT_ARCHIVE = "OBJECT_ARCHIVE"
EVENT_TYPES = (OBJECT_FINALIZE, OBJECT_METADATA_UPDATE, OBJECT_DELETE, OBJECT_ARCHIVE)

PAYLOAD_FORMATS = ("JSON_API_V1", "NONE")
MAX_OVERLAPPING = 10  # [notifications]: "up to 10 ... set to trigger for a specific event"
MAX_CUSTOM_ATTRIBUTES = 5  # [zig-measured]
_MAX_KEY_CHARS = 256  # [zig-measured]
_MAX_VALUE_CHARS = 1024  # [zig-measured]

_TOPIC_PREFIX = "//pubsub.googleapis.com/"
# Pub/Sub's topic-name rule (cloud.google.com/pubsub/docs/create-topic#resource_names):
# a letter first, 3 to 255 of letters, digits and - _ . ~ + %, not starting with "goog".
_TOPIC_PATH = re.compile(r"projects/([^/]+)/topics/([A-Za-z][\w\-.~+%]{2,254})")


@dataclass(frozen=True)
class NotificationConfig:
    """One notification configuration of a bucket, as GCS keeps it."""

    id: str
    topic: str  # //pubsub.googleapis.com/projects/P/topics/T
    payload_format: str
    event_types: tuple[str, ...] = ()  # empty: every event type
    object_name_prefix: str | None = None
    custom_attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def topic_path(self) -> str:
        """The topic as Pub/Sub names it: ``projects/P/topics/T``."""
        return pubsub_path(self.topic)

    def covers(self, event_type: str) -> bool:
        """Tell whether this configuration fires for ``event_type`` (prefix aside)."""
        return not self.event_types or event_type in self.event_types

    def matches(self, event: ObjectEvent) -> bool:
        """Tell whether ``event`` makes this configuration publish a message."""
        prefix = self.object_name_prefix
        return self.covers(event.event_type) and (
            prefix is None or event.version.name.startswith(prefix)
        )


@dataclass(frozen=True)
class ObjectEvent:
    """A change to one object generation that notifications report."""

    event_type: str
    version: ObjectVersion  # the generation the event is about, as it is after the event
    time: datetime
    overwrote_generation: int | None = None
    overwritten_by_generation: int | None = None


@dataclass(frozen=True)
class Notification:
    """An object event matched to one configuration: one message to publish."""

    config: NotificationConfig
    event: ObjectEvent
    #: Links' base of the request that caused the event (``None``: no request did).
    base_url: str | None = None

    def message(
        self, render: Callable[[ObjectVersion], dict[str, Any]]
    ) -> tuple[bytes, dict[str, str]]:
        """Return the message's data and attributes; ``render`` makes the object resource."""
        event, config = self.event, self.config
        version = event.version
        # Custom attributes first, so that GCS's own attributes win a clash (a guess: the
        # docs do not say).
        attributes = dict(config.custom_attributes)
        # [notifications] #attributes: names and meanings. notificationConfig is the full
        # resource name "projects/_/buckets/BUCKET/notificationConfigs/ID" ([samples]).
        attributes.update(
            notificationConfig=(
                f"projects/_/buckets/{version.bucket}/notificationConfigs/{config.id}"
            ),
            eventType=event.event_type,
            payloadFormat=config.payload_format,
            bucketId=version.bucket,
            objectId=version.name,
            objectGeneration=str(version.generation),
            eventTime=rfc3339_micros(event.time),
        )
        # overwroteGeneration: on OBJECT_FINALIZE, the generation this one replaced.
        # overwrittenByGeneration: on OBJECT_DELETE / OBJECT_ARCHIVE, the generation that
        # replaced this one. Each appears only in the case of an overwrite.
        if event.overwrote_generation is not None:
            attributes["overwroteGeneration"] = str(event.overwrote_generation)
        if event.overwritten_by_generation is not None:
            attributes["overwrittenByGeneration"] = str(event.overwritten_by_generation)
        if config.payload_format == "NONE":
            return b"", attributes
        # JSON_API_V1: the object's JSON API resource, indented as GCS sends it ([samples]).
        return json.dumps(render(version), indent=2).encode(), attributes


@dataclass(frozen=True)
class UndeliveredNotification:
    """A message the fake could not publish, and why."""

    topic: str  # projects/P/topics/T
    data: bytes
    attributes: Mapping[str, str]
    reason: str


def parse_config(body: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``notifications.insert`` body; return the configuration's fields but its id."""
    payload_format = body.get("payload_format")
    if payload_format not in PAYLOAD_FORMATS:
        raise _errors.payload_format_required()
    topic = normalize_topic(body.get("topic"))
    attributes = body.get("custom_attributes") or {}
    if not isinstance(attributes, Mapping):
        raise _errors.invalid_argument("Invalid value for custom_attributes.")
    if len(attributes) > MAX_CUSTOM_ATTRIBUTES:
        raise _errors.too_many_custom_attributes(len(attributes))
    custom: dict[str, str] = {}
    for key, value in attributes.items():
        key, value = str(key), str(value)
        if not key:
            raise _errors.custom_attribute_key_empty()
        if len(key) > _MAX_KEY_CHARS:
            raise _errors.custom_attribute_key_too_long(key)
        if len(value) > _MAX_VALUE_CHARS:
            raise _errors.custom_attribute_value_too_long(value)
        custom[key] = value
    asked = body.get("event_types") or []
    if isinstance(asked, str) or not isinstance(asked, list):
        raise _errors.invalid_argument("Invalid value for event_types.")
    # GCS keeps the types it knows, in its own order, and drops the rest ([zig-measured]).
    event_types = tuple(t for t in EVENT_TYPES if t in asked)
    prefix = body.get("object_name_prefix")
    return {
        "topic": topic,
        "payload_format": payload_format,
        "event_types": event_types,
        "object_name_prefix": None if prefix is None else str(prefix),
        "custom_attributes": custom,
    }


def normalize_topic(topic: Any) -> str:
    """Return ``//pubsub.googleapis.com/projects/P/topics/T`` or raise GCS's 400."""
    text = str(topic or "")
    path = text[len(_TOPIC_PREFIX) :] if text.startswith(_TOPIC_PREFIX) else text
    match = _TOPIC_PATH.fullmatch(path)
    if match is None or match.group(2).startswith("goog"):
        raise _errors.invalid_topic()
    return _TOPIC_PREFIX + path


def pubsub_path(topic: str) -> str:
    """``projects/P/topics/T`` for ``//pubsub.googleapis.com/projects/P/topics/T``."""
    return topic.removeprefix(_TOPIC_PREFIX)


def rfc3339_micros(moment: datetime) -> str:
    """``2021-12-21T17:30:59.761138Z``: UTC with microseconds, as GCS writes eventTime."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
