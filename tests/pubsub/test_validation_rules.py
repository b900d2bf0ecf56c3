"""The Pub/Sub service's validation rules: error class and full message at each limit."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from google.api_core import exceptions

from pytest_gcpfakes.pubsub._validation import (
    PublishMessage,
    parse_project_path,
    parse_schema_path,
    parse_snapshot_path,
    parse_subscription_path,
    parse_topic_path,
    validate_ack_deadline,
    validate_labels,
    validate_max_delivery_attempts,
    validate_message_retention,
    validate_modify_ack_deadline,
    validate_publish_request,
)

HELP = (
    "Refer to https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names"
    " for more information."
)
QUOTAS = "Refer to https://cloud.google.com/pubsub/quotas for more information."
LABELS = (
    "You have passed an invalid argument to the service (argument=Invalid labels:"
    ' Invalid field "labels"; '
)
KEY_PATTERN = r"[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}"
VALUE_PATTERN = r"[\p{Ll}\p{Lo}\p{N}_-]{0,63}"


def invalid_name(name: str, field: str = "name") -> str:
    return f"Invalid resource name given ({field}={name}). {HELP}"


def assert_error(
    excinfo: pytest.ExceptionInfo[exceptions.GoogleAPICallError],
    cls: type[exceptions.GoogleAPICallError],
    message: str,
) -> None:
    assert type(excinfo.value) is cls
    assert excinfo.value.message == message


def publish(*messages: PublishMessage, request_size: int = 100) -> None:
    validate_publish_request(list(messages), request_size)


def message(
    data: bytes = b"x", attributes: Mapping[str, str] | None = None, ordering_key: str = ""
) -> PublishMessage:
    return (data, attributes or {}, ordering_key)


# --- resource names ---------------------------------------------------------------------------


@pytest.mark.parametrize("topic_id", ["abc", "a" * 255, "A12", "a-_.~+%b", "Goog1", "xgoog"])
def test_valid_topic_path_parses_into_project_and_topic_id(topic_id: str) -> None:
    assert parse_topic_path(f"projects/my-proj/topics/{topic_id}") == ("my-proj", topic_id)


@pytest.mark.parametrize("topic_id", ["ab", "a" * 256, "1abc", "_abc", "a b", "ab!", "ab/", "aé1"])
def test_topic_id_breaking_the_naming_rules_is_invalid_argument(topic_id: str) -> None:
    name = f"projects/p/topics/{topic_id}"
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse_topic_path(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


@pytest.mark.parametrize("topic_id", ["goog", "googx", "goog-topic"])
def test_topic_id_starting_with_goog_is_invalid_argument(topic_id: str) -> None:
    name = f"projects/p/topics/{topic_id}"
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse_topic_path(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "abc",
        "topics/abc",
        "projects/p/topics/",
        "projects/p/topics",
        "projects//topics/abc",
        "projects/p/topic/abc",
        "projects/p/subscriptions/abc",
        "projects/p/topics/abc/extra",
        "/projects/p/topics/abc",
    ],
)
def test_malformed_topic_path_is_invalid_argument(name: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse_topic_path(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


def test_invalid_name_error_names_the_request_field() -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse_topic_path("", field="dead_letter_topic")
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name("", "dead_letter_topic"))


PARSERS: list[tuple[Callable[[str], tuple[str, str]], str]] = [
    (parse_subscription_path, "subscriptions"),
    (parse_snapshot_path, "snapshots"),
    (parse_schema_path, "schemas"),
]


@pytest.mark.parametrize(("parse", "collection"), PARSERS)
def test_valid_path_of_each_collection_parses_into_project_and_id(
    parse: Callable[[str], tuple[str, str]], collection: str
) -> None:
    assert parse(f"projects/p/{collection}/my-{collection}") == ("p", f"my-{collection}")


@pytest.mark.parametrize(("parse", "collection"), PARSERS)
@pytest.mark.parametrize("resource_id", ["ab", "googx", "1abc", "a" * 256])
def test_bad_id_in_each_collection_is_invalid_argument(
    parse: Callable[[str], tuple[str, str]], collection: str, resource_id: str
) -> None:
    name = f"projects/p/{collection}/{resource_id}"
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


@pytest.mark.parametrize(("parse", "collection"), PARSERS)
@pytest.mark.parametrize("template", ["{c}/abc", "projects/p/{c}/", "projects/p/topics/abc"])
def test_malformed_path_in_each_collection_is_invalid_argument(
    parse: Callable[[str], tuple[str, str]], collection: str, template: str
) -> None:
    name = template.format(c=collection)
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


def test_project_path_parses_into_project_id() -> None:
    assert parse_project_path("projects/my-proj") == "my-proj"


@pytest.mark.parametrize(
    "name", ["", "my-proj", "projects", "projects/", "projects/p/", "projects/p/topics/abc"]
)
def test_malformed_project_path_is_invalid_argument(name: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        parse_project_path(name)
    assert_error(excinfo, exceptions.InvalidArgument, invalid_name(name))


# --- publish: request ---------------------------------------------------------------------------


@pytest.mark.parametrize("request_size", [1, 9_999_999, 10_000_000])
def test_publish_request_of_at_most_10_mb_is_accepted(request_size: int) -> None:
    publish(message(), request_size=request_size)


@pytest.mark.parametrize("request_size", [10_000_001, 10_485_760])
def test_publish_request_over_10_mb_is_invalid_argument(request_size: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(), request_size=request_size)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The value for request_size is too large. You passed {request_size} in the request,"
        " but the maximum value is 10000000.",
    )


@pytest.mark.parametrize("request_size", [10_485_761, 20_000_000])
def test_publish_request_over_10_mib_is_refused_as_an_oversized_payload(request_size: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(), request_size=request_size)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        "Request payload size exceeds the limit: 10485760 bytes.",
    )


def test_publish_request_without_messages_is_invalid_argument() -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish()
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        "The value for message_count is too small. You passed 0 in the request,"
        " but the minimum value is 1.",
    )


@pytest.mark.parametrize("count", [1, 999, 1000])
def test_publish_request_of_at_most_1000_messages_is_accepted(count: int) -> None:
    publish(*[message()] * count)


@pytest.mark.parametrize("count", [1001, 5000])
def test_publish_request_over_1000_messages_is_invalid_argument(count: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(*[message()] * count)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The value for message_count is too large. You passed {count} in the request,"
        " but the maximum value is 1000.",
    )


def test_messages_sharing_one_ordering_key_are_accepted() -> None:
    publish(message(ordering_key="k"), message(b"y", ordering_key="k"))


@pytest.mark.parametrize("keys", [("a", "b"), ("a", ""), ("", "a")])
def test_messages_with_different_ordering_keys_are_failed_precondition(
    keys: tuple[str, str],
) -> None:
    with pytest.raises(exceptions.FailedPrecondition) as excinfo:
        publish(*(message(ordering_key=key) for key in keys))
    assert_error(
        excinfo,
        exceptions.FailedPrecondition,
        "In a single publish request, all messages must have no ordering key or they must all"
        " have the same ordering key. [code=539b]",
    )


# --- publish: messages --------------------------------------------------------------------------

EMPTY_MESSAGE = (
    "One or more messages in the publish request is empty. Each message must contain either"
    " non-empty data, or at least one attribute."
)


@pytest.mark.parametrize(
    ("data", "attributes"), [(b"x", {}), (b"", {"k": ""}), (b"\x00", {"k": "v"})]
)
def test_message_with_data_or_an_attribute_is_accepted(
    data: bytes, attributes: dict[str, str]
) -> None:
    publish(message(data, attributes))


@pytest.mark.parametrize("ordering_key", ["", "key"])
def test_message_without_data_and_attributes_is_invalid_argument(ordering_key: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(b"", {}, ordering_key))
    assert_error(excinfo, exceptions.InvalidArgument, EMPTY_MESSAGE)


def test_every_message_of_the_request_is_checked() -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(), message(b""))
    assert_error(excinfo, exceptions.InvalidArgument, EMPTY_MESSAGE)


@pytest.mark.parametrize("count", [99, 100])
def test_message_with_at_most_100_attributes_is_accepted(count: int) -> None:
    publish(message(attributes={f"k{i}": "v" for i in range(count)}))


@pytest.mark.parametrize("count", [101, 200])
def test_message_with_over_100_attributes_is_invalid_argument(count: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(attributes={f"k{i}": "v" for i in range(count)}))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The value for attribute_count is too large. You passed {count} in the request,"
        " but the maximum value is 100.",
    )


@pytest.mark.parametrize("key", ["k" * 255, "k" * 256, "é" * 128])
def test_attribute_key_of_at_most_256_bytes_is_accepted(key: str) -> None:
    publish(message(attributes={key: "v"}))


@pytest.mark.parametrize(
    ("key", "size"), [("k" * 257, 257), ("a" + "é" * 128, 257), ("é" * 129, 258)]
)
def test_attribute_key_over_256_bytes_is_invalid_argument(key: str, size: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(attributes={key: "v"}))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'The attribute "" in the request has a key that is too long. The length is {size}'
        f" characters, but the maximum allowed is 256. {QUOTAS}",
    )


@pytest.mark.parametrize("key", ["goog", "googx", "Goog", "GOOGx", "googclient_deliveryattempt"])
def test_attribute_key_starting_with_goog_in_any_case_is_invalid_argument(key: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(attributes={key: "v"}))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The request contains an attribute key that is not valid (key={key}). Attribute keys"
        " must be non-empty and must not begin with 'goog' (case-insensitive).",
    )


def test_empty_attribute_key_is_invalid_argument() -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(attributes={"": "v"}))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        "The request contains an attribute key that is not valid (key=). Attribute keys"
        " must be non-empty and must not begin with 'goog' (case-insensitive).",
    )


@pytest.mark.parametrize("key", ["goo", "xgoog", "go_og"])
def test_attribute_key_merely_containing_goog_is_accepted(key: str) -> None:
    publish(message(attributes={key: "v"}))


@pytest.mark.parametrize("key", ["googclient_traceparent", "googclient_tracestate"])
def test_trace_context_attributes_of_googles_client_libraries_are_accepted(key: str) -> None:
    publish(message(attributes={key: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}))


@pytest.mark.parametrize("value", ["", "v" * 1023, "v" * 1024, "é" * 512])
def test_attribute_value_of_at_most_1024_bytes_is_accepted(value: str) -> None:
    publish(message(attributes={"k": value}))


@pytest.mark.parametrize(
    ("value", "size"), [("v" * 1025, 1025), ("é" * 513, 1026), ("v" * 100_000, 100_000)]
)
def test_attribute_value_over_1024_bytes_is_invalid_argument(value: str, size: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(attributes={"app_id": value}))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'The attribute "app_id" in the request has a value that is too long. The length is'
        f" {size} characters, but the maximum allowed is 1024. {QUOTAS}",
    )


@pytest.mark.parametrize("ordering_key", ["k" * 1023, "k" * 1024, "é" * 512])
def test_ordering_key_of_at_most_1024_bytes_is_accepted(ordering_key: str) -> None:
    publish(message(ordering_key=ordering_key))


@pytest.mark.parametrize(("ordering_key", "size"), [("k" * 1025, 1025), ("é" * 513, 1026)])
def test_ordering_key_over_1024_bytes_is_invalid_argument(ordering_key: str, size: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        publish(message(ordering_key=ordering_key))
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The ordering key in the request is too long. The length is {size} characters,"
        f" but the maximum allowed is 1024. {QUOTAS}",
    )


# --- ack deadlines -----------------------------------------------------------------------------


def test_subscription_ack_deadline_of_zero_means_ten_seconds() -> None:
    assert validate_ack_deadline(0) == 10


@pytest.mark.parametrize("seconds", [10, 11, 599, 600])
def test_subscription_ack_deadline_from_10_to_600_seconds_is_kept(seconds: int) -> None:
    assert validate_ack_deadline(seconds) == seconds


@pytest.mark.parametrize("seconds", [-30, -1, 1, 5, 9, 601, 1000])
def test_subscription_ack_deadline_outside_10_to_600_seconds_is_invalid_argument(
    seconds: int,
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_ack_deadline(seconds)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"Invalid ack deadline given (ack_deadline={seconds}). The ack deadline must be"
        " between 10 and 600 seconds.",
    )


@pytest.mark.parametrize("seconds", [0, 1, 9, 10, 599, 600])
def test_modify_ack_deadline_from_0_to_600_seconds_is_accepted(seconds: int) -> None:
    validate_modify_ack_deadline(seconds)


@pytest.mark.parametrize("seconds", [-1, 601, 715])
def test_modify_ack_deadline_outside_0_to_600_seconds_is_invalid_argument(seconds: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_modify_ack_deadline(seconds)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"Invalid ack deadline given (ack_deadline={seconds}). The ack deadline must be"
        " between 0 and 600 seconds.",
    )


# --- dead-letter policy ------------------------------------------------------------------------


def test_max_delivery_attempts_of_zero_means_five() -> None:
    assert validate_max_delivery_attempts(0) == 5


@pytest.mark.parametrize("attempts", [5, 6, 99, 100])
def test_max_delivery_attempts_from_5_to_100_is_kept(attempts: int) -> None:
    assert validate_max_delivery_attempts(attempts) == attempts


@pytest.mark.parametrize("attempts", [-1, 1, 4])
def test_max_delivery_attempts_below_5_is_out_of_range(attempts: int) -> None:
    with pytest.raises(exceptions.OutOfRange) as excinfo:
        validate_max_delivery_attempts(attempts)
    assert_error(
        excinfo,
        exceptions.OutOfRange,
        f"The value for max_delivery_attempts is too small. You passed {attempts} in the"
        " request, but the minimum value is 5.",
    )


@pytest.mark.parametrize("attempts", [101, 1000])
def test_max_delivery_attempts_above_100_is_out_of_range(attempts: int) -> None:
    with pytest.raises(exceptions.OutOfRange) as excinfo:
        validate_max_delivery_attempts(attempts)
    assert_error(
        excinfo,
        exceptions.OutOfRange,
        f"The value for max_delivery_attempts is too large. You passed {attempts} in the"
        " request, but the maximum value is 100.",
    )


# --- message retention -------------------------------------------------------------------------

DAY = 24 * 3600


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(600, 0), (600, 1), (DAY, 0), (7 * DAY - 1, 999_999_999), (7 * DAY, 0)]
)
def test_subscription_retention_from_10_minutes_to_7_days_is_accepted(
    seconds: int, nanos: int
) -> None:
    validate_message_retention(seconds, nanos)


@pytest.mark.parametrize(
    ("seconds", "nanos", "shown"),
    [
        (0, 0, "0"),
        (-5, 0, "-5s"),
        (0, 500_000_000, "500ms"),
        (60, 0, "1m"),
        (599, 0, "9m59s"),
        (599, 999_999_999, "9m59.999999999s"),
        (7 * DAY, 1, "168h0.000000001s"),
        (7 * DAY + 1, 0, "168h1s"),
        (31 * DAY, 0, "744h"),
    ],
)
def test_subscription_retention_outside_10_minutes_to_7_days_is_invalid_argument(
    seconds: int, nanos: int, shown: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_message_retention(seconds, nanos)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The value for message retention duration is out of bounds. You passed {shown} in the"
        " request, but the value must be between 10m and 168h.",
    )


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(600, 0), (7 * DAY + 1, 0), (31 * DAY - 1, 999_999_999), (31 * DAY, 0)]
)
def test_topic_retention_from_10_minutes_to_31_days_is_accepted(seconds: int, nanos: int) -> None:
    validate_message_retention(seconds, nanos, topic=True)


@pytest.mark.parametrize(
    ("seconds", "nanos", "shown"),
    [
        (599, 0, "9m59s"),
        (599, 999_999_999, "9m59.999999999s"),
        (31 * DAY, 500_000_000, "744h0.5s"),
        (31 * DAY + 1, 0, "744h1s"),
    ],
)
def test_topic_retention_outside_10_minutes_to_31_days_is_invalid_argument(
    seconds: int, nanos: int, shown: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_message_retention(seconds, nanos, topic=True)
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"The value for message retention duration is out of bounds. You passed {shown} in the"
        " request, but the value must be between 10m and 744h.",
    )


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"env": "prod"},
        {"env": ""},
        {"a1_-": "1_-"},
        {"k" * 63: "v" * 63},
        {"é": "ü"},
        {"中文": "值"},
        {f"k{i}": "v" for i in range(64)},
    ],
)
def test_labels_following_gcp_label_rules_are_accepted(labels: dict[str, str]) -> None:
    validate_labels(labels)


@pytest.mark.parametrize("key", ["Team", "1env", "_env", "-env", "Éa"])
def test_label_key_not_starting_with_a_lowercase_letter_is_invalid_argument(key: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_labels({key: "x"})
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'{LABELS}key "{key}" does not conform to regular expression "{KEY_PATTERN}"; first'
        f' character "{key[0]}" is not a non-uppercased letter (Unicode character class Ll or'
        " Lo)).",
    )


@pytest.mark.parametrize("key", ["", "aB", "a.b", "a b", "k" * 64])
def test_label_key_that_is_empty_too_long_or_has_a_bad_character_is_invalid_argument(
    key: str,
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_labels({key: "x"})
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'{LABELS}key "{key}" does not conform to regular expression "{KEY_PATTERN}")',
    )


@pytest.mark.parametrize("value", ["Prod", "a.b", "v" * 64])
def test_label_value_too_long_or_with_a_bad_character_is_invalid_argument(value: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_labels({"env": value})
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'{LABELS}value "{value}" of key "env" does not conform to regular expression'
        f' "{VALUE_PATTERN}")',
    )


@pytest.mark.parametrize("count", [65, 100])
def test_more_than_64_labels_is_invalid_argument(count: int) -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_labels({f"k{i}": "v" for i in range(count)})
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f"{LABELS}at most 64 labels are allowed, got {count}).",
    )


def test_first_bad_label_in_key_order_is_reported() -> None:
    with pytest.raises(exceptions.InvalidArgument) as excinfo:
        validate_labels({"zz": "Bad", "aa": "Worse"})
    assert_error(
        excinfo,
        exceptions.InvalidArgument,
        f'{LABELS}value "Worse" of key "aa" does not conform to regular expression'
        f' "{VALUE_PATTERN}")',
    )
