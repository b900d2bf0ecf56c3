"""GCS error bodies, and how google-cloud-storage turns them into exceptions."""

from __future__ import annotations

import datetime
import io
import json
import pickle
from collections.abc import Callable

import pytest
import requests
from google.api_core import exceptions as core_exceptions
from google.cloud.storage.blob import _raise_from_invalid_response

try:
    from google.cloud.storage.exceptions import InvalidResponse
except ImportError:  # google-cloud-storage < 3.0 raises google-resumable-media's
    from google.resumable_media.common import InvalidResponse  # type: ignore[no-redef]

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._errors import GCSError

URL = "http://gcpfakes.invalid/storage/v1/b/bkt/o/obj?prettyPrint=false"
UNTIL = datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
PRECONDITION = "At least one of the pre-conditions you specified did not hold."
USER_PROJECT = "Bucket is a requester pays bucket but no user project provided."
RETAINED = (
    "Object 'bkt/obj' is subject to bucket's retention policy or object retention and "
    "cannot be deleted or overwritten until 2030-01-02T03:04:05.678901+00:00"
)

# (constructor call, status, reason, message): every error the fake raises, as GCS words it.
CASES: list[tuple[str, Callable[[], GCSError], int, str, str]] = [
    ("bucket_not_found", _errors.bucket_not_found, 404, "notFound",
     "The specified bucket does not exist."),
    ("object_not_found", lambda: _errors.object_not_found("bkt", "a/b.txt"), 404, "notFound",
     "No such object: bkt/a/b.txt"),
    ("generation_not_found", lambda: _errors.generation_not_found("bkt", "a", 7), 404,
     "notFound", "No such object: bkt/a"),
    ("bucket_already_owned", _errors.bucket_already_owned, 409, "conflict",
     "You already own this bucket. Please select another name."),
    ("bucket_name_unavailable", _errors.bucket_name_unavailable, 409, "conflict",
     "Sorry, that name is not available. Please try a different one."),
    ("bucket_not_empty", _errors.bucket_not_empty, 409, "conflict",
     "The bucket you tried to delete is not empty."),
    ("precondition_failed", _errors.precondition_failed, 412, "conditionNotMet", PRECONDITION),
    ("not_modified", _errors.not_modified, 304, "notModified", "Not Modified"),
    ("invalid_bucket_name", lambda: _errors.invalid_bucket_name("Bad"), 400, "invalid",
     "Invalid bucket name: 'Bad'"),
    ("restricted_bucket_name", lambda: _errors.restricted_bucket_name("goog-x"), 400,
     "invalid", "Use of this bucket name is restricted: 'goog-x'"),
    ("required", _errors.required, 400, "required", "Required"),
    ("required_parameter", lambda: _errors.required_parameter("project"), 400, "required",
     "Required parameter: project"),
    ("object_name_too_long", lambda: _errors.object_name_too_long("a" * 1025), 400, "invalid",
     "The maximum object length is 1024 characters, but got a name with 1025 characters: '"
     + "a" * 77 + "...'"),
    ("object_name_disallowed_characters", _errors.object_name_disallowed_characters, 400,
     "invalid", "Disallowed unicode characters present in object name"),
    ("invalid_object_name", lambda: _errors.invalid_object_name(".."), 400, "invalid",
     "Invalid object name: '..'"),
    ("md5_mismatch", lambda: _errors.md5_mismatch("AAAA", "BBBB"), 400, "invalid",
     "Provided MD5 hash \"AAAA\" doesn't match calculated MD5 hash \"BBBB\"."),
    ("crc32c_mismatch", lambda: _errors.crc32c_mismatch("AAAAAA==", "n/7wpQ=="), 400,
     "invalid", "Provided CRC32C \"AAAAAA==\" doesn't match calculated CRC32C \"n/7wpQ==\"."),
    ("too_many_compose_sources", lambda: _errors.too_many_compose_sources(33), 400, "invalid",
     "The number of source components provided (33) exceeds the maximum (32)"),
    ("invalid_rewrite_token", _errors.invalid_rewrite_token, 400, "invalid", "Invalid Value"),
    ("user_project_missing", _errors.user_project_missing, 400, "required", USER_PROJECT),
    ("user_project_missing_xml", lambda: _errors.user_project_missing(xml=True), 400,
     "UserProjectMissing", USER_PROJECT),
    ("object_retained", lambda: _errors.object_retained("bkt", "obj", UNTIL), 403,
     "retentionPolicyNotMet", RETAINED),
    ("object_held", lambda: _errors.object_held("bkt", "obj", "Temporary"), 403, "forbidden",
     "Object 'bkt/obj' is under active Temporary hold and cannot be deleted, overwritten or "
     "archived until hold is removed."),
    ("object_retention_not_enabled", _errors.object_retention_not_enabled, 400, "invalid",
     "Object retention is not enabled on the bucket."),
    ("retention_mode_missing", lambda: _errors.retention_field_missing("mode"), 400,
     "invalid", "Missing retention mode. Both mode and retain until time are required."),
    ("retain_until_missing", lambda: _errors.retention_field_missing("retain until time"),
     400, "invalid",
     "Missing retain until time. Both mode and retain until time are required."),
    ("invalid_retention_mode", lambda: _errors.invalid_retention_mode("Forever"), 400,
     "invalid", "Invalid value for: Forever is not a valid value"),
    ("retain_until_in_the_past", _errors.retain_until_in_the_past, 400, "invalid",
     "Retain until time cannot be in the past."),
    ("retention_with_event_based_hold", _errors.retention_with_event_based_hold, 400,
     "invalid", "Retention and event based holds cannot be configured together."),
    ("unlocked_retention_override_required", _errors.unlocked_retention_override_required,
     403, "forbidden",
     "The unlocked object retention cannot be removed and its retention period cannot be "
     "shortened without overriding unlocked retention intent and permission."),
    ("retention_policy_locked", lambda: _errors.retention_policy_locked("bkt"), 400,
     "badRequestException", "The retention period on a locked bucket cannot be reduced."),
    ("retention_policy_lock_removed", lambda: _errors.retention_policy_lock_removed("bkt"), 403,
     "forbidden", "The retention policy on a locked bucket cannot be removed."),
    ("locked_retention_unchangeable", _errors.locked_retention_unchangeable, 403,
     "forbidden",
     "The locked object retention cannot be removed. Its retention mode cannot be changed "
     "and its retention period cannot be shortened."),
    ("range_not_satisfiable", _errors.range_not_satisfiable, 416,
     "requestedRangeNotSatisfiable", "Request range not satisfiable"),
]  # fmt: skip

# The google.api_core class the client raises for each status the fake answers with.
CLASSES = {
    304: core_exceptions.NotModified,
    400: core_exceptions.BadRequest,
    403: core_exceptions.Forbidden,
    404: core_exceptions.NotFound,
    409: core_exceptions.Conflict,
    412: core_exceptions.PreconditionFailed,
    416: core_exceptions.RequestRangeNotSatisfiable,
}


def _response(status: int, body: bytes, method: str = "GET") -> requests.Response:
    """Build the requests.Response the client would get from the fake's WSGI app."""
    response = requests.Response()
    response.status_code = status
    response.raw = io.BytesIO(body)
    response.encoding = "utf-8"
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    response.request = requests.Request(method, URL).prepare()
    return response


def _json_response(error: GCSError, method: str = "GET") -> requests.Response:
    return _response(error.status, json.dumps(error.to_json()).encode(), method)


@pytest.mark.parametrize(
    ("make", "status", "reason", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_error_carries_gcs_status_reason_and_message(
    make: Callable[[], GCSError], status: int, reason: str, message: str
) -> None:
    error = make()
    assert isinstance(error, GCSError)
    assert (error.status, error.reason, error.message, error.domain) == (
        status,
        reason,
        message,
        "global",
    )
    assert str(error) == message


def test_body_has_the_json_api_error_layout() -> None:
    assert _errors.bucket_not_found().to_json() == {
        "error": {
            "code": 404,
            "message": "The specified bucket does not exist.",
            "errors": [
                {
                    "message": "The specified bucket does not exist.",
                    "domain": "global",
                    "reason": "notFound",
                }
            ],
        }
    }


def test_body_keys_come_in_the_order_gcs_sends_them() -> None:
    body = json.dumps(_errors.object_not_found("b", "o").to_json())
    assert body == (
        '{"error": {"code": 404, "message": "No such object: b/o", "errors": '
        '[{"message": "No such object: b/o", "domain": "global", "reason": "notFound"}]}}'
    )


def test_precondition_body_names_the_if_match_header() -> None:
    detail = _errors.precondition_failed().to_json()["error"]["errors"][0]
    assert detail == {
        "message": PRECONDITION,
        "domain": "global",
        "reason": "conditionNotMet",
        "locationType": "header",
        "location": "If-Match",
    }


def test_custom_domain_lands_in_the_body() -> None:
    body = GCSError(400, "m", "badRequest", "usageLimits").to_json()
    assert body["error"]["errors"][0]["domain"] == "usageLimits"


def test_error_survives_pickling_with_every_field() -> None:
    error = _errors.precondition_failed()
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.to_json()) == (GCSError, error.to_json())


@pytest.mark.parametrize("length", [80, 81])
def test_too_long_name_is_echoed_whole_up_to_80_characters_then_cut(length: int) -> None:
    name = "n" * length
    echo = name if length <= 80 else "n" * 77 + "..."
    assert _errors.object_name_too_long(name).message.endswith(f"characters: '{echo}'")


def test_too_long_name_is_counted_in_utf8_bytes() -> None:
    error = _errors.object_name_too_long("é" * 513)
    assert "but got a name with 1026 characters" in error.message


def test_retention_expiry_of_a_naive_time_is_printed_as_utc() -> None:
    naive = UNTIL.replace(tzinfo=None)
    assert _errors.object_retained("bkt", "obj", naive).message == RETAINED


def test_retention_expiry_in_another_zone_is_converted_to_utc() -> None:
    pacific = UNTIL.astimezone(datetime.timezone(datetime.timedelta(hours=-8)))
    assert _errors.object_retained("bkt", "obj", pacific).message == RETAINED


def test_retention_expiry_always_shows_microseconds() -> None:
    whole = datetime.datetime(2030, 1, 2, tzinfo=datetime.timezone.utc)
    message = _errors.object_retained("b", "o", whole).message
    assert message.endswith("until 2030-01-02T00:00:00.000000+00:00")


def test_event_based_hold_is_named_as_gcs_names_it() -> None:
    message = _errors.object_held("b", "o", "Event-Based").message
    assert message.startswith("Object 'b/o' is under active Event-Based hold and")


def test_compose_limit_is_32_sources() -> None:
    assert _errors.MAX_COMPOSE_SOURCES == 32


@pytest.mark.parametrize(
    ("make", "status"),
    [(case[1], case[2]) for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_client_raises_the_api_core_class_with_method_url_and_message(
    make: Callable[[], GCSError], status: int
) -> None:
    error = make()
    raised = core_exceptions.from_http_response(_json_response(error, "POST"))
    assert type(raised) is CLASSES[status]
    assert raised.code == status
    assert raised.message == f"POST {URL}: {error.message}"
    assert raised.errors == error.to_json()["error"]["errors"]


def test_client_reads_a_bodiless_304_as_not_modified_with_unknown_error() -> None:
    raised = core_exceptions.from_http_response(_response(304, b""))
    assert type(raised) is core_exceptions.NotModified
    assert raised.message == f"GET {URL}: unknown error"


def test_media_download_error_message_carries_the_whole_body_text() -> None:
    # Downloads and uploads fail through google-resumable-media, not from_http_response:
    # the client puts the raw body text, then the media library's tuple, in the message.
    response = _response(404, b"No such object: bkt/obj")
    failure = InvalidResponse(response, "Request failed with status code", 404, "Expected", 200)
    with pytest.raises(core_exceptions.NotFound) as caught:
        _raise_from_invalid_response(failure)
    assert caught.value.message == f"GET {URL}: No such object: bkt/obj: {failure}"
