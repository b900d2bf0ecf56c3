"""In-process requests read as a server reads them: links, chunked bodies, ``_`` headers.

The same behaviours over a real socket are in ``tests/server/test_storage_http.py``.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import requests
from google.cloud import storage
from google.cloud.storage import transfer_manager

HOST = "https://storage.gcpfakes.invalid"
KIB = 1024


def test_links_name_the_in_process_host(client: Any) -> None:
    bucket = client.create_bucket("links")
    blob = bucket.blob("dir/a.txt")
    blob.upload_from_string("a")
    assert bucket.self_link == f"{HOST}/storage/v1/b/links"
    assert blob.self_link == f"{HOST}/storage/v1/b/links/o/dir%2Fa.txt"
    assert blob.media_link.startswith(f"{HOST}/download/storage/v1/b/links/o/dir%2Fa.txt?")
    assert blob.create_resumable_upload_session().startswith(f"{HOST}/upload/storage/v1/b/")


def test_notification_payload_links_name_the_in_process_host(client: Any, fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("events")
    bucket = client.create_bucket("watched")
    bucket.notification(topic_name="events", payload_format="JSON_API_V1").create()
    bucket.blob("a.txt").upload_from_string("a")
    payload = json.loads(fake_pubsub.published("events")[-1].data)
    assert payload["selfLink"] == f"{HOST}/storage/v1/b/watched/o/a.txt"
    assert payload["mediaLink"].startswith(f"{HOST}/download/")


def test_a_notification_raised_outside_any_request_links_in_process(
    fake_storage: Any, fake_pubsub: Any, client: Any
) -> None:
    fake_pubsub.create_topic("events")
    bucket = client.create_bucket("watched")
    bucket.notification(topic_name="events", payload_format="JSON_API_V1").create()
    fake_storage.put("watched", "arranged.txt", "a")
    payload = json.loads(fake_pubsub.published("events")[-1].data)
    assert payload["selfLink"] == f"{HOST}/storage/v1/b/watched/o/arranged.txt"


def _chunks() -> Iterator[bytes]:
    yield b"first,"
    yield b"second,"
    yield b"third"


def test_a_chunked_body_without_content_length_is_read_whole(
    client: Any, fake_storage: Any
) -> None:
    url = client.create_bucket("raw").blob("chunked.txt").create_resumable_upload_session()
    # requests sends a generator with Transfer-Encoding: chunked and no Content-Length.
    answer = requests.put(url, data=_chunks())
    assert answer.status_code == 200, answer.text
    assert fake_storage.get("raw", "chunked.txt") == b"first,second,third"


def test_metadata_names_with_underscores_survive_an_xml_multipart_upload(
    client: Any, fake_storage: Any, tmp_path: Path
) -> None:
    source = tmp_path / "parts.bin"
    source.write_bytes(b"p" * (3 * KIB))
    blob = client.create_bucket("parts").blob("joined.bin")
    blob.metadata = {"key_a": "1", "key-b": "2"}
    transfer_manager.upload_chunks_concurrently(
        str(source), blob, chunk_size=KIB, worker_type=transfer_manager.THREAD
    )
    assert dict(fake_storage.object("parts", "joined.bin").metadata) == {
        "key_a": "1",
        "key-b": "2",
    }


def test_a_signed_put_keeps_metadata_names_with_underscores(fake_storage: Any) -> None:
    fake_storage.create_bucket("signed")
    headers = {"x-goog-meta-key_a": "1"}
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("signed")
            .blob("a.txt")
            .generate_signed_url(version="v4", method="PUT", expiration=60, headers=headers)
        )
    answer = requests.put(url, data=b"a", headers=headers)
    assert answer.status_code == 200, answer.text
    assert dict(fake_storage.object("signed", "a.txt").metadata) == {"key_a": "1"}


def test_a_v2_signed_put_keeps_metadata_names_with_underscores(fake_storage: Any) -> None:
    fake_storage.create_bucket("signed")
    headers = {"x-goog-meta-key_a": "1"}  # V2 signs it as an extension header
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("signed")
            .blob("a.txt")
            .generate_signed_url(
                version="v2",
                method="PUT",
                expiration=datetime.timedelta(minutes=1),
                headers=headers,
            )
        )
    answer = requests.put(url, data=b"a", headers=headers)
    assert answer.status_code == 200, answer.text
    assert dict(fake_storage.object("signed", "a.txt").metadata) == {"key_a": "1"}


def test_a_post_response_location_names_the_in_process_host(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox", "a.bin", expiration=60, fields={"success_action_status": "201"}
        )
    answer = requests.post(policy["url"], data=policy["fields"], files={"file": io.BytesIO(b"a")})
    assert answer.status_code == 201, answer.text
    location = ElementTree.fromstring(answer.content).findtext("Location")
    assert location == f"{HOST}/inbox/a.bin"
