"""The steps every upload and download takes, written for speed (issue #14's Storage
target), answer byte for byte what their plainer forms answered."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from google.cloud import storage

from pytest_gcpfakes._registry import STORAGE_BASE_URL
from pytest_gcpfakes.storage._resources import _protobuf_etag, rfc3339
from pytest_gcpfakes.storage._wire import Response, load_json

JSON_API = f"{STORAGE_BASE_URL}/storage/v1"
DOWNLOAD = f"{STORAGE_BASE_URL}/download/storage/v1"
UPLOAD = f"{STORAGE_BASE_URL}/upload/storage/v1"


@pytest.fixture
def http(fake_storage: Any) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _strftime_rfc3339(moment: datetime) -> str:
    """How resource times were written before: strftime, then the milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("microsecond", [0, 1, 999, 1000, 1999, 500_000, 999_999])
@pytest.mark.parametrize("zone", [timezone.utc, None])
def test_resource_times_read_as_strftime_wrote_them(
    microsecond: int, zone: timezone | None
) -> None:
    for moment in (
        datetime(2026, 12, 5, 6, 0, 16, microsecond, tzinfo=zone),
        datetime(1970, 1, 1, 0, 0, 0, microsecond, tzinfo=zone),
        datetime(9999, 12, 31, 23, 59, 59, microsecond, tzinfo=zone),
    ):
        assert rfc3339(moment) == _strftime_rfc3339(moment)


def _reference_etag(*fields: int) -> str:
    """Protobuf varints, field by field, one byte at a time (the ETag's definition)."""
    raw = bytearray()
    for number, value in enumerate(fields, start=1):
        raw.append(number << 3)
        while True:
            byte, value = value & 0x7F, value >> 7
            raw.append(byte | (0x80 if value else 0))
            if not value:
                break
    return base64.b64encode(bytes(raw)).decode()


def test_etags_are_gcs_protobuf_varints() -> None:
    # GCS's own example: generation 1519946852323496, metageneration 1.
    assert _protobuf_etag(1519946852323496, 1) == "CKih16GjzNkCEAE="
    for generation in (0, 1, 127, 128, 16_383, 16_384, 2**63 - 1):
        for metageneration in (1, 127, 128, 300, 2**40):
            expected = _reference_etag(generation, metageneration)
            assert _protobuf_etag(generation, metageneration) == expected
    assert _protobuf_etag(1) == _reference_etag(1) == "CAE="


def test_json_answers_are_what_json_dumps_writes() -> None:
    body = {
        "name": 'é "quoted" \\ \u2028 \x00',
        "numbers": [1, 2.5, -0.0, 10**30, float("inf")],
        "flags": [True, False, None],
        "nested": {"a": {}, "b": [], "3": {"deep": ["x"]}},
    }
    assert Response(200, body).body == json.dumps(body).encode()
    with pytest.raises(TypeError, match="not JSON serializable"):
        Response(200, {"value": object()})


def test_an_upload_and_a_download_answer_as_the_general_steps_do(
    client: storage.Client, http: requests.Session
) -> None:
    bucket = client.create_bucket("hot-paths")
    blob = bucket.blob("dir/ünïcode name.bin")
    blob.upload_from_string(b"payload", content_type="text/plain")
    got = http.get(f"{JSON_API}/b/hot-paths/o/dir%2F%C3%BCn%C3%AFcode%20name.bin")
    assert got.status_code == 200
    assert got.content == json.dumps(got.json()).encode()
    resource = got.json()
    assert resource["timeCreated"] == _strftime_rfc3339(blob.time_created)
    assert resource["etag"] == _reference_etag(blob.generation, blob.metageneration)
    download = http.get(f"{DOWNLOAD}/b/hot-paths/o/dir%2F%C3%BCn%C3%AFcode%20name.bin?alt=media")
    assert download.content == b"payload"
    assert download.headers["ETag"] == resource["etag"]
    assert bucket.blob("dir/ünïcode name.bin").download_as_bytes() == b"payload"


def test_a_name_that_is_not_utf8_is_refused_every_time(
    client: storage.Client, http: requests.Session
) -> None:
    # Decoded names are remembered; refusals are not, so the second request is refused too.
    client.create_bucket("hot-paths")
    for _ in range(2):
        answer = http.get(f"{DOWNLOAD}/b/hot-paths/o/%FF%FEname?alt=media")
        assert (answer.status_code, answer.text) == (
            400,
            "Disallowed unicode characters present in object name",
        )


@pytest.mark.parametrize(
    "data",
    [
        b'{"name": "a", "crc32c": "rsPSKg=="}',
        b'{"a": 1}  \r\n\t',
        b'{"a": 1} x',
        b'{"a": 1}{}',
        b"{",
        b"{}\x00",
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate: loads passes it
        b'{"a": "\xff"}',
        b"{\x00}\x00",  # UTF-16-LE to json.detect_encoding
        b' {"a": 1}',
        b"[1]",
        b'{"a": NaN, "b": 1e999}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_json_bodies_read_as_json_loads_reads_them(data: bytes) -> None:
    def outcome(load: Any) -> object:
        try:
            return repr(load(data))
        except ValueError as error:
            return type(error)

    assert outcome(load_json) == outcome(json.loads)


def test_a_lone_enumerated_parameter_with_a_wrong_value_is_refused(
    client: storage.Client, http: requests.Session
) -> None:
    client.create_bucket("hot-paths")
    answer = http.post(f"{UPLOAD}/b/hot-paths/o?uploadType=magic", data=b"x")
    error = answer.json()["error"]
    assert (answer.status_code, error["errors"][0]["reason"]) == (400, "invalidParameter")
    assert "magic" in error["message"]


def test_each_upload_takes_its_buckets_default_object_acl_as_it_is_then(
    client: storage.Client,
) -> None:
    # The ACL made from the last default list is reused while that list is the same one.
    first, second = client.create_bucket("hot-first"), client.create_bucket("hot-second")
    before = first.blob("before")
    before.upload_from_string(b"x")
    first.default_object_acl.all().grant_read()
    first.default_object_acl.save()
    after, elsewhere = first.blob("after"), second.blob("elsewhere")
    after.upload_from_string(b"x")
    elsewhere.upload_from_string(b"x")

    def entries(blob: storage.Blob) -> list[tuple[str, str]]:
        blob.acl.reload()
        return [(entry["entity"], entry["role"]) for entry in blob.acl]

    public = ("allUsers", "READER")
    assert public not in entries(before)
    assert public in entries(after)
    assert public not in entries(elsewhere)
    assert len(entries(before)) == len(entries(elsewhere)) == 4


def test_a_soft_deleted_generation_shows_when_it_left_the_bucket(
    client: storage.Client, gcpfakes: Any
) -> None:
    # Soft-deleted generations gain their time_deleted when first read, not when kept.
    versioned = client.bucket("hot-versioned")
    versioned.versioning_enabled = True
    client.create_bucket(versioned)
    first = versioned.blob("doc")
    first.upload_from_string(b"v1")
    second = versioned.blob("doc")
    second.upload_from_string(b"v2")  # first is noncurrent from now on
    gcpfakes.clock.advance(60)
    versioned.delete_blob("doc", generation=first.generation)  # soft-deleted a minute later
    kept = versioned.get_blob("doc", generation=first.generation, soft_deleted=True)
    assert kept is not None
    assert kept.soft_delete_time is not None
    assert kept.time_deleted == second.time_created
    assert (kept.soft_delete_time - second.time_created).total_seconds() >= 60

    plain = client.create_bucket("hot-plain")
    old = plain.blob("doc")
    old.upload_from_string(b"v1")
    gcpfakes.clock.advance(60)
    plain.blob("doc").upload_from_string(b"v2")
    overwritten = plain.get_blob("doc", generation=old.generation, soft_deleted=True)
    assert overwritten is not None
    assert overwritten.time_deleted == overwritten.soft_delete_time
    assert (overwritten.time_deleted - old.time_created).total_seconds() >= 60
