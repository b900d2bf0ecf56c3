"""Copy, rewrite, compose, rename and batch requests through the real client."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

MIB = 1024 * 1024


@pytest.fixture
def client(fake_storage: Any) -> Any:
    fake_storage.put("src", "doc.txt", "hello", content_type="text/plain", metadata={"k": "v"})
    fake_storage.create_bucket("dst")
    with closing(storage.Client()) as gcs:
        yield gcs


def test_copy_blob_across_buckets_keeps_bytes_and_metadata(client: Any) -> None:
    source = client.bucket("src")
    copied = source.copy_blob(source.blob("doc.txt"), client.bucket("dst"), "copy.txt")
    again = client.bucket("dst").get_blob("copy.txt")
    assert again.download_as_text() == "hello"
    assert (again.content_type, again.metadata) == ("text/plain", {"k": "v"})
    assert copied.generation == again.generation


def test_copy_of_a_missing_source_is_not_found(client: Any) -> None:
    source = client.bucket("src")
    with pytest.raises(exceptions.NotFound):
        source.copy_blob(source.blob("ghost"), client.bucket("dst"))


def test_copy_honours_source_and_destination_preconditions(client: Any) -> None:
    source = client.bucket("src")
    blob = source.get_blob("doc.txt")
    with pytest.raises(exceptions.PreconditionFailed):
        source.copy_blob(blob, client.bucket("dst"), if_source_generation_match=1)
    source.copy_blob(blob, client.bucket("dst"), if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        source.copy_blob(blob, client.bucket("dst"), if_generation_match=0)


def test_copy_of_an_old_generation_copies_that_generation(client: Any) -> None:
    source = client.bucket("src")
    old = source.get_blob("doc.txt").generation
    source.blob("doc.txt").upload_from_string("newer")
    source.versioning_enabled = True
    source.patch()
    source.blob("doc.txt").upload_from_string("newest")
    with pytest.raises(exceptions.NotFound):
        source.copy_blob(source.blob("doc.txt"), source, "old", source_generation=old)
    kept = source.get_blob("doc.txt").generation
    source.blob("doc.txt").upload_from_string("latest")
    source.copy_blob(source.blob("doc.txt"), source, "old", source_generation=kept)
    assert source.blob("old").download_as_text() == "newest"


def test_rename_blob_moves_the_object(client: Any) -> None:
    source = client.bucket("src")
    renamed = source.rename_blob(source.blob("doc.txt"), "moved.txt")
    assert renamed.name == "moved.txt"
    assert not source.blob("doc.txt").exists()
    assert source.blob("moved.txt").download_as_text() == "hello"


def test_rewrite_of_a_large_object_takes_several_calls_with_tokens(
    client: Any, fake_storage: Any
) -> None:
    data = bytes(range(256)) * (10 * 4096)  # 10 MiB
    fake_storage.put("src", "big", data)
    fake_storage.rewrite_bytes_per_call = 4 * MIB
    destination = client.bucket("dst").blob("big")
    token, written, total = destination.rewrite(client.bucket("src").blob("big"))
    calls = 1
    while token is not None:
        assert (written, total) == (calls * 4 * MIB, len(data))
        token, written, total = destination.rewrite(client.bucket("src").blob("big"), token=token)
        calls += 1
    assert calls == 3
    assert written == total == len(data)
    assert fake_storage.get("dst", "big") == data
    assert destination.size == len(data)


def test_rewrite_of_a_small_object_finishes_in_one_call(client: Any) -> None:
    destination = client.bucket("dst").blob("small")
    token, written, total = destination.rewrite(client.bucket("src").blob("doc.txt"))
    assert (token, written, total) == (None, 5, 5)


def test_rewrite_with_a_token_the_fake_never_issued_is_bad_request(client: Any) -> None:
    destination = client.bucket("dst").blob("x")
    with pytest.raises(exceptions.BadRequest, match="Invalid Value"):
        destination.rewrite(client.bucket("src").blob("doc.txt"), token="bogus")


def _raw_rewrite(client: Any, max_bytes: int, token: str | None = None) -> Any:
    # The Python client never sends maxBytesRewrittenPerCall; other clients do.
    query: dict[str, Any] = {"maxBytesRewrittenPerCall": max_bytes}
    if token:
        query["rewriteToken"] = token
    return client._connection.api_request(
        "POST", "/b/src/o/big/rewriteTo/b/dst/o/big", data={}, query_params=query
    )


def test_rewrite_honours_max_bytes_rewritten_per_call(client: Any, fake_storage: Any) -> None:
    fake_storage.put("src", "big", b"x" * (2 * MIB + 5))
    first = _raw_rewrite(client, MIB)
    assert (first["done"], first["totalBytesRewritten"], first["objectSize"]) == (
        False,
        str(MIB),
        str(2 * MIB + 5),
    )
    second = _raw_rewrite(client, MIB, first["rewriteToken"])
    third = _raw_rewrite(client, MIB, second["rewriteToken"])
    assert (second["done"], third["done"]) == (False, True)
    assert third["resource"]["size"] == str(2 * MIB + 5)


def test_rewrite_step_that_is_not_a_whole_mib_is_bad_request(
    client: Any, fake_storage: Any
) -> None:
    fake_storage.put("src", "big", b"x")
    with pytest.raises(exceptions.BadRequest, match="multiple of 1048576"):
        _raw_rewrite(client, 1000)


def test_compose_concatenates_sources_into_a_composite_object(client: Any) -> None:
    bucket = client.bucket("src")
    parts = []
    for index in range(3):
        part = bucket.blob(f"part-{index}")
        part.upload_from_string(f"<{index}>")
        parts.append(part)
    combined = bucket.blob("combined")
    combined.content_type = "text/plain"
    combined.compose(parts)
    assert combined.download_as_text() == "<0><1><2>"
    assert (combined.component_count, combined.md5_hash) == (3, None)
    assert combined.crc32c is not None


def test_compose_of_33_sources_is_refused(client: Any) -> None:
    bucket = client.bucket("src")
    sources = [bucket.blob("doc.txt")] * 33
    with pytest.raises(exceptions.BadRequest, match=r"\(33\) exceeds the maximum \(32\)"):
        bucket.blob("too-many").compose(sources)


def test_compose_checks_each_source_generation(client: Any) -> None:
    bucket = client.bucket("src")
    source = bucket.get_blob("doc.txt")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("c").compose([source], if_source_generation_match=[source.generation + 1])
    bucket.blob("c").compose([source], if_source_generation_match=[source.generation])
    assert bucket.blob("c").download_as_text() == "hello"


def test_compose_leaves_the_content_type_unset_when_the_destination_gives_none(
    client: Any,
) -> None:
    bucket = client.bucket("src")
    combined = bucket.blob("combined")
    combined.compose([bucket.blob("doc.txt")])  # a text/plain source
    assert combined.content_type is None
    assert bucket.get_blob("combined").content_type is None
    combined.download_as_bytes()
    assert combined.content_type == "application/octet-stream"  # as served


def test_compose_honours_the_destination_precondition(client: Any) -> None:
    bucket = client.bucket("src")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("doc.txt").compose([bucket.blob("doc.txt")], if_generation_match=0)


@pytest.mark.since("google-cloud-storage", "3.11.0", "compose(delete_source_objects=)")
def test_compose_with_delete_source_objects_deletes_the_sources(
    client: Any, fake_storage: Any
) -> None:
    bucket = client.bucket("dst")
    for name in ("p1", "p2"):
        fake_storage.put("dst", name, name)
    joined = bucket.blob("joined")
    joined.compose(
        [bucket.blob("p1"), bucket.blob("p2"), bucket.blob("p1")], delete_source_objects=True
    )
    assert joined.download_as_bytes() == b"p1p2p1"
    assert fake_storage.objects("dst") == ["joined"]


@pytest.mark.since("google-cloud-storage", "3.11.0", "compose(delete_source_objects=)")
def test_compose_with_delete_source_objects_refuses_a_held_source_and_writes_nothing(
    client: Any, fake_storage: Any
) -> None:
    bucket = client.bucket("dst")
    fake_storage.put("dst", "free", "f")
    fake_storage.put("dst", "held", "h", temporary_hold=True)
    with pytest.raises(exceptions.Forbidden, match="under active Temporary hold"):
        bucket.blob("joined").compose(
            [bucket.blob("free"), bucket.blob("held")], delete_source_objects=True
        )
    assert fake_storage.objects("dst") == ["free", "held"]


def test_batch_applies_every_deferred_call(client: Any, fake_storage: Any) -> None:
    for name in ("a", "b", "c"):
        fake_storage.put("dst", name, name)
    bucket = client.bucket("dst")
    with client.batch():
        bucket.delete_blob("a")
        bucket.delete_blob("b")
        blob = bucket.blob("c")
        blob.metadata = {"batched": "yes"}
        blob.patch()
    assert fake_storage.objects("dst") == ["c"]
    assert fake_storage.object("dst", "c").metadata == {"batched": "yes"}
    assert blob.metadata == {"batched": "yes"}


def test_batch_raises_the_failure_of_a_deferred_call(client: Any) -> None:
    bucket = client.bucket("dst")
    with pytest.raises(exceptions.NotFound), client.batch():
        bucket.delete_blob("missing")


def test_batch_can_collect_failures_instead_of_raising(client: Any, fake_storage: Any) -> None:
    fake_storage.put("dst", "there", "x")
    bucket = client.bucket("dst")
    with client.batch(raise_exception=False) as batch:
        bucket.delete_blob("missing")
        bucket.delete_blob("there")
    assert [r.status_code for r in batch._responses] == [404, 204]
    assert fake_storage.objects("dst") == []
