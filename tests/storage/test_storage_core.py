"""Cloud Storage through the real client: buckets, uploads, downloads, metadata."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions


def test_created_bucket_can_be_fetched(client: Any) -> None:
    client.create_bucket("photos", location="EU")
    bucket = client.get_bucket("photos")
    assert bucket.name == "photos"
    assert bucket.location == "EU"
    assert bucket.metageneration == 1


def test_creating_an_existing_bucket_is_conflict(client: Any) -> None:
    client.create_bucket("photos")
    with pytest.raises(exceptions.Conflict, match="You already own this bucket"):
        client.create_bucket("photos")


def test_getting_a_missing_bucket_is_not_found(client: Any) -> None:
    with pytest.raises(exceptions.NotFound, match=r"The specified bucket does not exist\."):
        client.get_bucket("missing-bucket")
    assert client.lookup_bucket("missing-bucket") is None


def test_invalid_bucket_name_is_bad_request(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match="Invalid bucket name: 'Upper'"):
        client.create_bucket("Upper")


def test_list_buckets_filters_by_prefix(client: Any) -> None:
    for name in ("logs-a", "logs-b", "photos"):
        client.create_bucket(name)
    assert [b.name for b in client.list_buckets(prefix="logs-")] == ["logs-a", "logs-b"]


def test_uploaded_string_downloads_identically(client: Any) -> None:
    blob = client.create_bucket("docs").blob("notes/today.txt")
    blob.upload_from_string("hello, world", content_type="text/plain")
    again = client.bucket("docs").get_blob("notes/today.txt")
    assert again.download_as_text() == "hello, world"
    assert again.content_type == "text/plain"
    assert again.size == 12


def test_download_validates_checksums_the_fake_sends(client: Any) -> None:
    blob = client.create_bucket("docs").blob("data.bin")
    blob.upload_from_string(bytes(range(256)) * 10)
    assert blob.download_as_bytes(checksum="md5") == bytes(range(256)) * 10
    assert blob.download_as_bytes(checksum="crc32c") == bytes(range(256)) * 10


def test_ranged_download_returns_the_slice(client: Any) -> None:
    blob = client.create_bucket("docs").blob("alphabet")
    blob.upload_from_string(b"abcdefghijklmnopqrstuvwxyz")
    assert blob.download_as_bytes(start=2, end=5) == b"cdef"
    assert blob.download_as_bytes(start=20) == b"uvwxyz"


def test_downloading_a_missing_object_is_not_found(client: Any) -> None:
    bucket = client.create_bucket("docs")
    with pytest.raises(exceptions.NotFound):
        bucket.blob("ghost").download_as_bytes()


def test_every_write_makes_a_new_generation(client: Any) -> None:
    blob = client.create_bucket("docs").blob("v")
    blob.upload_from_string("1")
    first = blob.generation
    blob.upload_from_string("2")
    assert blob.generation > first
    assert blob.metageneration == 1


def test_if_generation_match_zero_refuses_to_overwrite(client: Any) -> None:
    blob = client.create_bucket("docs").blob("once")
    blob.upload_from_string("first", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed, match="pre-conditions you specified"):
        blob.upload_from_string("second", if_generation_match=0)
    assert blob.download_as_text() == "first"


def test_metadata_patch_bumps_metageneration(client: Any) -> None:
    blob = client.create_bucket("docs").blob("meta")
    blob.upload_from_string("x")
    blob.metadata = {"owner": "ana"}
    blob.patch()
    assert blob.metageneration == 2
    assert client.bucket("docs").get_blob("meta").metadata == {"owner": "ana"}


def test_deleting_a_non_empty_bucket_is_conflict(client: Any) -> None:
    bucket = client.create_bucket("full")
    bucket.blob("x").upload_from_string("x")
    with pytest.raises(exceptions.Conflict, match="not empty"):
        bucket.delete()
    bucket.delete(force=True)
    assert client.lookup_bucket("full") is None


def test_listing_with_delimiter_folds_prefixes(client: Any) -> None:
    bucket = client.create_bucket("tree")
    for name in ("a/1", "a/2", "b/1", "top"):
        bucket.blob(name).upload_from_string(name)
    iterator = client.list_blobs("tree", delimiter="/")
    names = [b.name for b in iterator]
    assert names == ["top"]
    assert iterator.prefixes == {"a/", "b/"}


def test_names_with_special_characters_round_trip(client: Any) -> None:
    bucket = client.create_bucket("odd-names")
    names = ["with space", "q?mark", "hash#tag", "100%", "plus+sign", "dots/../x", "ünï/cødé"]
    for name in names:
        bucket.blob(name).upload_from_string(name)
    for name in names:
        assert bucket.blob(name).download_as_text() == name
    assert sorted(b.name for b in client.list_blobs("odd-names")) == sorted(
        names, key=lambda n: n.encode()
    )


def test_an_acl_path_under_an_object_reaches_its_access_controls(client: Any) -> None:
    client.create_bucket("listed").blob("doc").upload_from_string("x")
    # Not an object named "doc/acl" (GCS reads /o/NAME/acl as objectAccessControls.list).
    answer = client._get_resource("/b/listed/o/doc/acl")
    assert answer["kind"] == "storage#objectAccessControls"


def test_an_object_named_with_a_trailing_acl_segment_is_still_an_object(client: Any) -> None:
    bucket = client.create_bucket("listed")
    bucket.blob("doc/acl").upload_from_string("x")  # the client sends doc%2Facl
    assert bucket.get_blob("doc/acl").download_as_text() == "x"


def test_fake_storage_put_is_visible_to_the_client(fake_storage: Any, client: Any) -> None:
    fake_storage.put("seeded", "k", b"v", content_type="application/x-test")
    blob = client.bucket("seeded").get_blob("k")
    assert blob.download_as_bytes() == b"v"
    assert blob.content_type == "application/x-test"


def test_fake_storage_records_the_writing_thread(fake_storage: Any, client: Any) -> None:
    client.create_bucket("who").blob("w").upload_from_string("x")
    (version,) = fake_storage.generations("who", "w")
    assert version.writer_thread == "MainThread"


def test_fake_storage_handle_raises_client_exceptions(fake_storage: Any) -> None:
    with pytest.raises(exceptions.NotFound):
        fake_storage.get("nowhere", "x")
