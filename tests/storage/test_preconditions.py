"""Generations, metagenerations and preconditions through the real client."""

from __future__ import annotations

import threading
from contextlib import closing
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

THREADS = 8
INCREMENTS = 5


@pytest.fixture
def blob(client: Any) -> Any:
    blob = client.create_bucket("cas").blob("obj")
    blob.upload_from_string("0")
    return blob


def test_metageneration_starts_at_one_and_counts_metadata_changes(blob: Any) -> None:
    assert blob.metageneration == 1
    blob.cache_control = "no-store"
    blob.patch()
    blob.content_language = "en"
    blob.patch()
    assert blob.metageneration == 3


def test_patch_with_a_stale_metageneration_is_precondition_failed(blob: Any) -> None:
    blob.metadata = {"k": "v"}
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_match=7)
    blob.patch(if_metageneration_match=1)
    assert blob.metageneration == 2


def test_patch_with_metageneration_not_match_on_the_current_one_fails(blob: Any) -> None:
    blob.metadata = {"k": "v"}
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_not_match=1)


def test_patch_with_a_stale_generation_is_precondition_failed(blob: Any) -> None:
    blob.metadata = {"k": "v"}
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_generation_match=blob.generation + 1)


def test_update_replaces_metadata_that_patch_would_merge(client: Any, blob: Any) -> None:
    blob.metadata = {"a": "1", "b": "2"}
    blob.patch()
    blob.metadata = {"b": None, "c": "3"}
    blob.patch()
    assert client.bucket("cas").get_blob("obj").metadata == {"a": "1", "c": "3"}
    fresh = client.bucket("cas").get_blob("obj")
    fresh._properties["metadata"] = {"only": "this"}
    fresh.update(if_metageneration_match=fresh.metageneration)
    assert client.bucket("cas").get_blob("obj").metadata == {"only": "this"}


def test_delete_with_a_stale_generation_is_precondition_failed(blob: Any) -> None:
    with pytest.raises(exceptions.PreconditionFailed):
        blob.delete(if_generation_match=blob.generation + 1)
    blob.delete(if_generation_match=blob.generation)
    assert not blob.exists()


def test_delete_with_generation_not_match_on_the_current_one_fails(blob: Any) -> None:
    with pytest.raises(exceptions.PreconditionFailed):
        blob.delete(if_generation_not_match=blob.generation)


def test_upload_with_generation_not_match_on_the_current_one_fails(blob: Any) -> None:
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string("1", if_generation_not_match=blob.generation)


def test_upload_with_metageneration_match_needs_a_live_object(client: Any, blob: Any) -> None:
    fresh = client.bucket("cas").blob("new")
    with pytest.raises(exceptions.PreconditionFailed):
        fresh.upload_from_string("x", if_metageneration_match=1)


def test_reload_with_a_matching_generation_succeeds(blob: Any) -> None:
    blob.reload(if_generation_match=blob.generation)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.reload(if_generation_match=blob.generation + 1)


def test_exists_honours_preconditions(blob: Any) -> None:
    assert blob.exists(if_generation_match=blob.generation)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.exists(if_generation_match=blob.generation + 1)


def test_bucket_patch_with_a_stale_metageneration_is_precondition_failed(client: Any) -> None:
    bucket = client.create_bucket("meta-bucket")
    bucket.labels = {"team": "a"}
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.patch(if_metageneration_match=5)
    bucket.patch(if_metageneration_match=1)
    assert bucket.metageneration == 2


def test_bucket_delete_with_a_stale_metageneration_is_precondition_failed(client: Any) -> None:
    bucket = client.create_bucket("doomed")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.delete(if_metageneration_match=2)
    bucket.delete(if_metageneration_match=1)


def test_reload_with_if_etag_match_on_a_stale_etag_is_precondition_failed(blob: Any) -> None:
    stale = blob.etag
    blob.metadata = {"k": "v"}
    blob.patch()  # a new metageneration, a new ETag
    assert blob.etag != stale
    with pytest.raises(exceptions.PreconditionFailed):
        blob.reload(if_etag_match=stale)
    blob.reload(if_etag_match=[stale, blob.etag])  # any one of a list


def test_reload_with_if_etag_not_match_on_the_current_etag_is_not_modified(blob: Any) -> None:
    with pytest.raises(exceptions.NotModified):
        blob.reload(if_etag_not_match=blob.etag)
    blob.reload(if_etag_not_match="CAE=")


def test_download_with_if_etag_match_on_a_stale_etag_is_precondition_failed(blob: Any) -> None:
    stale = blob.etag
    blob.upload_from_string("1")
    with pytest.raises(exceptions.PreconditionFailed):
        blob.download_as_bytes(if_etag_match=stale)
    assert blob.download_as_bytes(if_etag_match=blob.etag) == b"1"


def test_download_with_if_etag_not_match_on_the_current_etag_is_not_modified(blob: Any) -> None:
    with pytest.raises(exceptions.NotModified):
        blob.download_as_bytes(if_etag_not_match=blob.etag)


def test_bucket_etag_follows_its_metageneration(client: Any) -> None:
    bucket = client.create_bucket("tagged")
    first = bucket.etag
    bucket.labels = {"a": "b"}
    bucket.patch()
    assert bucket.etag != first
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.reload(if_etag_match=first)
    with pytest.raises(exceptions.NotModified):
        bucket.reload(if_etag_not_match=bucket.etag)
    bucket.reload(if_etag_match=bucket.etag)


def test_exists_with_a_stale_etag_is_precondition_failed(client: Any, blob: Any) -> None:
    stale = blob.etag
    blob.upload_from_string("1")
    with pytest.raises(exceptions.PreconditionFailed):
        blob.exists(if_etag_match=stale)
    assert client.bucket("cas").exists(if_etag_match=client.get_bucket("cas").etag)


def test_compare_and_swap_increments_from_8_threads_lose_no_update(
    fake_storage: Any, blob: Any
) -> None:
    start = threading.Barrier(THREADS)
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with closing(storage.Client()) as own:
                bucket = own.bucket("cas")
                start.wait()
                done = 0
                while done < INCREMENTS:
                    try:
                        target = bucket.get_blob("obj")
                        # Reads exactly the generation just seen (404 once it is replaced).
                        value = int(target.download_as_text())
                        target.upload_from_string(
                            str(value + 1), if_generation_match=target.generation
                        )
                    except (exceptions.PreconditionFailed, exceptions.NotFound):
                        conflicts.append(1)
                        continue
                    done += 1
        except BaseException as error:  # re-raised on the test's thread below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert fake_storage.get("cas", "obj") == str(THREADS * INCREMENTS).encode()
    writes = fake_storage.generations("cas", "obj")
    assert len(writes) == 1  # versioning is off: only the live generation is kept


def test_exactly_one_of_8_writers_expecting_the_same_generation_wins(
    fake_storage: Any, blob: Any
) -> None:
    seen = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        with closing(storage.Client()) as own:
            target = own.bucket("cas").get_blob("obj")
            seen.wait()  # every writer has read the same generation before anyone writes
            try:
                target.upload_from_string(f"w{index}", if_generation_match=target.generation)
                result = "won"
            except exceptions.PreconditionFailed:
                result = "lost"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["lost"] * (THREADS - 1) + ["won"]
    assert fake_storage.get("cas", "obj").startswith(b"w")
