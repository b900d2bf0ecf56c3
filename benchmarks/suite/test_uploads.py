"""Uploads and downloads through the real storage client."""

from __future__ import annotations

import hashlib
import io

import pytest
from google.api_core import exceptions


@pytest.mark.parametrize("size", [0, 1, 256 * 1024, 9 * 1024 * 1024])
def test_bytes_come_back_unchanged(stack, size):
    bucket = stack.bucket()
    data = hashlib.sha256(b"seed").digest() * (size // 32) + b"t" * (size % 32)
    bucket.blob("data.bin").upload_from_string(data)
    assert bucket.blob("data.bin").download_as_bytes() == data


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "image/png"])
def test_the_content_type_is_kept(stack, content_type):
    bucket = stack.bucket()
    bucket.blob("file").upload_from_string(b"x", content_type=content_type)
    assert bucket.get_blob("file").content_type == content_type


def test_custom_metadata_is_kept(stack):
    bucket = stack.bucket()
    blob = bucket.blob("tagged")
    blob.metadata = {"owner": "suite", "stage": "draft"}
    blob.upload_from_string(b"x")
    assert bucket.get_blob("tagged").metadata == {"owner": "suite", "stage": "draft"}


def test_size_and_md5_are_reported(stack):
    bucket = stack.bucket()
    bucket.blob("sized").upload_from_string(b"12345")
    blob = bucket.get_blob("sized")
    assert blob.size == 5
    assert blob.md5_hash == "gnzLDuqKcGxMNKFokfhOew=="


def test_a_range_can_be_read(stack):
    bucket = stack.bucket()
    bucket.blob("digits").upload_from_string(b"0123456789")
    assert bucket.blob("digits").download_as_bytes(start=2, end=5) == b"2345"


def test_an_overwrite_gets_a_new_generation(stack):
    bucket = stack.bucket()
    first = bucket.blob("doc")
    first.upload_from_string(b"v1")
    second = bucket.blob("doc")
    second.upload_from_string(b"v2")
    assert second.generation != first.generation
    assert bucket.blob("doc").download_as_bytes() == b"v2"


def test_a_missing_object_is_not_found(stack):
    bucket = stack.bucket()
    with pytest.raises(exceptions.NotFound):
        bucket.blob("missing").download_as_bytes()


def test_get_blob_answers_none_for_a_missing_object(stack):
    assert stack.bucket().get_blob("missing") is None


def test_exists_follows_upload_and_delete(stack):
    bucket = stack.bucket()
    blob = bucket.blob("here")
    assert not blob.exists()
    blob.upload_from_string(b"x")
    assert blob.exists()
    blob.delete()
    assert not blob.exists()


def test_deleting_a_missing_object_is_not_found(stack):
    with pytest.raises(exceptions.NotFound):
        stack.bucket().blob("missing").delete()


def test_upload_from_a_file_object(stack):
    bucket = stack.bucket()
    bucket.blob("stream").upload_from_file(io.BytesIO(b"from a file"))
    assert bucket.blob("stream").download_as_bytes() == b"from a file"


def test_download_to_a_file_object(stack):
    bucket = stack.bucket()
    bucket.blob("out").upload_from_string(b"to a file")
    target = io.BytesIO()
    bucket.blob("out").download_to_file(target)
    assert target.getvalue() == b"to a file"


def test_copy_makes_an_independent_object(stack):
    bucket = stack.bucket()
    source = bucket.blob("source")
    source.upload_from_string(b"original")
    bucket.copy_blob(source, bucket, "copy")
    source.upload_from_string(b"changed")
    assert bucket.blob("copy").download_as_bytes() == b"original"


def test_copy_across_buckets(stack):
    source_bucket = stack.bucket("src")
    target_bucket = stack.bucket("dst")
    blob = source_bucket.blob("moving")
    blob.upload_from_string(b"cargo")
    source_bucket.copy_blob(blob, target_bucket, "arrived")
    assert target_bucket.blob("arrived").download_as_bytes() == b"cargo"


def test_compose_concatenates(stack):
    bucket = stack.bucket()
    parts = []
    for i, chunk in enumerate((b"one,", b"two,", b"three")):
        part = bucket.blob(f"part-{i}")
        part.upload_from_string(chunk)
        parts.append(part)
    bucket.blob("whole").compose(parts)
    assert bucket.blob("whole").download_as_bytes() == b"one,two,three"


def test_metadata_can_be_patched(stack):
    bucket = stack.bucket()
    blob = bucket.blob("patched")
    blob.upload_from_string(b"x")
    blob.metadata = {"reviewed": "yes"}
    blob.patch()
    assert bucket.get_blob("patched").metadata == {"reviewed": "yes"}


def test_names_with_spaces_and_unicode(stack):
    bucket = stack.bucket()
    name = "reports/Q3 résumé #1.txt"
    bucket.blob(name).upload_from_string(b"ok")
    assert bucket.blob(name).download_as_bytes() == b"ok"
