"""Bad input gets GCS's 400 (or 416), never a Python exception, and changes nothing.

Through the real client where it can send the value, else as raw JSON through ``requests``
in-process (the same app the client reaches). The same requests over a real socket are in
``tests/server/test_malformed_http.py``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions

HOST = "https://storage.gcpfakes.invalid"
JSON_API = f"{HOST}/storage/v1"
UPLOAD = f"{HOST}/upload/storage/v1"
DATA = b"0123456789"
INVALID = "Invalid argument."
DAY = 86_400


@pytest.fixture
def http(fake_storage: Any) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def bucket(client: Any) -> Any:
    made = client.create_bucket("bad-input")
    made.blob("data.bin").upload_from_string(DATA)
    return made


def _refusal(response: requests.Response) -> tuple[int, str, str]:
    """Status, message and reason of a JSON API error answer."""
    error = response.json()["error"]
    return error["code"], error["message"], error["errors"][0]["reason"]


def _multipart(metadata: bytes, data: bytes = b"x") -> tuple[bytes, dict[str, str]]:
    """A multipart upload's body and headers, with ``metadata`` as its JSON part."""
    body = (
        b"--b\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + metadata
        + b"\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        + data
        + b"\r\n--b--\r\n"
    )
    return body, {"Content-Type": 'multipart/related; boundary="b"'}


# -- bucket bodies ----------------------------------------------------------------------------


def test_a_lifecycle_rule_whose_action_is_a_string_is_refused_at_create(client: Any) -> None:
    made = client.bucket("lifecycle-bad")
    made.lifecycle_rules = [{"action": "Delete", "condition": {"age": 1}}]
    with pytest.raises(exceptions.BadRequest) as caught:
        made.create()
    assert caught.value.message.endswith(f": {INVALID}")


def test_a_bucket_refused_at_create_is_not_created(client: Any, fake_storage: Any) -> None:
    made = client.bucket("lifecycle-bad")
    made.lifecycle_rules = [{"action": "Delete", "condition": {"age": 1}}]
    with pytest.raises(exceptions.BadRequest):
        client.create_bucket(made)
    assert fake_storage.buckets == []


def test_versioning_that_is_not_an_object_is_refused(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p", json={"name": "vers", "versioning": "yes"})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_billing_that_is_not_an_object_is_refused(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p", json={"name": "bill", "billing": "x"})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_labels_that_are_not_an_object_are_refused(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p", json={"name": "labels", "labels": [1]})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_a_bucket_name_that_is_not_a_string_is_refused(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p", json={"name": 5})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_a_retention_period_that_is_not_a_number_is_refused(http: requests.Session) -> None:
    body = {"name": "kept", "retentionPolicy": {"retentionPeriod": "forever"}}
    answer = http.post(f"{JSON_API}/b?project=p", json=body)
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_a_storage_class_gcs_does_not_have_is_refused_naming_it(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p", json={"name": "cls", "storageClass": "GOLD"})
    assert _refusal(answer) == (400, "Invalid value for: GOLD is not a valid value", "invalid")


def test_a_storage_class_in_lower_case_is_stored_in_upper_case(
    http: requests.Session, client: Any
) -> None:
    http.post(f"{JSON_API}/b?project=p", json={"name": "cls", "storageClass": "nearline"})
    assert client.get_bucket("cls").storage_class == "NEARLINE"


def test_a_refused_bucket_patch_changes_nothing(http: requests.Session, client: Any) -> None:
    made = client.create_bucket("patched")
    body = {"labels": {"team": "data"}, "versioning": {"enabled": "yes"}}
    answer = http.patch(f"{JSON_API}/b/patched", json=body)
    assert answer.status_code == 400
    again = client.get_bucket("patched")
    assert (again.labels, again.metageneration) == ({}, made.metageneration)


def test_a_patch_shortening_a_locked_policy_changes_nothing_else(client: Any) -> None:
    made = client.bucket("locked")
    made.retention_period = 3600
    client.create_bucket(made)
    made.lock_retention_policy()
    made.labels = {"team": "data"}
    made.retention_period = 60
    with pytest.raises(exceptions.BadRequest):
        made.patch()
    assert client.get_bucket("locked").labels == {}


# -- object bodies ----------------------------------------------------------------------------


def test_custom_metadata_that_is_a_list_is_refused_at_upload(
    http: requests.Session, bucket: Any
) -> None:
    body, headers = _multipart(b'{"name": "new.txt", "metadata": [1]}')
    answer = http.post(f"{UPLOAD}/b/bad-input/o?uploadType=multipart", data=body, headers=headers)
    assert _refusal(answer) == (400, INVALID, "invalid")
    assert bucket.get_blob("new.txt") is None


def test_custom_metadata_that_is_a_list_is_refused_at_patch(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json={"metadata": [1]})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_an_object_name_that_is_not_a_string_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    body, headers = _multipart(b'{"name": 5}')
    answer = http.post(f"{UPLOAD}/b/bad-input/o?uploadType=multipart", data=body, headers=headers)
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_upload_metadata_that_is_not_json_is_refused(http: requests.Session, bucket: Any) -> None:
    body, headers = _multipart(b'{"name": "new.txt",')
    answer = http.post(f"{UPLOAD}/b/bad-input/o?uploadType=multipart", data=body, headers=headers)
    assert _refusal(answer) == (400, "Parse Error", "invalid")


def test_a_body_nested_too_deep_to_parse_is_refused(http: requests.Session, bucket: Any) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", data=deep)
    assert _refusal(answer) == (400, "Parse Error", "invalid")


def test_compose_with_source_objects_that_are_not_a_list_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.post(f"{JSON_API}/b/bad-input/o/joined/compose", json={"sourceObjects": "x"})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_compose_with_a_source_without_a_name_is_refused_as_required(
    http: requests.Session, bucket: Any
) -> None:
    body = {"sourceObjects": [{"generation": "1"}]}
    answer = http.post(f"{JSON_API}/b/bad-input/o/joined/compose", json=body)
    assert _refusal(answer) == (400, "Required", "required")


def test_a_custom_time_that_is_not_a_time_is_refused(bucket: Any) -> None:
    blob = bucket.blob("data.bin")
    blob._patch_property("customTime", "yesterday")  # the setter takes datetimes only
    with pytest.raises(exceptions.BadRequest) as caught:
        blob.patch()
    assert caught.value.message.endswith(
        ": Parse Error: Invalid value for type.googleapis.com/google.protobuf.Timestamp "
        "field: 'Field 'customTime', Illegal timestamp format; timestamps must end with 'Z' "
        "or have a valid timezone offset.'."
    )


def test_the_bucket_still_works_after_the_refused_custom_time(client: Any, bucket: Any) -> None:
    bucket.add_lifecycle_delete_rule(days_since_custom_time=30)
    bucket.patch()
    blob = bucket.blob("data.bin")
    blob._patch_property("customTime", "yesterday")
    with pytest.raises(exceptions.BadRequest):
        blob.patch()
    again = client.get_bucket("bad-input")
    again.blob("after.txt").upload_from_string("after")
    assert [b.name for b in client.list_blobs(again)] == ["after.txt", "data.bin"]
    assert again.get_blob("data.bin").custom_time is None


def test_a_custom_time_with_nanoseconds_is_taken_and_drives_lifecycle(
    client: Any, bucket: Any, gcpfakes: Any
) -> None:
    bucket.add_lifecycle_delete_rule(days_since_custom_time=1)
    bucket.patch()
    blob = bucket.blob("data.bin")
    stamp = gcpfakes.clock.now().strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    blob._patch_property("customTime", stamp)
    blob.patch()
    gcpfakes.clock.advance(2 * DAY)
    assert bucket.get_blob("data.bin") is None


def test_a_temporary_hold_that_is_not_a_boolean_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json={"temporaryHold": "maybe"})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_an_acl_that_is_not_a_list_is_refused(http: requests.Session, bucket: Any) -> None:
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json={"acl": "x"})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_a_content_type_that_is_not_a_string_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json={"contentType": 5})
    assert _refusal(answer) == (400, INVALID, "invalid")


def test_a_refused_object_patch_changes_nothing(http: requests.Session, bucket: Any) -> None:
    before = bucket.get_blob("data.bin")
    body = {"metadata": {"team": "data"}, "temporaryHold": "maybe"}
    assert http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json=body).status_code == 400
    after = bucket.get_blob("data.bin")
    assert (after.metadata, after.metageneration) == (None, before.metageneration)


def test_a_null_hold_in_a_patch_releases_the_hold(http: requests.Session, bucket: Any) -> None:
    blob = bucket.get_blob("data.bin")
    blob.temporary_hold = True
    blob.patch()
    http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json={"temporaryHold": None})
    bucket.blob("data.bin").delete()  # refused under a hold
    assert bucket.get_blob("data.bin") is None


def test_an_xml_api_custom_time_header_that_is_not_a_time_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.post(
        f"{HOST}/bad-input/big.bin?uploads", headers={"x-goog-custom-time": "yesterday"}
    )
    assert answer.status_code == 400
    assert "<Code>InvalidArgument</Code>" in answer.text
    assert "'Field 'customTime', Illegal timestamp format" in answer.text


# -- query parameters and paths ---------------------------------------------------------------


def test_an_unknown_projection_is_refused_naming_the_parameter(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.get(f"{JSON_API}/b/bad-input?projection=weird")
    assert answer.json()["error"]["errors"] == [
        {
            "message": "Invalid string value: 'weird'. Allowed values: [full, noAcl]",
            "domain": "global",
            "reason": "invalidParameter",
            "locationType": "parameter",
            "location": "projection",
        }
    ]


def test_a_parameter_given_twice_is_refused(http: requests.Session) -> None:
    answer = http.post(f"{JSON_API}/b?project=p&project=q", json={"name": "twice"})
    assert _refusal(answer) == (
        400,
        "The parameter 'project' may be given only once.",
        "invalidParameter",
    )


def test_an_upload_without_upload_type_is_refused_as_gcs_refuses_it(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.post(f"{UPLOAD}/b/bad-input/o?name=x.txt", data=b"x")
    assert answer.json()["error"]["errors"] == [
        {
            "message": "Upload requests must include an uploadType URL parameter and a URL "
            "path beginning with /upload/",
            "domain": "global",
            "reason": "wrongUrlForUpload",
            "extendedHelp": "https://cloud.google.com/storage/docs/json_api/v1/how-tos/upload",
        }
    ]


def test_an_upload_sent_to_the_metadata_url_is_refused(http: requests.Session, bucket: Any) -> None:
    answer = http.post(f"{JSON_API}/b/bad-input/o?uploadType=media&name=x.txt", data=b"x")
    assert _refusal(answer)[::2] == (400, "wrongUrlForUpload")


def test_an_unknown_upload_type_is_refused_naming_the_parameter(
    http: requests.Session, bucket: Any
) -> None:
    answer = http.post(f"{UPLOAD}/b/bad-input/o?uploadType=magic&name=x.txt", data=b"x")
    assert _refusal(answer)[::2] == (400, "invalidParameter")


def test_a_generation_in_non_ascii_digits_is_refused(http: requests.Session, bucket: Any) -> None:
    answer = http.get(f"{JSON_API}/b/bad-input/o/data.bin?generation=٣")
    assert _refusal(answer) == (400, "Invalid value for generation: ٣", "invalid")


def test_an_object_name_that_is_not_utf8_is_refused(http: requests.Session, bucket: Any) -> None:
    answer = http.get(f"{JSON_API}/b/bad-input/o/%FF%FE")
    assert _refusal(answer) == (
        400,
        "Disallowed unicode characters present in object name",
        "invalid",
    )


# -- batch and XML multipart bodies -------------------------------------------------------


def _batch(http: requests.Session, part: bytes) -> requests.Response:
    body = b"--b\r\nContent-Type: application/http\r\n\r\n" + part + b"\r\n--b--\r\n"
    return http.post(
        f"{HOST}/batch/storage/v1",
        data=body,
        headers={"Content-Type": "multipart/mixed; boundary=b"},
    )


def test_a_batch_part_that_is_not_a_request_is_refused(http: requests.Session) -> None:
    answer = _batch(http, b"garbage")
    assert _refusal(answer) == (
        400,
        "Failed to parse batch request: part 1 does not start with a request line.",
        "invalid",
    )


def test_a_batch_of_no_parts_is_refused(http: requests.Session) -> None:
    answer = http.post(
        f"{HOST}/batch/storage/v1",
        data=b"--b--\r\n",
        headers={"Content-Type": "multipart/mixed; boundary=b"},
    )
    assert answer.status_code == 400


def test_a_batch_inside_a_batch_is_refused(http: requests.Session) -> None:
    answer = _batch(http, b"POST /batch/storage/v1 HTTP/1.1\r\n\r\n")
    assert _refusal(answer)[1].endswith("part 1 is a batch request itself.")


def test_a_batch_part_that_is_not_utf8_is_refused(http: requests.Session) -> None:
    answer = _batch(http, b"GET /storage/v1/b/\xff HTTP/1.1\r\n\r\n")
    assert _refusal(answer)[1].endswith("part 1 is not UTF-8.")


def _multipart_upload(http: requests.Session) -> str:
    started = http.post(f"{HOST}/bad-input/big.bin?uploads")
    upload_id = started.text.split("<UploadId>")[1].split("</UploadId>")[0]
    http.put(f"{HOST}/bad-input/big.bin?partNumber=1&uploadId={upload_id}", data=b"part")
    return upload_id


def test_completing_a_multipart_upload_with_garbage_is_malformed_xml(
    http: requests.Session, bucket: Any
) -> None:
    upload_id = _multipart_upload(http)
    answer = http.post(f"{HOST}/bad-input/big.bin?uploadId={upload_id}", data=b"<garbage")
    assert (answer.status_code, "<Code>MalformedXML</Code>" in answer.text) == (400, True)
    assert bucket.get_blob("big.bin") is None


def test_a_part_number_that_is_not_a_number_is_malformed_xml(
    http: requests.Session, bucket: Any
) -> None:
    upload_id = _multipart_upload(http)
    body = (
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>"
    )
    answer = http.post(f"{HOST}/bad-input/big.bin?uploadId={upload_id}", data=body)
    assert (answer.status_code, "<Code>MalformedXML</Code>" in answer.text) == (400, True)


# -- Range --------------------------------------------------------------------------------------


def _download(http: requests.Session, header: str) -> requests.Response:
    url = f"{HOST}/download/storage/v1/b/bad-input/o/data.bin?alt=media"
    return http.get(url, headers={"Range": header})


@pytest.mark.parametrize(
    "header",
    ["items=0-1", "bytes=abc", "bytes=5-2", "bytes=0-1,3-4", "bytes=٣-٤", "bytes=-", "bytes 0-1"],
    ids=["other-unit", "not-numbers", "ends-before-start", "multi-range", "arabic-digits",
         "no-numbers", "no-equals"],
)  # fmt: skip
def test_a_range_that_does_not_parse_is_ignored(
    http: requests.Session, bucket: Any, header: str
) -> None:
    answer = _download(http, header)
    assert (answer.status_code, answer.content, "Content-Range" in answer.headers) == (
        200,
        DATA,
        False,
    )


def test_a_range_past_the_end_is_not_satisfiable_and_names_the_size(
    http: requests.Session, bucket: Any
) -> None:
    answer = _download(http, "bytes=10-")
    assert (answer.status_code, answer.headers["Content-Range"]) == (416, "bytes */10")


def test_a_suffix_range_of_no_bytes_is_not_satisfiable(http: requests.Session, bucket: Any) -> None:
    assert _download(http, "bytes=-0").status_code == 416


def test_the_range_unit_is_case_insensitive(http: requests.Session, bucket: Any) -> None:
    answer = _download(http, "Bytes=2-4")
    assert (answer.status_code, answer.content) == (206, b"234")


def test_a_range_end_past_any_size_is_cut_to_the_object(
    http: requests.Session, bucket: Any
) -> None:
    answer = _download(http, "bytes=8-" + "9" * 5000)
    assert (answer.status_code, answer.content) == (206, b"89")


def test_the_client_still_downloads_ranges(bucket: Any) -> None:
    blob = bucket.blob("data.bin")
    assert blob.download_as_bytes(start=2, end=4) == b"234"


def test_custom_time_set_through_the_client_round_trips(bucket: Any) -> None:
    blob = bucket.get_blob("data.bin")
    when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    blob.custom_time = when
    blob.patch()
    assert bucket.get_blob("data.bin").custom_time == when


def test_an_update_sends_back_output_only_fields_and_is_taken(bucket: Any) -> None:
    blob = bucket.get_blob("data.bin")
    blob.metadata = {"team": "data"}
    blob.update()  # PUT with etag, timeCreated, size, … as read
    assert json.dumps(bucket.get_blob("data.bin").metadata) == '{"team": "data"}'


def test_a_notification_with_custom_attributes_that_are_not_strings_is_refused(
    http: requests.Session, bucket: Any, fake_storage: Any
) -> None:
    body = {
        "topic": "//pubsub.googleapis.com/projects/p/topics/events",
        "payload_format": "NONE",
        "custom_attributes": {"team": 5},
    }
    answer = http.post(f"{JSON_API}/b/bad-input/notificationConfigs", json=body)
    assert _refusal(answer) == (400, INVALID, "invalid")
    assert list(bucket.list_notifications()) == []


def test_a_custom_time_before_the_first_utc_instant_is_refused(
    http: requests.Session, bucket: Any
) -> None:
    body = {"customTime": "0001-01-01T00:00:00+05:00"}
    answer = http.patch(f"{JSON_API}/b/bad-input/o/data.bin", json=body)
    assert _refusal(answer)[::2] == (400, "invalid")
