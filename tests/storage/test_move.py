"""objects.move through the real client: bucket.move_blob()."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

pytestmark = pytest.mark.since("google-cloud-storage", "3.1.0", "Bucket.move_blob()")


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    return client.create_bucket("moves")


def put(bucket: storage.Bucket, name: str, data: str = "data") -> storage.Blob:
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type="text/plain")
    return blob


def test_move_blob_renames_the_object(bucket: storage.Bucket, fake_storage: Any) -> None:
    moved = bucket.move_blob(put(bucket, "old.txt"), "new.txt")
    assert moved.name == "new.txt"
    assert moved.download_as_bytes() == b"data"
    assert fake_storage.objects("moves") == ["new.txt"]


def test_names_that_need_encoding_are_moved(bucket: storage.Bucket, fake_storage: Any) -> None:
    source = put(bucket, "dir/a b?#%.txt")
    moved = bucket.move_blob(source, "new dir/ü+&=;.txt")
    assert moved.name == "new dir/ü+&=;.txt"
    assert fake_storage.objects("moves") == ["new dir/ü+&=;.txt"]
    assert bucket.blob("new dir/ü+&=;.txt").download_as_bytes() == b"data"


def test_the_destination_is_a_new_generation_at_metageneration_1(
    bucket: storage.Bucket,
) -> None:
    source = put(bucket, "old.txt")
    source.metadata = {"owner": "ada"}
    source.patch()
    moved = bucket.move_blob(source, "new.txt")
    assert moved.metageneration == 1
    assert moved.generation != source.generation
    assert (moved.metadata, moved.content_type) == ({"owner": "ada"}, "text/plain")


def test_the_destination_keeps_the_sources_acl(bucket: storage.Bucket) -> None:
    source = bucket.blob("old.txt")
    source.upload_from_string("data", predefined_acl="publicRead")
    moved = bucket.move_blob(source, "new.txt")
    moved.acl.reload()
    assert "READER" in moved.acl.all().get_roles()


def test_a_move_replaces_an_existing_destination(bucket: storage.Bucket, fake_storage: Any) -> None:
    put(bucket, "there.txt", "old")
    bucket.move_blob(put(bucket, "here.txt", "new"), "there.txt")
    assert fake_storage.get("moves", "there.txt") == b"new"
    assert fake_storage.objects("moves") == ["there.txt"]


def test_if_generation_match_0_keeps_an_existing_destination(
    bucket: storage.Bucket, fake_storage: Any
) -> None:
    put(bucket, "there.txt", "old")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.move_blob(put(bucket, "here.txt", "new"), "there.txt", if_generation_match=0)
    assert fake_storage.objects("moves") == ["here.txt", "there.txt"]
    assert fake_storage.get("moves", "there.txt") == b"old"


def test_if_generation_not_match_fails_without_a_destination(bucket: storage.Bucket) -> None:
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.move_blob(put(bucket, "here.txt"), "nothing.txt", if_generation_not_match=1)


def test_if_source_generation_match_refuses_a_changed_source(
    bucket: storage.Bucket, fake_storage: Any
) -> None:
    first = put(bucket, "old.txt", "first")
    put(bucket, "old.txt", "second")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.move_blob(first, "new.txt", if_source_generation_match=first.generation)
    assert fake_storage.objects("moves") == ["old.txt"]


def test_a_move_onto_its_own_name_is_refused(bucket: storage.Bucket) -> None:
    with pytest.raises(exceptions.BadRequest, match="must be different"):
        bucket.move_blob(put(bucket, "same.txt"), "same.txt")


def test_moving_a_missing_object_is_not_found(bucket: storage.Bucket) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("No such object: moves/ghost.txt")):
        bucket.move_blob(bucket.blob("ghost.txt"), "new.txt")


def test_a_held_object_cannot_be_moved(bucket: storage.Bucket, fake_storage: Any) -> None:
    source = put(bucket, "held.txt")
    source.temporary_hold = True
    source.patch()
    with pytest.raises(exceptions.Forbidden, match="under active Temporary hold"):
        bucket.move_blob(source, "new.txt")
    assert fake_storage.objects("moves") == ["held.txt"]


def test_a_move_in_a_versioned_bucket_leaves_no_noncurrent_source(
    client: storage.Client, fake_storage: Any
) -> None:
    bucket = client.bucket("versioned")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    bucket.move_blob(put(bucket, "old.txt"), "new.txt")
    assert fake_storage.objects("versioned", versions=True) == ["new.txt"]


def test_a_move_notifies_the_new_object_and_the_deleted_source(
    bucket: storage.Bucket, fake_pubsub: Any
) -> None:
    fake_pubsub.create_topic("moves-events")
    bucket.notification(topic_name="moves-events", payload_format="NONE").create()
    bucket.move_blob(put(bucket, "old.txt"), "new.txt")
    events = [
        (m.attributes["eventType"], m.attributes["objectId"])
        for m in fake_pubsub.published("moves-events")
    ]
    assert events[-2:] == [("OBJECT_FINALIZE", "new.txt"), ("OBJECT_DELETE", "old.txt")]


def test_a_destination_named_acl_is_an_object(bucket: storage.Bucket, fake_storage: Any) -> None:
    bucket.move_blob(put(bucket, "dir"), "acl")
    bucket.copy_blob(bucket.blob("acl"), bucket, "copy/acl")
    assert fake_storage.objects("moves") == ["acl", "copy/acl"]
