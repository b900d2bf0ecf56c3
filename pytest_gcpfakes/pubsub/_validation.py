"""The request validation rules of the Pub/Sub service, with its error classes and wording.

Every rule names its source: a Google doc, a real-service error quoted in a public issue
("real service, <where>"), Google's emulator ("emulator 0.8.20 says ..."), or "guess" where
neither shows the wording. Where the emulator and the real service differ, the real service
wins; each difference is marked "Emulator differs" (collected into docs/fidelity.md).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

from google.api_core import exceptions

__all__ = [
    "DEFAULT_ACK_DEADLINE_SECONDS",
    "DEFAULT_MAX_DELIVERY_ATTEMPTS",
    "MAX_ATTRIBUTES_PER_MESSAGE",
    "MAX_ATTRIBUTE_KEY_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_LABELS",
    "MAX_MESSAGES_PER_PUBLISH",
    "MAX_ORDERING_KEY_BYTES",
    "MAX_PUBLISH_PAYLOAD_BYTES",
    "MAX_PUBLISH_REQUEST_BYTES",
    "PublishMessage",
    "parse_project_path",
    "parse_schema_path",
    "parse_snapshot_path",
    "parse_subscription_path",
    "parse_topic_path",
    "validate_ack_deadline",
    "validate_labels",
    "validate_max_delivery_attempts",
    "validate_message_retention",
    "validate_modify_ack_deadline",
    "validate_publish_request",
]

PublishMessage = tuple[bytes, Mapping[str, str], str]
"""One message of a publish request: (data, attributes, ordering_key)."""

# ---------------------------------------------------------------------------------------------
# Resource names
# ---------------------------------------------------------------------------------------------

# Source: https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names and the proto docs
# of Topic.name / Subscription.name: start with a letter, then letters, digits, `-_.~+%`,
# 3-255 characters, must not start with "goog". Emulator 0.8.20 agrees on the id rules
# (checked: "ab", 256 chars, "1abc", "_abc", "a b", "ab!", non-ASCII, "googx" rejected;
# 3 and 255 chars and "a-_.~+%b" accepted). Its "goog" test is case-sensitive ("Goog1" is
# accepted); the docs say nothing about case, so we follow the emulator.
_RESOURCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")

# Source: real service. Every bad name, malformed path or bad id alike, gets this one message:
# "Invalid resource name given (name=projects/food-interpreter/topics/). Refer to
# https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information."
# (Go client, 2025); same text for "name=random" (google-cloud-java#3334), an id starting with
# a digit (google-cloud-node#1694), an empty project "projects//topics/x" (iotaledger sandbox
# #12) and "projects/p/schemas/" (pulumi-google-native#67). Older servers linked
# .../docs/admin#resource_names. The field in parentheses is "name" even for
# PublishRequest.topic; a dead-letter policy says "dead_letter_topic=" (goblet#399).
# Emulator differs: it says "Invalid [topics] name: (name=...)" ("[subscriptions]",
# "[snapshots]", "[schemas]") for both malformed paths and bad ids, it accepts an empty
# project ("projects//topics/abc"), and for a bad project path (ListTopics("someproj"))
# it fails with UNKNOWN "Application error processing RPC".
_RESOURCE_NAMES_HELP = (
    "Refer to https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names"
    " for more information."
)


def _invalid_name(name: str, field: str) -> exceptions.InvalidArgument:
    return exceptions.InvalidArgument(
        f"Invalid resource name given ({field}={name}). {_RESOURCE_NAMES_HELP}"
    )


def _is_valid_resource_id(resource_id: str) -> bool:
    return _RESOURCE_ID.fullmatch(resource_id) is not None and not resource_id.startswith("goog")


@functools.lru_cache(maxsize=4096)  # names repeat on every call; parsing is pure
def _parse_path(name: str, collection: str, field: str) -> tuple[str, str]:
    parts = name.split("/")
    if (
        len(parts) != 4
        or parts[0] != "projects"
        or not parts[1]
        or parts[2] != collection
        or not _is_valid_resource_id(parts[3])
    ):
        raise _invalid_name(name, field)
    return parts[1], parts[3]


def parse_project_path(name: str, *, field: str = "name") -> str:
    """Return the project id of ``projects/{project}``."""
    # Guess: the real wording for a bad project path is not on record; we use the
    # resource-name message above, the one the service gives for every other bad name.
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
        raise _invalid_name(name, field)
    return parts[1]


def parse_topic_path(name: str, *, field: str = "name") -> tuple[str, str]:
    """Return (project, topic id) of ``projects/{project}/topics/{topic}``."""
    return _parse_path(name, "topics", field)


def parse_subscription_path(name: str, *, field: str = "name") -> tuple[str, str]:
    """Return (project, subscription id) of ``projects/{project}/subscriptions/{sub}``."""
    return _parse_path(name, "subscriptions", field)


def parse_snapshot_path(name: str, *, field: str = "name") -> tuple[str, str]:
    """Return (project, snapshot id) of ``projects/{project}/snapshots/{snapshot}``."""
    return _parse_path(name, "snapshots", field)


def parse_schema_path(name: str, *, field: str = "name") -> tuple[str, str]:
    """Return (project, schema id) of ``projects/{project}/schemas/{schema}``."""
    return _parse_path(name, "schemas", field)


# ---------------------------------------------------------------------------------------------
# Publish
# ---------------------------------------------------------------------------------------------

# Source: https://cloud.google.com/pubsub/quotas#resource_limits ("Publish request: 10 MB
# total size, 1,000 messages"; "Attributes per message: 100"; "Attribute key size: 256
# bytes"; "Attribute value size: 1024 bytes"; "Ordering key size: 1 KB"). The 10 MB is
# decimal on the serialized PublishRequest: google-cloud-pubsub 2.44 caps a batch at
# `_SERVER_PUBLISH_MAX_BYTES = 10 * 1000 * 1000` (publisher/_batch/thread.py), and the real
# service answers "The value for request_size is too large. You passed 10159812 in the
# request, but the maximum value is 10000000." (google-cloud-python#5898, #7108; the 2018
# server swapped the two values in the text, fixed since). Above 10 MiB the request is
# refused earlier, by the front end, with "Request payload size exceeds the limit: 10485760
# bytes." (hedwig-rust#18, apache/beam#23022; java-pubsub#2106 describes both layers).
# Emulator differs: it accepted a 10,485,903-byte request and only timed out at 11 MiB.
MAX_PUBLISH_REQUEST_BYTES = 10_000_000
MAX_PUBLISH_PAYLOAD_BYTES = 10 * 1024 * 1024
MAX_MESSAGES_PER_PUBLISH = 1000
MAX_ATTRIBUTES_PER_MESSAGE = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_ORDERING_KEY_BYTES = 1024

_QUOTAS_HELP = "Refer to https://cloud.google.com/pubsub/quotas for more information."

# Google's own client libraries put OpenTelemetry context into "googclient_" + the W3C
# trace-context header name (google-cloud-pubsub 2.44, open_telemetry/context_propagation.py).
# The service must accept these or tracing would break publishing, so they are exempt from
# the "goog" rule below (an inference, not a recorded answer).
_CLIENT_LIBRARY_ATTRIBUTE_KEYS = frozenset({"googclient_traceparent", "googclient_tracestate"})


def _too_large(what: str, passed: int, maximum: int) -> exceptions.InvalidArgument:
    return exceptions.InvalidArgument(
        f"The value for {what} is too large. You passed {passed} in the request,"
        f" but the maximum value is {maximum}."
    )


def validate_publish_request(messages: Sequence[PublishMessage], request_size: int) -> None:
    """Check a publish request against the service's limits.

    ``request_size`` is the size of the serialized ``PublishRequest`` in bytes.
    """
    # The front end refuses an oversized payload before the service reads it (source above).
    if request_size > MAX_PUBLISH_PAYLOAD_BYTES:
        raise exceptions.InvalidArgument(
            f"Request payload size exceeds the limit: {MAX_PUBLISH_PAYLOAD_BYTES} bytes."
        )
    # Guess: the real wording for zero messages is not on record; we follow the service's
    # "The value for ... is too small" pattern (see max_delivery_attempts). The client
    # library never sends an empty request. Emulator differs: "No messages to publish".
    if not messages:
        raise exceptions.InvalidArgument(
            "The value for message_count is too small. You passed 0 in the request,"
            " but the minimum value is 1."
        )
    # Source: real service, "400 The value for message_count is too large. You passed 1001 in
    # the request, but the maximum value is 1000." (quoted in a public repo's README).
    # Emulator differs: "Too many messages to publish".
    if len(messages) > MAX_MESSAGES_PER_PUBLISH:
        raise _too_large("message_count", len(messages), MAX_MESSAGES_PER_PUBLISH)
    if request_size > MAX_PUBLISH_REQUEST_BYTES:
        raise _too_large("request_size", request_size, MAX_PUBLISH_REQUEST_BYTES)
    for data, attributes, ordering_key in messages:
        if attributes or ordering_key or not data:  # data alone has nothing else to check
            _validate_message(data, attributes, ordering_key)
    # Source: real service, FAILED_PRECONDITION "In a single publish request, all messages
    # must have no ordering key or they must all have the same ordering key. [code=539b]"
    # (yoshidan/google-cloud-rust#226, 2024). Emulator differs: accepts mixed keys.
    if len(messages) > 1 and len({ordering_key for _, _, ordering_key in messages}) > 1:
        raise exceptions.FailedPrecondition(
            "In a single publish request, all messages must have no ordering key or they"
            " must all have the same ordering key. [code=539b]"
        )


def _validate_message(data: bytes, attributes: Mapping[str, str], ordering_key: str) -> None:
    # Source: real service, "One or more messages in the publish request is empty. Each
    # message must contain either non-empty data, or at least one attribute."
    # (snowplow/snowbridge#34, 2021); an ordering key alone does not count.
    # Emulator differs: "Some messages are empty".
    if not data and not attributes:
        raise exceptions.InvalidArgument(
            "One or more messages in the publish request is empty. Each message must contain"
            " either non-empty data, or at least one attribute."
        )
    # Guess: the wording for more than 100 attributes is not on record; we follow the
    # service's "The value for ... is too large" pattern. Emulator differs: accepts 101.
    if len(attributes) > MAX_ATTRIBUTES_PER_MESSAGE:
        raise _too_large("attribute_count", len(attributes), MAX_ATTRIBUTES_PER_MESSAGE)
    for key, value in attributes.items():
        _validate_attribute(key, value)
    # Guess: the wording for a long ordering key is not on record; we model it on the
    # attribute messages below. Emulator differs: accepts 1025 bytes.
    key_bytes = len(ordering_key.encode())
    if key_bytes > MAX_ORDERING_KEY_BYTES:
        raise exceptions.InvalidArgument(
            f"The ordering key in the request is too long. The length is {key_bytes}"
            f" characters, but the maximum allowed is {MAX_ORDERING_KEY_BYTES}. {_QUOTAS_HELP}"
        )


def _validate_attribute(key: str, value: str) -> None:
    # Source: real service, "The request contains an attribute key that is not valid
    # (key=googclient_deliveryattempt). Attribute keys must be non-empty and must not begin
    # with 'goog' (case-insensitive)." (GoogleCloudPlatform/spring-cloud-gcp#776, 2021).
    # Emulator differs: accepts "", "goog", "Goog", "googclient_x".
    if not key or (key.lower().startswith("goog") and key not in _CLIENT_LIBRARY_ATTRIBUTE_KEYS):
        raise exceptions.InvalidArgument(
            f"The request contains an attribute key that is not valid (key={key}). Attribute"
            " keys must be non-empty and must not begin with 'goog' (case-insensitive)."
        )
    # Source: real service, 'The attribute "" in the request has a key that is too long. The
    # length is 257 characters, but the maximum allowed is 256. Refer to
    # https://cloud.google.com/pubsub/quotas for more information.' (googleapis/java-pubsub
    # #2312, 2025). The limit counts UTF-8 bytes though the text says "characters" (same
    # issue). That report shows "" where the key would be; whether the service withholds
    # long keys or the reporter elided it is unknown: we print "" as recorded.
    # Emulator differs: accepts 257 bytes.
    key_bytes = len(key.encode())
    if key_bytes > MAX_ATTRIBUTE_KEY_BYTES:
        raise exceptions.InvalidArgument(
            'The attribute "" in the request has a key that is too long. The length is'
            f" {key_bytes} characters, but the maximum allowed is {MAX_ATTRIBUTE_KEY_BYTES}."
            f" {_QUOTAS_HELP}"
        )
    # Source: real service, 'The attribute "app_id" in the request has a value that is too
    # long. The length is 1043 characters, but the maximum allowed is 1024. Refer to
    # https://cloud.google.com/pubsub/quotas for more information.' (snowplow/enrich#485,
    # 2021; blockchain-etl/ethereum-etl#472, 2024); bytes, not characters (apache/beam#23022).
    # Emulator differs: accepts values of any length (100,000 bytes checked).
    value_bytes = len(value.encode())
    if value_bytes > MAX_ATTRIBUTE_VALUE_BYTES:
        raise exceptions.InvalidArgument(
            f'The attribute "{key}" in the request has a value that is too long. The length'
            f" is {value_bytes} characters, but the maximum allowed is"
            f" {MAX_ATTRIBUTE_VALUE_BYTES}. {_QUOTAS_HELP}"
        )


# ---------------------------------------------------------------------------------------------
# Subscriptions
# ---------------------------------------------------------------------------------------------

# Source: Subscription.ack_deadline_seconds docs ("The minimum custom deadline you can
# specify is 10 seconds. The maximum ... is 600 seconds (10 minutes). If this parameter is
# 0, a default value of 10 seconds is used."); emulator 0.8.20 turns 0 into 10.
DEFAULT_ACK_DEADLINE_SECONDS = 10
_MIN_ACK_DEADLINE_SECONDS = 10
_MAX_ACK_DEADLINE_SECONDS = 600


def validate_ack_deadline(seconds: int) -> int:
    """Check a subscription's ``ack_deadline_seconds``; return it, with 0 meaning 10."""
    if seconds == 0:
        return DEFAULT_ACK_DEADLINE_SECONDS
    # Source: real service rejects -30, 5 and 1000 in CreateSubscription with a message
    # starting "Invalid ack deadline given" (google-cloud-powershell integration tests);
    # the rest is a guess modelled on ModifyAckDeadline's recorded text below.
    # Emulator differs: accepts 1-9 as given and says "ack_deadline_secs out of bounds".
    if not _MIN_ACK_DEADLINE_SECONDS <= seconds <= _MAX_ACK_DEADLINE_SECONDS:
        raise exceptions.InvalidArgument(
            f"Invalid ack deadline given (ack_deadline={seconds}). The ack deadline must be"
            f" between {_MIN_ACK_DEADLINE_SECONDS} and {_MAX_ACK_DEADLINE_SECONDS} seconds."
        )
    return seconds


def validate_modify_ack_deadline(seconds: int) -> None:
    """Check the ``ack_deadline_seconds`` of a ModifyAckDeadline request (0 nacks)."""
    # Source: ModifyAckDeadlineRequest docs ("The minimum deadline you can specify is 0
    # seconds. The maximum deadline you can specify is 600 seconds"); real service,
    # "INVALID_ARGUMENT: Invalid ack deadline given (ack_deadline=715). The ack deadline must
    # be between 0 and 600 seconds." (commercetools/fs2-queues#141, 2025).
    # Emulator differs: accepts 601 and says "Ack deadline cannot be negative" for -1.
    if not 0 <= seconds <= _MAX_ACK_DEADLINE_SECONDS:
        raise exceptions.InvalidArgument(
            f"Invalid ack deadline given (ack_deadline={seconds}). The ack deadline must be"
            f" between 0 and {_MAX_ACK_DEADLINE_SECONDS} seconds."
        )


# Source: DeadLetterPolicy.max_delivery_attempts docs ("The value must be between 5 and 100
# ... If this parameter is 0, a default value of 5 is used."); emulator 0.8.20 turns 0 into 5.
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
_MIN_MAX_DELIVERY_ATTEMPTS = 5
_MAX_MAX_DELIVERY_ATTEMPTS = 100


def validate_max_delivery_attempts(attempts: int) -> int:
    """Check a dead-letter policy's ``max_delivery_attempts``; return it, with 0 meaning 5."""
    if attempts == 0:
        return DEFAULT_MAX_DELIVERY_ATTEMPTS
    # Source: emulator 0.8.20 says OUT_OF_RANGE "The value for max_delivery_attempts is too
    # small. You passed 4 in the request, but the minimum value is 5." (and "too large ...
    # maximum value is 100." for 101). Not recorded from the real service, but it is the
    # real service's "The value for ... is too large" pattern (see message_count), so the
    # emulator likely copies it.
    if attempts < _MIN_MAX_DELIVERY_ATTEMPTS:
        raise exceptions.OutOfRange(
            f"The value for max_delivery_attempts is too small. You passed {attempts} in the"
            f" request, but the minimum value is {_MIN_MAX_DELIVERY_ATTEMPTS}."
        )
    if attempts > _MAX_MAX_DELIVERY_ATTEMPTS:
        raise exceptions.OutOfRange(
            f"The value for max_delivery_attempts is too large. You passed {attempts} in the"
            f" request, but the maximum value is {_MAX_MAX_DELIVERY_ATTEMPTS}."
        )
    return attempts


# Source: https://cloud.google.com/pubsub/docs/subscription-properties (subscription
# retention: minimum 10 minutes, maximum 7 days) and Topic.message_retention_duration docs
# (topics: 10 minutes to 31 days); emulator 0.8.20 enforces the same bounds to the second
# (599 s, 604,801 s and 31 d + 0.5 s rejected; 600 s, 7 d and 31 d accepted).
_MIN_RETENTION_SECONDS = 10 * 60
_MAX_SUBSCRIPTION_RETENTION_SECONDS = 7 * 24 * 3600
_MAX_TOPIC_RETENTION_SECONDS = 31 * 24 * 3600
_NANOS_PER_SECOND = 1_000_000_000


def validate_message_retention(seconds: int, nanos: int = 0, *, topic: bool = False) -> None:
    """Check a ``message_retention_duration`` (a protobuf Duration) of a subscription or topic."""
    total = seconds * _NANOS_PER_SECOND + nanos
    maximum = _MAX_TOPIC_RETENTION_SECONDS if topic else _MAX_SUBSCRIPTION_RETENTION_SECONDS
    # Source: real service answers with the "The value for ... is out of bounds. You passed
    # ... in the request, but the value must be between ... and ..." pattern; for retention:
    # "... You passed 1m in the request ..." (a public Terraform module copying the
    # service's text) and "... You passed 9m59s in the request, but the value must be
    # between 10m and 744h." for a topic (a third-party fake's recording). Durations are in
    # absl::FormatDuration style. The subscription bound "168h" is a guess from that pattern.
    # Emulator differs: "message_retention_duration out of bounds".
    if not _MIN_RETENTION_SECONDS * _NANOS_PER_SECOND <= total <= maximum * _NANOS_PER_SECOND:
        raise exceptions.InvalidArgument(
            "The value for message retention duration is out of bounds. You passed"
            f" {_format_duration(total)} in the request, but the value must be between"
            f" {_format_duration(_MIN_RETENTION_SECONDS * _NANOS_PER_SECOND)} and"
            f" {_format_duration(maximum * _NANOS_PER_SECOND)}."
        )


def _format_duration(nanos: int) -> str:
    """Format like absl::FormatDuration: ``10m``, ``9m59.5s``, ``744h``, ``500ms``, ``0``."""
    if nanos == 0:
        return "0"
    if nanos < 0:
        return "-" + _format_duration(-nanos)
    if nanos < _NANOS_PER_SECOND:
        for unit, size in (("ms", 1_000_000), ("us", 1_000)):
            if nanos >= size:
                return _decimal(nanos, size) + unit
        return f"{nanos}ns"
    hours, rest = divmod(nanos, 3600 * _NANOS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * _NANOS_PER_SECOND)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (_decimal(rest, _NANOS_PER_SECOND) + "s" if rest else "")


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------

# Source: https://cloud.google.com/resource-manager/docs/labels-overview#requirements (at most
# 64 labels; keys 1-63 characters, start with a lowercase letter or an international
# character; keys and values use lowercase letters, digits, "_" and "-", international
# characters allowed; values may be empty). The service's own regular expressions: real
# service, 'You have passed an invalid argument to the service (argument=Invalid labels:
# Invalid field "labels"; key "Team" does not conform to regular expression
# "[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}"; first character "T" is not a non-uppercased
# letter (Unicode character class Ll or Lo)).' (hashicorp/terraform-provider-google#22246,
# 2025, CreateTopic); values: [\p{Ll}\p{Lo}\p{N}_-]{0,63} (speakeasy-api/gram#3256).
# Emulator differs: validates no labels at all (upper case, 64 characters, 65 labels, dots
# and empty keys all accepted).
MAX_LABELS = 64
_MAX_LABEL_CHARS = 63
_LABEL_KEY_PATTERN = r"[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}"
_LABEL_VALUE_PATTERN = r"[\p{Ll}\p{Lo}\p{N}_-]{0,63}"
_LABELS_ERROR = (
    "You have passed an invalid argument to the service (argument=Invalid labels:"
    ' Invalid field "labels"; '
)


def _is_label_letter(char: str) -> bool:
    return unicodedata.category(char) in ("Ll", "Lo")


def _is_label_char(char: str) -> bool:
    return _is_label_letter(char) or unicodedata.category(char).startswith("N") or char in "_-"


def validate_labels(labels: Mapping[str, str]) -> None:
    """Check the labels of a topic, subscription or snapshot against GCP's label rules."""
    # Guess: the wording for more than 64 labels is not on record.
    if len(labels) > MAX_LABELS:
        raise exceptions.InvalidArgument(
            f"{_LABELS_ERROR}at most {MAX_LABELS} labels are allowed, got {len(labels)})."
        )
    # Sorted so that the label named in the error does not depend on dict order.
    for key in sorted(labels):
        value = labels[key]
        key_error = (
            f'{_LABELS_ERROR}key "{key}" does not conform to regular expression'
            f' "{_LABEL_KEY_PATTERN}"'
        )
        if key and not _is_label_letter(key[0]):
            raise exceptions.InvalidArgument(
                f'{key_error}; first character "{key[0]}" is not a non-uppercased letter'
                " (Unicode character class Ll or Lo))."
            )
        # Guess: an empty key, a later bad character or a long key surely match the same
        # pattern; the detail the service appends for them is not on record, so we stop at
        # the part it shares with the recorded message.
        if not key or len(key) > _MAX_LABEL_CHARS or not all(map(_is_label_char, key)):
            raise exceptions.InvalidArgument(f"{key_error})")
        # Guess: the wording for a bad value is not on record; modelled on the key message.
        if len(value) > _MAX_LABEL_CHARS or not all(map(_is_label_char, value)):
            raise exceptions.InvalidArgument(
                f'{_LABELS_ERROR}value "{value}" of key "{key}" does not conform to regular'
                f' expression "{_LABEL_VALUE_PATTERN}")'
            )
