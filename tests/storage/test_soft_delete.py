"""Soft delete through the real client: a bucket's policy, soft-deleted objects and
buckets listed, fetched and restored, on the fakes' clock."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

DAY = 86_400
WEEK = 7 * DAY


def soft_deleted_names(bucket: storage.Bucket) -> list[tuple[str, int]]:
    return [(b.name, b.generation) for b in bucket.list_blobs(soft_deleted=True)]


def put(bucket: storage.Bucket, name: str, data: str = "data") -> storage.Blob:
    blob = bucket.blob(name)
    blob.upload_from_string(data)
    return blob


def bucket_with_retention(client: storage.Client, name: str, seconds: int) -> storage.Bucket:
    bucket = client.bucket(name)
    bucket.soft_delete_policy.retention_duration_seconds = seconds
    return client.create_bucket(bucket)


# -- the policy ----------------------------------------------------------------------------------


def test_a_bucket_created_without_a_policy_gets_gcs_7_day_default(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("fresh")
    policy = bucket.soft_delete_policy
    assert policy.retention_duration_seconds == WEEK
    assert policy.effective_time == bucket.time_created


def test_a_bucket_created_with_retention_0_keeps_nothing(client: storage.Client) -> None:
    bucket = bucket_with_retention(client, "hard", 0)
    put(bucket, "gone.txt").delete()
    assert soft_deleted_names(bucket) == []


def test_a_retention_outside_7_to_90_days_is_refused(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.soft_delete_policy.retention_duration_seconds = DAY
    with pytest.raises(exceptions.BadRequest, match="retention duration"):
        bucket.patch()
    assert client.get_bucket("fresh").soft_delete_policy.retention_duration_seconds == WEEK


# -- soft-deleted objects -----------------------------------------------------------------------


def test_a_deleted_object_is_listed_with_soft_deleted(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    blob = put(bucket, "gone.txt")
    blob.delete()
    (listed,) = bucket.list_blobs(soft_deleted=True)
    assert (listed.name, listed.generation) == ("gone.txt", blob.generation)
    assert listed.hard_delete_time - listed.soft_delete_time == datetime.timedelta(seconds=WEEK)


def test_a_soft_deleted_object_is_neither_listed_nor_fetched_plainly(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("fresh")
    put(bucket, "gone.txt").delete()
    assert list(bucket.list_blobs()) == []
    assert bucket.get_blob("gone.txt") is None


def test_a_soft_deleted_object_is_fetched_by_its_generation(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    blob = put(bucket, "gone.txt")
    blob.delete()
    fetched = bucket.get_blob("gone.txt", generation=blob.generation, soft_deleted=True)
    assert fetched is not None
    assert fetched.soft_delete_time is not None
    assert fetched.size == 4


def test_a_soft_deleted_object_of_another_generation_is_not_found(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("fresh")
    blob = put(bucket, "gone.txt")
    blob.delete()
    assert bucket.get_blob("gone.txt", generation=blob.generation + 1, soft_deleted=True) is None


def test_an_overwritten_object_is_soft_deleted(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    first = put(bucket, "doc.txt", "v1")
    put(bucket, "doc.txt", "v2")
    assert soft_deleted_names(bucket) == [("doc.txt", first.generation)]


def test_an_overwritten_generation_keeps_its_fields_and_gains_a_delete_time(
    client: storage.Client,
) -> None:
    # The soft-deleted copy is made by copying the old generation's fields (a speed-up
    # over dataclasses.replace): it must be that generation plus timeDeleted, nothing else.
    bucket = client.create_bucket("fresh")
    first = bucket.blob("doc.txt")
    first.metadata = {"rev": "1"}
    first.upload_from_string("v1", content_type="text/plain")
    second = put(bucket, "doc.txt", "v2!")
    kept = bucket.get_blob("doc.txt", generation=first.generation, soft_deleted=True)
    assert kept is not None
    assert (kept.metadata, kept.content_type, kept.md5_hash, kept.size, kept.etag) == (
        {"rev": "1"},
        "text/plain",
        first.md5_hash,
        2,
        first.etag,
    )
    assert kept.time_deleted is not None
    assert kept.soft_delete_time is not None
    live = bucket.get_blob("doc.txt")
    assert live is not None
    assert (live.generation, live.time_deleted, live.size) == (second.generation, None, 3)


def test_a_deleted_noncurrent_version_is_soft_deleted(client: storage.Client) -> None:
    bucket = client.bucket("versioned")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    first = put(bucket, "doc.txt", "v1")
    put(bucket, "doc.txt", "v2")
    bucket.delete_blob("doc.txt", generation=first.generation)
    assert soft_deleted_names(bucket) == [("doc.txt", first.generation)]


def test_soft_deleted_objects_go_at_their_hard_delete_time(
    client: storage.Client, gcpfakes: Any
) -> None:
    bucket = client.create_bucket("fresh")
    put(bucket, "gone.txt").delete()
    gcpfakes.clock.advance(WEEK - 1)
    assert len(soft_deleted_names(bucket)) == 1
    gcpfakes.clock.advance(1)
    assert soft_deleted_names(bucket) == []


def test_the_retention_in_effect_at_deletion_is_kept(client: storage.Client, gcpfakes: Any) -> None:
    bucket = client.create_bucket("fresh")
    put(bucket, "gone.txt").delete()
    bucket.soft_delete_policy.retention_duration_seconds = 30 * DAY
    bucket.patch()
    gcpfakes.clock.advance(WEEK)
    assert soft_deleted_names(bucket) == []


def test_listing_soft_deleted_objects_with_versions_is_refused(client: storage.Client) -> None:
    client.create_bucket("fresh")
    with pytest.raises(exceptions.BadRequest, match="cannot be used together"):
        list(client.list_blobs("fresh", soft_deleted=True, versions=True))


@pytest.mark.since("google-cloud-storage", "3.1.0", "Bucket.move_blob()")
def test_a_moved_source_is_not_soft_deleted(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.move_blob(put(bucket, "old.txt"), "new.txt")
    assert soft_deleted_names(bucket) == []


# -- restoring objects --------------------------------------------------------------------------


def test_restore_creates_a_new_generation(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    blob = put(bucket, "doc.txt", "keep me")
    blob.metadata = {"k": "v"}
    blob.patch()
    blob.delete()
    restored = bucket.restore_blob("doc.txt", generation=blob.generation)
    assert restored.generation != blob.generation
    assert (restored.metageneration, restored.metadata) == (1, {"k": "v"})
    assert bucket.blob("doc.txt").download_as_bytes() == b"keep me"


def test_a_restored_object_gets_the_default_object_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    blob = bucket.blob("doc.txt")
    blob.upload_from_string("x", predefined_acl="publicRead")
    blob.delete()
    restored = bucket.restore_blob("doc.txt", generation=blob.generation)
    restored.acl.reload()
    assert "allUsers" not in [entry["entity"] for entry in restored.acl]


def test_copy_source_acl_restores_the_objects_own_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    blob = bucket.blob("doc.txt")
    blob.upload_from_string("x", predefined_acl="publicRead")
    blob.delete()
    restored = bucket.restore_blob("doc.txt", generation=blob.generation, copy_source_acl=True)
    restored.acl.reload()
    assert "READER" in restored.acl.all().get_roles()


def test_a_restore_over_a_live_object_soft_deletes_that_object(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    old = put(bucket, "doc.txt", "old")
    old.delete()
    live = put(bucket, "doc.txt", "live")
    bucket.restore_blob("doc.txt", generation=old.generation)
    assert bucket.blob("doc.txt").download_as_bytes() == b"old"
    assert ("doc.txt", live.generation) in soft_deleted_names(bucket)


def test_a_restore_with_if_generation_match_0_keeps_a_live_object(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("fresh")
    old = put(bucket, "doc.txt", "old")
    old.delete()
    put(bucket, "doc.txt", "live")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.restore_blob("doc.txt", generation=old.generation, if_generation_match=0)


def test_a_restore_without_a_generation_is_refused(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    put(bucket, "doc.txt").delete()
    with pytest.raises(exceptions.BadRequest, match="Required parameter: generation"):
        bucket.restore_blob("doc.txt")


def test_a_restore_after_the_hard_delete_time_is_not_found(
    client: storage.Client, gcpfakes: Any
) -> None:
    bucket = client.create_bucket("fresh")
    blob = put(bucket, "doc.txt")
    blob.delete()
    gcpfakes.clock.advance(WEEK)
    with pytest.raises(exceptions.NotFound, match=re.escape("No such object: fresh/doc.txt")):
        bucket.restore_blob("doc.txt", generation=blob.generation)


# -- soft-deleted buckets -----------------------------------------------------------------------


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_new_bucket_has_a_generation(client: storage.Client) -> None:
    assert client.create_bucket("fresh").generation is not None


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_deleted_bucket_is_listed_with_soft_deleted(client: storage.Client) -> None:
    bucket = client.create_bucket("gone")
    bucket.delete()
    (listed,) = client.list_buckets(soft_deleted=True)
    assert (listed.name, listed.generation) == ("gone", bucket.generation)
    assert listed.hard_delete_time - listed.soft_delete_time == datetime.timedelta(seconds=WEEK)
    assert list(client.list_buckets()) == []


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_soft_deleted_bucket_is_fetched_by_its_generation(client: storage.Client) -> None:
    bucket = client.create_bucket("gone")
    bucket.delete()
    fetched = client.get_bucket("gone", generation=bucket.generation, soft_deleted=True)
    assert fetched.soft_delete_time is not None


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_restored_bucket_is_live_again_with_its_soft_deleted_objects(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("gone")
    blob = put(bucket, "doc.txt", "kept")
    blob.delete()
    bucket.delete()
    client.restore_bucket("gone", generation=bucket.generation)
    again = client.get_bucket("gone")
    assert again.generation == bucket.generation
    again.restore_blob("doc.txt", generation=blob.generation)
    assert again.blob("doc.txt").download_as_bytes() == b"kept"


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_bucket_without_soft_delete_is_gone_for_good(client: storage.Client) -> None:
    bucket_with_retention(client, "hard", 0).delete()
    assert list(client.list_buckets(soft_deleted=True)) == []


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_soft_deleted_buckets_name_can_be_taken_again(client: storage.Client) -> None:
    first = client.create_bucket("reused")
    first.delete()
    second = client.create_bucket("reused")
    assert second.generation != first.generation
    with pytest.raises(exceptions.Conflict):
        client.restore_bucket("reused", generation=first.generation)


@pytest.mark.since("google-cloud-storage", "2.19.0", "soft delete of buckets")
def test_a_soft_deleted_bucket_goes_at_its_hard_delete_time(
    client: storage.Client, gcpfakes: Any
) -> None:
    bucket = client.create_bucket("gone")
    bucket.delete()
    gcpfakes.clock.advance(WEEK)
    with pytest.raises(exceptions.NotFound):
        client.restore_bucket("gone", generation=bucket.generation)
