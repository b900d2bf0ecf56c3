"""Object contexts (``blob.contexts``, google-cloud-storage 3.11) through the real client:
set on upload, merged by patches, carried by copies, and selected by a listing's filter."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import storage

pytestmark = pytest.mark.since("google-cloud-storage", "3.11.0", "object contexts")

MOMENT = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
LATER = MOMENT + datetime.timedelta(hours=1)


@pytest.fixture
def bucket(fake_storage: Any) -> Iterator[storage.Bucket]:
    with closing(storage.Client()) as gcs:
        yield gcs.create_bucket("tagged")


def _contexts(**values: str) -> Any:
    from google.cloud.storage.blob import ObjectContexts, ObjectCustomContextPayload

    custom = {key: ObjectCustomContextPayload(value=value) for key, value in values.items()}
    return ObjectContexts(None, custom=custom)


def _values(blob: storage.Blob) -> dict[str, str]:
    return {key: payload.value for key, payload in blob.contexts.custom.items()}


def test_contexts_set_on_upload_are_returned_with_their_times(bucket: storage.Bucket) -> None:
    blob = bucket.blob("report.csv")
    blob.contexts = _contexts(team="finance", stage="raw")
    with freeze_time(MOMENT):
        blob.upload_from_string(b"a,b")
    again = bucket.get_blob("report.csv")
    assert _values(again) == {"stage": "raw", "team": "finance"}
    payload = again.contexts.custom["team"]
    assert (payload.create_time, payload.update_time) == (MOMENT, MOMENT)


def test_a_patch_merges_contexts_and_a_null_value_removes_one(bucket: storage.Bucket) -> None:
    blob = bucket.blob("report.csv")
    blob.contexts = _contexts(team="finance", stage="raw")
    with freeze_time(MOMENT):
        blob.upload_from_string(b"a,b")
    blob.reload()
    blob.contexts.custom["stage"].value = "clean"
    blob.contexts.custom["team"].value = None  # the client sends {"value": null}
    with freeze_time(LATER):
        blob.patch()
    blob.reload()
    assert _values(blob) == {"stage": "clean"}
    stage = blob.contexts.custom["stage"]
    assert (stage.create_time, stage.update_time) == (MOMENT, LATER)


def test_keys_a_patch_does_not_name_stay(bucket: storage.Bucket, fake_storage: Any) -> None:
    fake_storage.put("tagged", "a.txt", b"a")
    blob = bucket.blob("a.txt")
    blob.contexts = _contexts(one="1")
    blob.patch()
    blob.contexts = _contexts(two="2")
    blob.patch()
    assert _values(bucket.get_blob("a.txt")) == {"one": "1", "two": "2"}


def test_contexts_null_clears_them_all(bucket: storage.Bucket) -> None:
    blob = bucket.blob("a.txt")
    blob.contexts = _contexts(one="1", two="2")
    blob.upload_from_string(b"a")
    blob.contexts = None
    blob.patch()
    assert not bucket.get_blob("a.txt").contexts.custom


def test_a_copy_keeps_the_sources_contexts_unless_it_gives_its_own(
    bucket: storage.Bucket,
) -> None:
    source = bucket.blob("source.txt")
    source.contexts = _contexts(origin="upload")
    source.upload_from_string(b"x")
    kept = bucket.copy_blob(source, bucket, "kept.txt")
    assert _values(bucket.get_blob("kept.txt")) == {"origin": "upload"}
    assert _values(kept) == {"origin": "upload"}
    bucket.copy_blob(source, bucket, "own.txt", destination_contexts=_contexts(origin="copy"))
    assert _values(bucket.get_blob("own.txt")) == {"origin": "copy"}


def test_compose_and_rewrite_take_destination_contexts(bucket: storage.Bucket) -> None:
    part = bucket.blob("part")
    part.upload_from_string(b"p")
    joined = bucket.blob("joined")
    joined.compose([part, part], destination_contexts=_contexts(kind="joined"))
    assert _values(bucket.get_blob("joined")) == {"kind": "joined"}
    bucket.blob("moved").rewrite(part, destination_contexts=_contexts(kind="moved"))
    assert _values(bucket.get_blob("moved")) == {"kind": "moved"}


def test_a_listing_filter_selects_objects_by_their_contexts(bucket: storage.Bucket) -> None:
    for name, value in (("a", "match"), ("b", "other"), ("c", None)):
        blob = bucket.blob(name)
        if value is not None:
            blob.contexts = _contexts(target=value)
        blob.upload_from_string(b"x")

    def names(filter_: str) -> list[str]:
        return [blob.name for blob in bucket.list_blobs(filter_=filter_)]

    assert names('contexts."target"="match"') == ["a"]
    assert names('-contexts."target"="match"') == ["b", "c"]
    assert names('contexts."target":*') == ["a", "b"]
    assert names('NOT contexts."target":*') == ["c"]
    assert names('contexts."target":* AND -contexts."target"="match"') == ["b"]


def test_a_filter_the_fake_cannot_read_is_refused(bucket: storage.Bucket) -> None:
    with pytest.raises(exceptions.BadRequest, match="Invalid filter"):
        list(bucket.list_blobs(filter_="name = 'a'"))


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("google:label", "x", "key"),
        ("-dash", "x", "key"),
        ("k" * 257, "x", "key"),
        ("path", "a/b", "value"),
        ("quote", 'say "hi"', "value"),
    ],
    ids=["google-prefix", "not-alphanumeric-first", "too-long", "slash", "double-quote"],
)
def test_a_context_breaking_the_naming_rules_is_refused(
    bucket: storage.Bucket, key: str, value: str, what: str
) -> None:
    blob = bucket.blob("a.txt")
    blob.contexts = _contexts(**{key: value})
    with pytest.raises(exceptions.BadRequest, match=f"Invalid object context {what}"):
        blob.upload_from_string(b"a")
    assert bucket.get_blob("a.txt") is None
