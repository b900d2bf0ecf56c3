"""Decompressive transcoding of gzip-encoded objects, through the real client.

GCS serves an object stored with ``Content-Encoding: gzip`` as stored when the request
accepts gzip (the Python client always asks for it, and decodes itself), and decompressed,
whole, when it does not (cloud.google.com/storage/docs/transcoding).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from contextlib import closing
from typing import Any

import pytest
from google.cloud import storage

try:
    from google.cloud.storage.exceptions import DataCorruption
except ImportError:  # google-cloud-storage < 3.0 raises google-resumable-media's
    from google.resumable_media.common import DataCorruption  # type: ignore[no-redef]

TEXT = b"a line of text that compresses well\n" * 200
STORED = gzip.compress(TEXT, mtime=0)


class _Wire:
    """WSGI wrapper that records the status and headers of every media download."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers: list[tuple[int, dict[str, str]]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def spy(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if "alt=media" in environ["QUERY_STRING"]:
                self.answers.append((int(status.split()[0]), dict(headers)))
            return start_response(status, headers, exc_info)

        result: Iterable[bytes] = self.app(environ, spy)
        return result


@pytest.fixture
def wire(fake_storage: Any) -> _Wire:
    spy = _Wire(fake_storage.app)
    fake_storage.app = spy
    return spy


@pytest.fixture
def client(fake_storage: Any) -> Any:
    with closing(storage.Client()) as gcs:
        gcs.create_bucket("web")
        yield gcs


@pytest.fixture
def no_gzip_client(client: Any) -> Any:
    """A client whose downloads do not accept gzip (it overrides the library's header)."""
    with closing(storage.Client(extra_headers={"accept-encoding": "identity"})) as gcs:
        yield gcs


def _upload(client: Any, name: str = "page.txt", **fields: Any) -> Any:
    blob = client.bucket("web").blob(name)
    blob.content_encoding = "gzip"
    for key, value in fields.items():
        setattr(blob, key, value)
    blob.upload_from_string(STORED, content_type="text/plain")
    return blob


def test_gzip_object_downloads_decompressed_as_the_client_decodes_it(
    client: Any, wire: _Wire
) -> None:
    _upload(client)
    assert client.bucket("web").blob("page.txt").download_as_bytes() == TEXT
    ((status, headers),) = wire.answers
    # Sent compressed: the client asked for gzip and decoded (and checksummed) it itself.
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert headers["Content-Length"] == str(len(STORED))


def test_raw_download_returns_the_stored_gzip_bytes(client: Any) -> None:
    _upload(client)
    assert client.bucket("web").blob("page.txt").download_as_bytes(raw_download=True) == STORED


def test_ranged_download_that_accepts_gzip_gets_that_range_of_the_stored_bytes(
    client: Any, wire: _Wire
) -> None:
    _upload(client)
    blob = client.bucket("web").blob("page.txt")
    assert blob.download_as_bytes(start=2, end=9, raw_download=True) == STORED[2:10]
    assert wire.answers[0][0] == 206


def test_request_that_does_not_accept_gzip_gets_the_object_decompressed(
    client: Any, no_gzip_client: Any, wire: _Wire
) -> None:
    _upload(client)
    blob = no_gzip_client.bucket("web").blob("page.txt")
    assert blob.download_as_bytes(checksum=None) == TEXT
    ((status, headers),) = wire.answers
    assert status == 200
    assert "Content-Encoding" not in headers
    assert "Content-Length" not in headers
    assert headers["x-goog-stored-content-encoding"] == "gzip"
    assert headers["x-goog-stored-content-length"] == str(len(STORED))
    assert headers["Warning"] == "214 UploadServer gunzipped"


def test_transcoded_download_fails_the_clients_checksum_as_it_does_on_gcs(
    client: Any, no_gzip_client: Any
) -> None:
    # x-goog-hash describes the stored, compressed bytes; the client hashes what it received.
    _upload(client)
    with pytest.raises(DataCorruption):
        no_gzip_client.bucket("web").blob("page.txt").download_as_bytes()


def test_transcoding_ignores_the_range_and_sends_the_whole_object(
    client: Any, no_gzip_client: Any, wire: _Wire
) -> None:
    _upload(client)
    blob = no_gzip_client.bucket("web").blob("page.txt")
    assert blob.download_as_bytes(start=2, end=9, checksum=None) == TEXT
    ((status, headers),) = wire.answers
    assert status == 200
    assert "Content-Range" not in headers


def test_gzip_refused_with_q_zero_is_not_accepted(client: Any, wire: _Wire) -> None:
    _upload(client)
    with closing(storage.Client(extra_headers={"accept-encoding": "gzip;q=0, identity"})) as gcs:
        assert gcs.bucket("web").blob("page.txt").download_as_bytes(checksum=None) == TEXT
    assert "Content-Encoding" not in wire.answers[0][1]


def test_no_transform_serves_the_stored_bytes_even_without_accept_gzip(
    client: Any, no_gzip_client: Any, wire: _Wire
) -> None:
    _upload(client, cache_control="public, no-transform")
    # Served compressed, so the client decodes it and its checksum holds.
    assert no_gzip_client.bucket("web").blob("page.txt").download_as_bytes() == TEXT
    assert wire.answers[0][1]["Content-Encoding"] == "gzip"


def test_objects_without_gzip_encoding_are_never_transcoded(
    client: Any, no_gzip_client: Any, wire: _Wire
) -> None:
    client.bucket("web").blob("plain.bin").upload_from_string(STORED)
    assert no_gzip_client.bucket("web").blob("plain.bin").download_as_bytes() == STORED
    assert "Content-Encoding" not in wire.answers[0][1]


def test_object_labelled_gzip_whose_bytes_are_not_gzip_is_served_as_stored(
    client: Any, no_gzip_client: Any, wire: _Wire
) -> None:
    blob = client.bucket("web").blob("liar.txt")
    blob.content_encoding = "gzip"
    blob.upload_from_string(b"not compressed at all")
    raw = no_gzip_client.bucket("web").blob("liar.txt").download_as_bytes(raw_download=True)
    assert raw == b"not compressed at all"
    assert wire.answers[0][1]["Content-Encoding"] == "gzip"
