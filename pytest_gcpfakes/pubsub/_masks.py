"""Update masks as Pub/Sub reads them (UpdateTopic, UpdateSubscription, UpdateSnapshot).

Which paths a mask may name is derived, not listed, so that a google-cloud-pubsub with new
fields is served as it is: a path names a field of the resource, or a field of a field
that is a message, as the installed protos define them, less what the protos' field
behaviours (output only, input only, immutable, identifier) and GCP's documentation rule
out. What GCP answers for the rest:

- an empty mask: "The update_mask in the UpdateTopicRequest must be set, and must contain
  a non-empty paths list." (real service, quoted in pulumi/pulumi-gcp#1162);
- a path it does not know, camelCase ones included (a mask sent over gRPC is taken
  literally): "Invalid update_mask provided in the UpdateTopicRequest:
  ingestion_data_source_settings.aws_kinesis.gcp_service_account is not a known Topic
  field. Note that field paths must be of the form 'schema_settings' rather than
  'schemaSetings'." (real service, googleapis/google-cloud-cpp#13560; the emulator says the
  same, and for subscriptions "… 'push_config' rather than 'pushConfig'.");
- a field it documents as fixed at creation: "Invalid update_mask provided in the
  UpdateSubscriptionRequest: the 'filter' field in the Subscription is not mutable." (real
  service, floci-io/floci-gcp#112).

A path replaces what it names, as Google's update methods do: a scalar is set, or reset
when the request leaves it unset; a message, a list or a map is replaced whole, or cleared
when the request leaves it unset. ``schema_settings.first_revision_id`` changes that field
alone and leaves the rest of ``schema_settings`` as it was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core import exceptions

from pytest_gcpfakes._internals.pubsub import field_behaviours

_Message = TypeVar("_Message")


@dataclass(frozen=True)
class _Resource:
    """What GCP's documentation adds to the protos for one resource's updates."""

    example: tuple[str, str]  # the path pair GCP's "not a known field" sentence gives
    immutable: frozenset[str] = frozenset()  # refused as "not mutable"
    whole_only: frozenset[str] = frozenset()  # fields whose sub-fields no path may name


_RESOURCES = {
    "Topic": _Resource(
        ("schema_settings", "schemaSetings"),  # sic: GCP's own sentence
        # GCP refuses paths below it ("…aws_kinesis.gcp_service_account is not a known
        # Topic field", google-cloud-cpp#13560); the emulator refuses "…aws_kinesis" too.
        whole_only=frozenset({"ingestion_data_source_settings"}),
    ),
    "Subscription": _Resource(
        ("push_config", "pushConfig"),
        # UpdateSubscription's reference: "certain properties of a subscription, such as
        # its topic, are not modifiable"; the filtering page: "The filter is an immutable
        # property"; Terraform's provider marks enable_message_ordering immutable too; the
        # emulator refuses name, topic, enable_message_ordering and detached as not mutable.
        immutable=frozenset({"name", "topic", "filter", "enable_message_ordering", "detached"}),
    ),
    # UpdateSnapshot has no recorded refusals (the emulator does not implement it): a
    # snapshot's name and topic are fixed by CreateSnapshot; the wording follows the other
    # two resources (a guess).
    "Snapshot": _Resource(("expire_time", "expireTime"), immutable=frozenset({"name", "topic"})),
}

# Behaviours that put a field out of an update mask's reach ("not a known field", as the
# emulator answers for state, satisfies_pzs, tags and Topic.name).
_NOT_UPDATABLE = frozenset({"OUTPUT_ONLY", "INPUT_ONLY", "IMMUTABLE", "IDENTIFIER"})


@dataclass(frozen=True)
class _Field:
    behaviours: frozenset[str]
    message: type | None  # the proto-plus class of a singular message field a path may enter


@functools.cache
def _fields(message_class: type) -> dict[str, _Field]:
    """The fields of a proto-plus message class, from its descriptor and its docs."""
    behaviours = field_behaviours(message_class)
    fields = {}
    for name, field in message_class.meta.fields.items():  # type: ignore[attr-defined]
        child = field.message
        # A path goes on only into a singular proto-plus message: not a list, a map or a
        # well-known type such as Duration (a plain protobuf class here, and a scalar in
        # JSON).
        enterable = child is not None and not field.repeated and hasattr(child, "meta")
        fields[name] = _Field(behaviours.get(name, frozenset()), child if enterable else None)
    return fields


def _check(request_name: str, resource: str, message_class: type, path: str) -> None:
    rules = _RESOURCES[resource]
    segments = path.split(".")
    if segments[0] in rules.immutable:
        raise exceptions.InvalidArgument(
            f"Invalid update_mask provided in the {request_name}: the '{path}' field in the "
            f"{resource} is not mutable."
        )
    current: type | None = message_class
    for depth, name in enumerate(segments):
        field = _fields(current).get(name) if current is not None else None
        if (
            field is None
            or field.behaviours & _NOT_UPDATABLE
            or (depth > 0 and segments[0] in rules.whole_only)
        ):
            good, bad = rules.example
            raise exceptions.InvalidArgument(
                f"Invalid update_mask provided in the {request_name}: {path} is not a known "
                f"{resource} field. Note that field paths must be of the form '{good}' rather "
                f"than '{bad}'."
            )
        current = field.message


def apply(request_name: str, current: Any, changes: Any, paths: list[str]) -> Any:
    """Return a copy of ``current`` with the ``paths`` of ``changes`` applied.

    ``current`` and ``changes`` are of the same proto-plus class (``Topic``,
    ``Subscription`` or ``Snapshot``); ``request_name`` names the request in the errors.
    Every path is checked before any is applied.
    """
    message_class = type(current)
    if not paths:
        raise exceptions.InvalidArgument(
            f"The update_mask in the {request_name} must be set, and must contain a "
            "non-empty paths list."
        )
    for path in paths:
        _check(request_name, message_class.__name__, message_class, path)
    source = message_class.pb(changes)
    target = type(source)()
    target.CopyFrom(message_class.pb(current))
    for path in paths:
        _apply_path(target, source, path.split("."))
    return message_class.wrap(target)


def touches(paths: list[str], field: str) -> bool:
    """Whether any of ``paths`` is ``field`` or one of its sub-fields."""
    return any(path == field or path.startswith(f"{field}.") for path in paths)


def _apply_path(target: Any, source: Any, segments: list[str]) -> None:
    *parents, leaf = segments
    given: Any = source
    for name in parents:
        given = getattr(given, name) if given is not None and given.HasField(name) else None
    into = target
    for name in parents:
        if given is None and not into.HasField(name):
            return  # clearing a field of a message that is not there: nothing to do
        into = getattr(into, name)
    field = into.DESCRIPTOR.fields_by_name[leaf]
    if given is None:
        into.ClearField(leaf)
    elif _is_repeated(field):  # lists and maps: replaced whole
        into.ClearField(leaf)
        getattr(into, leaf).MergeFrom(getattr(given, leaf))
    elif field.message_type is not None:
        into.ClearField(leaf)
        if given.HasField(leaf):
            getattr(into, leaf).CopyFrom(getattr(given, leaf))
    elif field.has_presence and not given.HasField(leaf):
        into.ClearField(leaf)
    else:
        setattr(into, leaf, getattr(given, leaf))


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)  # protobuf 5.28+
    if repeated is None:
        return bool(field.label == field.LABEL_REPEATED)
    return bool(repeated)


def as_stored(message: _Message) -> _Message:
    """A copy of a created resource as GCP keeps it: without the output-only fields a
    request may carry (GCP fills them in itself) or the input-only ones (``tags``: GCP
    binds them and never returns them)."""
    message_class: Any = type(message)
    raw = type(message_class.pb(message))()
    raw.CopyFrom(message_class.pb(message))
    for name, field in _fields(message_class).items():
        if field.behaviours & {"OUTPUT_ONLY", "INPUT_ONLY"}:
            raw.ClearField(name)
    copy: _Message = message_class.wrap(raw)
    return copy
