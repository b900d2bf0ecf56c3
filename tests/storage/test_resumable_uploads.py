"""Resumable uploads through the real client: large, chunked, unknown size, resumed."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.cloud.storage.retry import DEFAULT_RETRY

CHUNK = 256 * 1024  # the client's chunk size must be a multiple of this
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.001, maximum=0.001)


@pytest.fixture
def bucket(client: Any) -> Any:
    return client.create_bucket("uploads")


def _payload(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class _Unsized(io.RawIOBase):
    """A readable stream that cannot tell its size (no seek to the end)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def tell(self) -> int:
        return self._data.tell()

    def seekable(self) -> bool:
        return False


def test_file_over_8_mib_uploads_through_a_resumable_session(
    bucket: Any, fake_storage: Any, tmp_path: Any
) -> None:
    data = _payload(9 * 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    blob = bucket.blob("big.bin")
    blob.upload_from_filename(str(path))
    assert fake_storage.get("uploads", "big.bin") == data
    assert blob.size == len(data)
    assert blob.md5_hash == base64.b64encode(hashlib.md5(data).digest()).decode()


def test_chunked_upload_sends_every_chunk_and_gets_one_generation(
    bucket: Any, fake_storage: Any
) -> None:
    data = _payload(3 * CHUNK + 1000)
    blob = bucket.blob("chunked", chunk_size=CHUNK)
    blob.upload_from_file(io.BytesIO(data), size=len(data))
    assert fake_storage.get("uploads", "chunked") == data
    assert len(fake_storage.generations("uploads", "chunked")) == 1


def test_upload_of_unknown_size_ends_when_the_stream_runs_dry(
    bucket: Any, fake_storage: Any
) -> None:
    data = _payload(2 * CHUNK + 17)
    blob = bucket.blob("unsized", chunk_size=CHUNK)
    blob.upload_from_file(_Unsized(data))
    assert fake_storage.get("uploads", "unsized") == data


def test_upload_of_unknown_size_that_is_a_multiple_of_the_chunk_finishes_empty(
    bucket: Any, fake_storage: Any
) -> None:
    data = _payload(2 * CHUNK)
    blob = bucket.blob("exact", chunk_size=CHUNK)
    blob.upload_from_file(_Unsized(data))
    assert fake_storage.get("uploads", "exact") == data


def test_blob_open_for_writing_uploads_on_close(bucket: Any, fake_storage: Any) -> None:
    blob = bucket.blob("written.txt")
    with blob.open("w", chunk_size=CHUNK) as handle:
        for line in range(40_000):
            handle.write(f"line {line}\n")
    text = fake_storage.get("uploads", "written.txt").decode()
    assert text.splitlines()[-1] == "line 39999"


def test_resumable_upload_keeps_metadata_from_the_initiating_request(bucket: Any) -> None:
    blob = bucket.blob("with-meta", chunk_size=CHUNK)
    blob.metadata = {"owner": "ana"}
    blob.cache_control = "no-cache"
    blob.upload_from_file(io.BytesIO(_payload(CHUNK + 1)), content_type="image/png")
    again = bucket.get_blob("with-meta")
    assert (again.metadata, again.cache_control, again.content_type) == (
        {"owner": "ana"},
        "no-cache",
        "image/png",
    )


def test_resumable_upload_precondition_fails_when_the_upload_completes(bucket: Any) -> None:
    bucket.blob("taken").upload_from_string("first")
    blob = bucket.blob("taken", chunk_size=CHUNK)
    with pytest.raises(exceptions.PreconditionFailed, match="pre-conditions you specified"):
        blob.upload_from_file(io.BytesIO(_payload(CHUNK + 1)), if_generation_match=0)
    assert bucket.blob("taken").download_as_text() == "first"


@pytest.mark.since("google-cloud-storage", "3.5.0", "upload_from_file(crc32c_checksum_value=...)")
def test_client_checksum_mismatch_on_the_final_chunk_is_rejected(
    bucket: Any, fake_storage: Any
) -> None:
    blob = bucket.blob("sealed", chunk_size=CHUNK)
    wrong = base64.b64encode(b"\x00\x00\x00\x00").decode()
    # The client quotes the raw JSON body of upload errors, hence the escaped quotes.
    with pytest.raises(exceptions.BadRequest, match=r'Provided CRC32C \\"AAAAAA==\\"'):
        blob.upload_from_file(io.BytesIO(_payload(CHUNK)), crc32c_checksum_value=wrong)
    assert fake_storage.objects("uploads") == []


def test_multipart_upload_with_a_wrong_md5_is_rejected_with_gcs_wording(bucket: Any) -> None:
    blob = bucket.blob("small")
    blob.md5_hash = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(exceptions.BadRequest, match="doesn't match calculated MD5 hash"):
        blob.upload_from_string(b"payload", checksum=None)


def test_session_uri_points_at_the_fake_and_answers_status_queries(bucket: Any) -> None:
    url = bucket.blob("session").create_resumable_upload_session(size=2 * CHUNK)
    assert url.startswith("https://storage.gcpfakes.invalid/upload/storage/v1/b/uploads/o?")
    with requests.Session() as http:
        fresh = http.put(url, headers={"Content-Range": "bytes */*"})
        assert (fresh.status_code, "Range" in fresh.headers) == (308, False)
        first = _payload(CHUNK)
        partial = http.put(
            url, data=first, headers={"Content-Range": f"bytes 0-{CHUNK - 1}/{2 * CHUNK}"}
        )
        assert (partial.status_code, partial.headers["Range"]) == (308, f"bytes=0-{CHUNK - 1}")
        status = http.put(url, headers={"Content-Range": "bytes */*"})
        assert status.headers["Range"] == f"bytes=0-{CHUNK - 1}"
        done = http.put(
            url,
            data=first,
            headers={"Content-Range": f"bytes {CHUNK}-{2 * CHUNK - 1}/{2 * CHUNK}"},
        )
        assert done.status_code == 200
        assert done.json()["size"] == str(2 * CHUNK)


def test_chunk_that_skips_ahead_of_persisted_bytes_is_rejected(bucket: Any) -> None:
    url = bucket.blob("gap").create_resumable_upload_session(size=2 * CHUNK)
    with requests.Session() as http:
        answer = http.put(
            url,
            data=_payload(CHUNK),
            headers={"Content-Range": f"bytes {CHUNK}-{2 * CHUNK - 1}/{2 * CHUNK}"},
        )
    assert answer.status_code == 400
    assert "exceeds already uploaded size of 0 byte(s)" in answer.json()["error"]["message"]


def test_cancelled_session_is_gone(bucket: Any) -> None:
    url = bucket.blob("cancel").create_resumable_upload_session()
    with requests.Session() as http:
        assert http.delete(url).status_code == 499
        assert http.put(url, headers={"Content-Range": "bytes */*"}).status_code == 404


class _DropsFirstChunkMidway:
    """WSGI wrapper: the first chunk reaches the fake only half-way, then the link drops."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.dropped = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        content_range = environ.get("HTTP_CONTENT_RANGE", "")
        if not self.dropped and environ["REQUEST_METHOD"] == "PUT" and "-" in content_range:
            self.dropped = True
            body = environ["wsgi.input"].read()
            half = len(body) // 2
            start = int(content_range.split()[1].split("-")[0])
            environ = dict(environ)
            environ["wsgi.input"] = io.BytesIO(body[:half])
            environ["CONTENT_LENGTH"] = str(half)
            environ["HTTP_CONTENT_RANGE"] = f"bytes {start}-{start + half - 1}/*"
            self.app(environ, lambda *args: None)
            raise requests.ConnectionError("connection reset mid-chunk (injected)")
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def test_upload_resumes_after_a_chunk_is_interrupted_midway(bucket: Any, fake_storage: Any) -> None:
    fake_storage.app = _DropsFirstChunkMidway(fake_storage.app)
    data = _payload(3 * CHUNK + 5)
    blob = bucket.blob("resumed", chunk_size=CHUNK)
    retry: Retry = FAST_RETRY
    blob.upload_from_file(io.BytesIO(data), retry=retry)
    assert fake_storage.app.dropped
    assert fake_storage.get("uploads", "resumed") == data
