"""Downloads through the real client: files, blob.open("r"), checksums, generations."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions

try:
    from google.cloud.storage.exceptions import DataCorruption
except ImportError:  # google-cloud-storage < 3.0 raises google-resumable-media's
    from google.resumable_media.common import DataCorruption  # type: ignore[no-redef]

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def bucket(client: Any) -> Any:
    bucket = client.create_bucket("files")
    bucket.blob("data.bin").upload_from_string(DATA)
    return bucket


class _RangeSpy:
    """WSGI wrapper that records the Range header of every download."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ranges: list[str | None] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET" and "alt=media" in environ["QUERY_STRING"]:
            self.ranges.append(environ.get("HTTP_RANGE"))
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def test_download_to_filename_writes_the_object(bucket: Any, tmp_path: Path) -> None:
    target = tmp_path / "copy.bin"
    bucket.blob("data.bin").download_to_filename(str(target))
    assert target.read_bytes() == DATA


def test_blob_open_for_reading_fetches_ranges(bucket: Any, fake_storage: Any) -> None:
    spy = fake_storage.app = _RangeSpy(fake_storage.app)
    with bucket.blob("data.bin").open("rb", chunk_size=4096) as handle:
        head = handle.read(10)
        handle.seek(8192)
        middle = handle.read(5)
    assert (head, middle) == (DATA[:10], DATA[8192:8197])
    # The reader asks for one byte more than a chunk, to see the end coming.
    assert spy.ranges[:2] == ["bytes=0-4096", "bytes=8192-12288"]


def test_blob_open_reads_text_lines(client: Any) -> None:
    blob = client.create_bucket("texts").blob("poem.txt")
    blob.upload_from_string("one\ntwo\nthree\n")
    with blob.open("r") as handle:
        assert handle.readlines() == ["one\n", "two\n", "three\n"]


@pytest.mark.parametrize("checksum", ["md5", "crc32c"])
def test_corrupted_bytes_fail_the_clients_checksum_validation(
    bucket: Any, fake_storage: Any, checksum: str
) -> None:
    fake_storage.corrupt("files", "data.bin", b"X" + DATA[1:])
    with pytest.raises(DataCorruption, match="Checksum mismatch"):
        bucket.blob("data.bin").download_as_bytes(checksum=checksum)


def test_corrupted_download_to_filename_leaves_no_file(
    bucket: Any, fake_storage: Any, tmp_path: Path
) -> None:
    fake_storage.corrupt("files", "data.bin", DATA[::-1])
    target = tmp_path / "bad.bin"
    with pytest.raises(DataCorruption):
        bucket.blob("data.bin").download_to_filename(str(target))
    assert not target.exists()


def test_download_reports_the_generation_it_served(bucket: Any, fake_storage: Any) -> None:
    blob = bucket.blob("data.bin")
    blob.download_as_bytes()
    assert blob.generation == fake_storage.object("files", "data.bin").generation


def test_old_generation_stays_readable_with_versioning_on(client: Any) -> None:
    bucket = client.create_bucket("history")
    bucket.versioning_enabled = True
    bucket.patch()
    blob = bucket.blob("doc")
    blob.upload_from_string("v1")
    first = blob.generation
    blob.upload_from_string("v2")
    old = bucket.blob("doc", generation=first)
    assert old.download_as_text() == "v1"
    assert bucket.get_blob("doc", generation=first).generation == first
    assert bucket.blob("doc").download_as_text() == "v2"


def test_overwritten_generation_is_gone_without_versioning(bucket: Any) -> None:
    blob = bucket.blob("data.bin")
    blob.reload()
    first = blob.generation
    blob.upload_from_string(b"new")
    with pytest.raises(exceptions.NotFound):
        bucket.blob("data.bin", generation=first).download_as_bytes()


def test_missing_object_download_quotes_gcs_plain_text_answer(client: Any) -> None:
    client.create_bucket("empty")
    with pytest.raises(exceptions.NotFound) as caught:
        client.bucket("empty").blob("ghost").download_as_bytes()
    assert caught.value.message.startswith(
        "GET https://storage.gcpfakes.invalid/download/storage/v1/b/empty/o/ghost?alt=media: "
        "No such object: empty/ghost: ('Request failed with status code', 404"
    )


def test_download_with_a_failed_generation_match_is_precondition_failed(bucket: Any) -> None:
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("data.bin").download_as_bytes(if_generation_match=1)


def test_download_of_the_current_generation_with_not_match_is_not_modified(
    bucket: Any,
) -> None:
    blob = bucket.get_blob("data.bin")
    with pytest.raises(exceptions.NotModified):
        blob.download_as_bytes(if_generation_not_match=blob.generation)


def test_reload_with_not_match_on_the_current_metageneration_is_not_modified(
    bucket: Any,
) -> None:
    blob = bucket.get_blob("data.bin")
    with pytest.raises(exceptions.NotModified):
        blob.reload(if_metageneration_not_match=blob.metageneration)


def test_range_past_the_end_is_not_satisfiable(bucket: Any) -> None:
    with pytest.raises(exceptions.RequestRangeNotSatisfiable):
        bucket.blob("data.bin").download_as_bytes(start=len(DATA))


def test_the_content_encoding_query_parameter_sets_the_objects_encoding(
    fake_storage: Any,
) -> None:
    import gzip

    import requests

    fake_storage.create_bucket("zipped")
    body = gzip.compress(b"compress me")
    answer = requests.post(
        "https://storage.gcpfakes.invalid/upload/storage/v1/b/zipped/o"
        "?uploadType=media&name=a.txt&contentEncoding=gzip",
        data=body,
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["contentEncoding"] == "gzip"
    assert fake_storage.object("zipped", "a.txt").content_encoding == "gzip"
