"""What a request may write, as data: the writable fields of buckets and objects, and the
JSON API's enumerated query parameters.

GCS refuses a request that gives a field a value of the wrong type or shape with a 400,
and changes nothing. The fake checks every JSON body against these schemas in one place,
the JSON API's handlers, before the backend sees it (the XML API's headers and form fields
go through the object schema too), so nothing ill-typed is ever stored: a customTime of
``"yesterday"`` once went in, and every later call on its bucket failed in lifecycle
evaluation. The backend can then trust what it reads.

Field types follow the JSON API's resource references (cloud.google.com/storage/docs/
json_api/v1/buckets, .../objects): strings, booleans, integers (int64 ones may come as
decimal strings, as the API writes them), RFC 3339 times, dates, enums, objects, arrays
and maps. Fields the schemas do not name (output-only ones such as ``etag``, which
``update()`` sends back, and ones the fake does not know) are passed through unchecked,
as GCS ignores output-only fields in a request body.

Which answer GCS gives for which bad value is only partly on record; each error
constructor in :mod:`._errors` says what is verified and what is a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._acl import OBJECT_PREDEFINED

__all__ = [
    "BUCKET",
    "COMPOSE",
    "NOTIFICATION",
    "OBJECT",
    "PARAMETERS",
    "check_parameters",
    "parse_date",
    "parse_time",
]


class Kind(Protocol):
    """One field's type: ``check`` returns the value as stored, or raises GCS's 400."""

    def check(self, value: Any, name: str) -> Any:
        """``value`` (never ``None``) if it fits, possibly in canonical form; ``name`` is
        the field's own name, for errors that name it."""
        ...


@dataclass(frozen=True)
class Str:
    """A JSON string."""

    def check(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise _errors.invalid_value()
        return value


@dataclass(frozen=True)
class Bool:
    """A JSON ``true`` or ``false``; ``"true"`` and ``1`` are not booleans."""

    def check(self, value: Any, name: str) -> Any:
        if not isinstance(value, bool):
            raise _errors.invalid_value()
        return value


# ASCII digits only: "٣" is a digit to \d, str.isdigit() and int(), not to GCS.
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Int:
    """An integer within ``bits`` (signed) and the bounds given.

    A JSON number, or a decimal string: the JSON API writes int64 fields as strings
    (``"retentionPeriod": "3600"``) and takes either.
    """

    bits: int = 64
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any, name: str) -> Any:
        if isinstance(value, bool):
            raise _errors.invalid_value()
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():  # 1e3; never inf or nan
            number = value = int(value)
        elif isinstance(value, str) and len(value) <= 20 and _INTEGER.fullmatch(value):
            number = int(value)
        else:
            raise _errors.invalid_value()
        low = -(2 ** (self.bits - 1)) if self.minimum is None else self.minimum
        high = 2 ** (self.bits - 1) - 1 if self.maximum is None else self.maximum
        if not low <= number <= high:
            raise _errors.invalid_value()
        return value


@dataclass(frozen=True)
class Enum:
    """One of ``values``; with ``fold_case``, in any case, stored as spelt in ``values``."""

    values: tuple[str, ...]
    fold_case: bool = False
    _folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", {v.lower(): v for v in self.values})

    def check(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise _errors.invalid_value()
        if value in self.values:
            return value
        if self.fold_case and value.lower() in self._folded:
            return self._folded[value.lower()]
        raise _errors.invalid_enum_value(value)


@dataclass(frozen=True)
class Time:
    """An RFC 3339 date-time with a zone (``2024-05-01T12:00:00.5Z``), kept as sent."""

    def check(self, value: Any, name: str) -> Any:
        if parse_time(value) is None:
            raise _errors.invalid_timestamp(name)
        return value


@dataclass(frozen=True)
class Date:
    """An RFC 3339 full-date (``2024-05-01``): lifecycle conditions' ``createdBefore``."""

    def check(self, value: Any, name: str) -> Any:
        if parse_date(value) is None:
            raise _errors.invalid_value()
        return value


@dataclass(frozen=True)
class Arr:
    """A JSON array of ``item``s (no ``null`` among them)."""

    item: Kind

    def check(self, value: Any, name: str) -> Any:
        if not isinstance(value, list):
            raise _errors.invalid_value()
        checked = []
        for item in value:
            if item is None:
                raise _errors.invalid_value()
            checked.append(self.item.check(item, name))
        return checked


@dataclass(frozen=True)
class Map:
    """A JSON object of free keys (labels, custom metadata); a ``null`` value stays, as
    a patch's way of removing that key, where ``nullable``."""

    value: Kind
    nullable: bool = True

    def check(self, value: Any, name: str) -> Any:
        if not isinstance(value, dict):
            raise _errors.invalid_value()
        if not self.nullable and None in value.values():
            raise _errors.invalid_value()
        return {k: None if v is None else self.value.check(v, k) for k, v in value.items()}


@dataclass(frozen=True)
class Obj:
    """A JSON object with named fields; others pass through unchecked.

    A ``null`` field is no value at all and is dropped, except with ``keep_null`` (a
    resource's top level), where it tells a patch to clear that field. A field in
    ``required`` must be there and not ``null``.
    """

    fields: Mapping[str, Kind]
    required: tuple[str, ...] = ()
    keep_null: bool = False

    def check(self, value: Any, name: str = "") -> Any:
        if not isinstance(value, dict):
            raise _errors.invalid_value()
        checked: dict[str, Any] = {}
        for key, item in value.items():
            kind = self.fields.get(key)
            if item is None:
                if self.keep_null:
                    checked[key] = None
            elif kind is None:
                checked[key] = item
            else:
                checked[key] = kind.check(item, key)
        for key in self.required:
            if checked.get(key) is None:
                raise _errors.required()
        return checked


# -- times ------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 date-time with a zone as an aware UTC datetime (nanoseconds cut to
    microseconds), or ``None`` if ``text`` is not one."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in "Zz" else zone
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{(fraction or '0')[:6]:0<6}{zone}")
        return moment.astimezone(timezone.utc)
    except ValueError:  # 2024-02-30, 25:00:00, +24:00: the shape of a time, not a time
        return None
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is before the first UTC datetime
        return None


def parse_date(text: object) -> date | None:
    """An RFC 3339 full-date, or ``None`` if ``text`` is not one."""
    if not isinstance(text, str) or _FULL_DATE.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# -- the resources ----------------------------------------------------------------------------

#: Storage classes, current and legacy (cloud.google.com/storage/docs/storage-classes).
#: Taken in any case and stored upper-case, as the client libraries send them: whether
#: GCS itself folds case is not on record, and refusing "nearline" would be the worse guess.
STORAGE_CLASS = Enum(
    (
        "STANDARD",
        "NEARLINE",
        "COLDLINE",
        "ARCHIVE",
        "MULTI_REGIONAL",
        "REGIONAL",
        "DURABLE_REDUCED_AVAILABILITY",
    ),
    fold_case=True,
)

_STR, _BOOL, _TIME = Str(), Bool(), Time()
_STRINGS = Arr(_STR)
_INT32 = Int(32, minimum=0)
_INT64 = Int(64, minimum=0)

#: An access-control entry: buckets' ``acl``, ``defaultObjectAcl`` and objects' ``acl``.
ACCESS_CONTROL = Obj(
    {
        "bucket": _STR,
        "domain": _STR,
        "email": _STR,
        "entity": _STR,
        "entityId": _STR,
        "etag": _STR,
        "generation": Int(64),
        "id": _STR,
        "kind": _STR,
        "object": _STR,
        "projectTeam": Obj({"projectNumber": _STR, "team": _STR}),
        "role": _STR,
        "selfLink": _STR,
    }
)

LIFECYCLE_RULE = Obj(
    {
        "action": Obj(
            {
                "type": Enum(("Delete", "SetStorageClass", "AbortIncompleteMultipartUpload")),
                "storageClass": STORAGE_CLASS,
            },
            required=("type",),
        ),
        "condition": Obj(
            {
                "age": _INT32,
                "createdBefore": Date(),
                "customTimeBefore": Date(),
                "daysSinceCustomTime": _INT32,
                "daysSinceNoncurrentTime": _INT32,
                "isLive": _BOOL,
                "matchesPattern": _STR,
                "matchesPrefix": _STRINGS,
                "matchesStorageClass": Arr(STORAGE_CLASS),
                "matchesSuffix": _STRINGS,
                "noncurrentTimeBefore": Date(),
                "numNewerVersions": _INT32,
            }
        ),
    },
    required=("action",),
)

_ENABLED = Obj({"enabled": _BOOL, "lockedTime": _TIME})
#: An encryption enforcement configuration (bucket resource, encryption.*Config).
_ENFORCEMENT = Obj(
    {"restrictionMode": Enum(("NotRestricted", "FullyRestricted")), "effectiveTime": _TIME}
)

#: The bucket resource's writable fields (json_api/v1/buckets).
BUCKET = Obj(
    {
        "name": _STR,
        "location": _STR,
        "storageClass": STORAGE_CLASS,
        "labels": Map(_STR),
        "versioning": Obj({"enabled": _BOOL}),
        "billing": Obj({"requesterPays": _BOOL}),
        "lifecycle": Obj({"rule": Arr(LIFECYCLE_RULE)}),
        "cors": Arr(
            Obj(
                {
                    "maxAgeSeconds": Int(32),
                    "method": _STRINGS,
                    "origin": _STRINGS,
                    "responseHeader": _STRINGS,
                }
            )
        ),
        "acl": Arr(ACCESS_CONTROL),
        "defaultObjectAcl": Arr(ACCESS_CONTROL),
        "defaultEventBasedHold": _BOOL,
        "encryption": Obj(
            {
                "defaultKmsKeyName": _STR,
                "googleManagedEncryptionEnforcementConfig": _ENFORCEMENT,
                "customerManagedEncryptionEnforcementConfig": _ENFORCEMENT,
                "customerSuppliedEncryptionEnforcementConfig": _ENFORCEMENT,
            }
        ),
        "iamConfiguration": Obj(
            {
                "bucketPolicyOnly": _ENABLED,
                "uniformBucketLevelAccess": _ENABLED,
                "publicAccessPrevention": Enum(("inherited", "enforced", "unspecified")),
            }
        ),
        "logging": Obj({"logBucket": _STR, "logObjectPrefix": _STR}),
        # At most 3,155,760,000 seconds (cloud.google.com/storage/quotas, Bucket Lock).
        "retentionPolicy": Obj(
            {
                "retentionPeriod": Int(64, minimum=0, maximum=3_155_760_000),
                "effectiveTime": _TIME,
                "isLocked": _BOOL,
            }
        ),
        "rpo": Enum(("DEFAULT", "ASYNC_TURBO")),
        "softDeletePolicy": Obj({"retentionDurationSeconds": _INT64, "effectiveTime": _TIME}),
        "website": Obj({"mainPageSuffix": _STR, "notFoundPage": _STR}),
        "autoclass": Obj(
            {
                "enabled": _BOOL,
                "toggleTime": _TIME,
                "terminalStorageClass": STORAGE_CLASS,
                "terminalStorageClassUpdateTime": _TIME,
            }
        ),
        "customPlacementConfig": Obj({"dataLocations": _STRINGS}),
        "hierarchicalNamespace": Obj({"enabled": _BOOL}),
        "ipFilter": Obj(
            {
                "mode": Enum(("Enabled", "Disabled")),
                "publicNetworkSource": Obj({"allowedIpCidrRanges": _STRINGS}),
                "vpcNetworkSources": Arr(Obj({"network": _STR, "allowedIpCidrRanges": _STRINGS})),
                "allowCrossOrgVpcs": _BOOL,
                "allowAllServiceAgentAccess": _BOOL,
            }
        ),
    },
    keep_null=True,
)

#: The object resource's writable fields (json_api/v1/objects). ``retention`` has its own
#: rules and wording (``_resources.retention_field``).
OBJECT = Obj(
    {
        "name": _STR,
        "contentType": _STR,
        "contentEncoding": _STR,
        "contentDisposition": _STR,
        "contentLanguage": _STR,
        "cacheControl": _STR,
        "customTime": _TIME,
        "storageClass": STORAGE_CLASS,
        "metadata": Map(_STR),
        "temporaryHold": _BOOL,
        "eventBasedHold": _BOOL,
        "acl": Arr(ACCESS_CONTROL),
        "md5Hash": _STR,
        "crc32c": _STR,
        "kmsKeyName": _STR,
        # Object contexts: a null context, or a null value, removes that key in a patch;
        # the times a client sends back are output-only and ignored (_contexts).
        "contexts": Obj({"custom": Map(Obj({"value": _STR}, keep_null=True))}, keep_null=True),
    },
    keep_null=True,
)

#: objects.compose's request body (json_api/v1/objects/compose).
COMPOSE = Obj(
    {
        "destination": OBJECT,
        "sourceObjects": Arr(
            Obj(
                {
                    "name": _STR,
                    "generation": Int(64),
                    "objectPreconditions": Obj({"ifGenerationMatch": Int(64)}),
                },
                required=("name",),
            )
        ),
        "deleteSourceObjects": _BOOL,
    }
)


#: notifications.insert's body (json_api/v1/notifications). ``topic`` and
#: ``payload_format`` are left to ``_notifications.parse_config``, whose refusals of them
#: are GCS's own words.
NOTIFICATION = Obj(
    {
        "event_types": _STRINGS,
        "custom_attributes": Map(_STR, nullable=False),
        "object_name_prefix": _STR,
    }
)


# -- query parameters -------------------------------------------------------------------------


#: The JSON API's enumerated parameters and their values (the methods' references). The
#: predefined ACLs of buckets and of objects differ; a value right for either passes.
PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "projection": ("full", "noAcl"),
    "uploadType": ("media", "multipart", "resumable"),
    "predefinedAcl": (*OBJECT_PREDEFINED, "publicReadWrite"),
    "predefinedDefaultObjectAcl": OBJECT_PREDEFINED,
    "destinationPredefinedAcl": OBJECT_PREDEFINED,
}


#: Parameters a request gives once per value: testIamPermissions' ``permissions``.
MULTI_VALUED = frozenset({"permissions"})


def check_parameters(query: Mapping[str, str], repeated: frozenset[str]) -> None:
    """Refuse a JSON API request whose query names a parameter twice, or gives an
    enumerated one a value it does not take."""
    repeated -= MULTI_VALUED
    if repeated:
        raise _errors.repeated_parameter(min(repeated))
    if len(query) == 1:  # most requests: uploadType=multipart, alt=media, a page token
        for given, text in query.items():
            choices = PARAMETERS.get(given)
            if choices is not None and text not in choices:
                raise _errors.invalid_parameter_value(given, text, choices)
        return
    for name, allowed in PARAMETERS.items():
        value = query.get(name)
        if value is not None and value not in allowed:
            raise _errors.invalid_parameter_value(name, value, allowed)
