"""The Storage fake over a real loopback socket, through the real client and plain HTTP.

One server lives for the whole module and serves whichever Storage fake is current, so
each test's fresh ``fake_storage`` is what the client reaches over the socket.
"""

from __future__ import annotations

import datetime
import io
import json
import socket
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage import transfer_manager

from pytest_gcpfakes.server._http import (
    NO_STORAGE_FAKE,
    HttpServer,
    serve_wsgi,
    storage_server_app,
)

KIB = 1024


@dataclass
class Seen:
    """WSGI wrapper: what reached the server through its socket."""

    app: Any
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.requests.append(dict(environ))
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    def uris(self, method: str) -> list[str]:
        return [r["RAW_URI"] for r in self.requests if r["REQUEST_METHOD"] == method]


@dataclass
class Served:
    server: HttpServer
    seen: Seen

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def module_server() -> Iterator[Served]:
    seen = Seen(storage_server_app)
    server = serve_wsgi(seen)
    yield Served(server, seen)
    server.stop()


@pytest.fixture
def served(module_server: Served) -> Iterator[Served]:
    module_server.seen.requests.clear()
    yield module_server
    module_server.server.check()  # an error in the server thread fails the test


@pytest.fixture
def gcs(fake_storage: Any, served: Served) -> Iterator[storage.Client]:
    """The real client with an explicit loopback endpoint: the plugin leaves it alone."""
    with closing(
        storage.Client(
            project="test-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": served.url},
        )
    ) as client:
        yield client


@pytest.fixture
def signer(fake_storage: Any, served: Served) -> Iterator[storage.Client]:
    """A client without credentials (the plugin's fake signer) on the server's endpoint."""
    with closing(storage.Client(client_options={"api_endpoint": served.url})) as client:
        yield client


def _payload(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def test_client_requests_go_over_the_socket(gcs: Any, served: Served, fake_storage: Any) -> None:
    gcs.create_bucket("over-http")
    assert served.seen.uris("POST") == ["/storage/v1/b?project=test-project&prettyPrint=false"]
    assert served.seen.requests[0]["HTTP_HOST"] == served.url.removeprefix("http://")
    assert fake_storage.buckets == ["over-http"]


def test_small_upload_is_multipart_and_downloads_back(gcs: Any, served: Served) -> None:
    blob = gcs.create_bucket("small").blob("a.txt")
    blob.upload_from_string(b"hello over http")
    assert any("uploadType=multipart" in uri for uri in served.seen.uris("POST"))
    assert gcs.bucket("small").blob("a.txt").download_as_bytes() == b"hello over http"


def test_resumable_upload_sends_its_chunks_to_the_servers_session_uri(
    gcs: Any, served: Served, fake_storage: Any
) -> None:
    data = _payload(600 * KIB)
    blob = gcs.create_bucket("big").blob("big.bin")
    blob.chunk_size = 256 * KIB
    blob.upload_from_file(io.BytesIO(data))
    assert any("uploadType=resumable" in uri for uri in served.seen.uris("POST"))
    # The client PUTs each chunk to the Location it got: here, only if it named the server.
    assert len(served.seen.uris("PUT")) == 3
    assert fake_storage.get("big", "big.bin") == data


def test_links_name_the_servers_address(gcs: Any, served: Served) -> None:
    bucket = gcs.create_bucket("links")
    blob = bucket.blob("dir/a.txt")
    blob.upload_from_string("a")
    assert bucket.self_link == f"{served.url}/storage/v1/b/links"
    assert blob.self_link == f"{served.url}/storage/v1/b/links/o/dir%2Fa.txt"
    assert blob.media_link.startswith(f"{served.url}/download/storage/v1/b/links/o/")
    assert blob.create_resumable_upload_session().startswith(f"{served.url}/upload/")


def test_download_and_ranged_download(gcs: Any, served: Served, fake_storage: Any) -> None:
    data = _payload(10 * KIB)
    fake_storage.put("files", "data.bin", data)
    blob = gcs.bucket("files").blob("data.bin")
    assert blob.download_as_bytes() == data
    assert blob.download_as_bytes(start=100, end=199) == data[100:200]
    ranges = [r.get("HTTP_RANGE") for r in served.seen.requests if r["REQUEST_METHOD"] == "GET"]
    assert ranges[-1] == "bytes=100-199"


def test_a_head_of_the_media_link_answers_the_size_without_a_body(
    gcs: Any, fake_storage: Any
) -> None:
    fake_storage.put("files", "data.bin", _payload(KIB))
    blob = gcs.bucket("files").get_blob("data.bin")
    answer = requests.head(blob.media_link)
    assert (answer.status_code, answer.headers["Content-Length"], answer.content) == (
        200,
        str(KIB),
        b"",
    )


def test_blob_open_reads_over_the_socket(gcs: Any, fake_storage: Any) -> None:
    data = _payload(20 * KIB)
    fake_storage.put("files", "data.bin", data)
    with gcs.bucket("files").blob("data.bin").open("rb", chunk_size=4 * KIB) as handle:
        handle.seek(8 * KIB)
        assert handle.read(10) == data[8 * KIB : 8 * KIB + 10]


def test_listing_with_prefixes_and_pages(gcs: Any, fake_storage: Any) -> None:
    for name in ["a/1", "a/2", "b/1", "c"]:
        fake_storage.put("listed", name, name)
    iterator = gcs.list_blobs("listed", delimiter="/")
    assert [blob.name for blob in iterator] == ["c"]
    assert iterator.prefixes == {"a/", "b/"}
    pages = gcs.list_blobs("listed", max_results=None, page_size=2).pages
    assert [[blob.name for blob in page] for page in pages] == [["a/1", "a/2"], ["b/1", "c"]]


def test_state_is_shared_with_fake_storage_both_ways(gcs: Any, fake_storage: Any) -> None:
    fake_storage.put("shared", "arranged.txt", "from the test")
    bucket = gcs.bucket("shared")
    assert bucket.blob("arranged.txt").download_as_text() == "from the test"
    bucket.blob("uploaded.txt").upload_from_string("from the client")
    assert fake_storage.get("shared", "uploaded.txt") == b"from the client"


def _chunks() -> Iterator[bytes]:
    yield b"first,"
    yield b"second,"
    yield b"third"


def test_a_chunked_raw_upload_reaches_the_fake_whole(
    gcs: Any, served: Served, fake_storage: Any
) -> None:
    url = gcs.create_bucket("raw").blob("chunked.txt").create_resumable_upload_session()
    answer = requests.put(url, data=_chunks())
    assert answer.status_code == 200, answer.text
    put = next(r for r in served.seen.requests if r["REQUEST_METHOD"] == "PUT")
    assert (put.get("HTTP_TRANSFER_ENCODING"), put.get("CONTENT_LENGTH")) == ("chunked", None)
    assert fake_storage.get("raw", "chunked.txt") == b"first,second,third"


def test_metadata_names_with_underscores_survive_an_xml_multipart_upload(
    gcs: Any, served: Served, fake_storage: Any, tmp_path: Path
) -> None:
    source = tmp_path / "parts.bin"
    source.write_bytes(_payload(3 * KIB))
    blob = gcs.create_bucket("parts").blob("joined.bin")
    blob.metadata = {"key_a": "1", "key-b": "2"}
    transfer_manager.upload_chunks_concurrently(
        str(source), blob, chunk_size=KIB, worker_type=transfer_manager.THREAD
    )
    assert any("uploads" in uri.split("?", 1)[1] for uri in served.seen.uris("POST"))
    stored = fake_storage.object("parts", "joined.bin")
    assert stored.data == source.read_bytes()
    assert dict(stored.metadata) == {"key_a": "1", "key-b": "2"}


def test_a_signed_url_is_served_to_plain_requests_over_the_socket(
    signer: Any, served: Served, fake_storage: Any
) -> None:
    fake_storage.put("signed", "report.pdf", b"%PDF")
    url = (
        signer.bucket("signed")
        .blob("report.pdf")
        .generate_signed_url(version="v4", api_access_endpoint=served.url, expiration=300)
    )
    assert url.startswith(f"{served.url}/signed/report.pdf?")
    answer = requests.get(url)
    assert (answer.status_code, answer.content) == (200, b"%PDF")
    assert served.seen.uris("GET")[-1].startswith("/signed/report.pdf?X-Goog-Algorithm=")


def test_a_signed_put_keeps_metadata_names_with_underscores(signer: Any, fake_storage: Any) -> None:
    fake_storage.create_bucket("signed")
    headers = {"x-goog-meta-key_a": "1"}
    url = (
        signer.bucket("signed")
        .blob("a.txt")
        .generate_signed_url(version="v4", method="PUT", expiration=60, headers=headers)
    )
    answer = requests.put(url, data=b"a", headers=headers)
    assert answer.status_code == 200, answer.text
    assert dict(fake_storage.object("signed", "a.txt").metadata) == {"key_a": "1"}


def test_a_v2_signed_put_keeps_metadata_names_with_underscores(
    signer: Any, fake_storage: Any
) -> None:
    fake_storage.create_bucket("signed")
    headers = {"x-goog-meta-key_a": "1"}
    url = (
        signer.bucket("signed")
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


def test_a_post_form_keeps_metadata_names_with_underscores(signer: Any, fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    policy = signer.generate_signed_post_policy_v4(
        "inbox", "a.bin", expiration=60, fields={"x-goog-meta-key_a": "1"}
    )
    answer = requests.post(policy["url"], data=policy["fields"], files={"file": b"x"})
    assert answer.status_code == 204, answer.text
    assert dict(fake_storage.object("inbox", "a.bin").metadata) == {"key_a": "1"}


def test_a_post_response_location_names_the_servers_address(
    signer: Any, served: Served, fake_storage: Any
) -> None:
    fake_storage.create_bucket("inbox")
    policy = signer.generate_signed_post_policy_v4(
        "inbox", "a.bin", expiration=60, fields={"success_action_status": "201"}
    )
    assert policy["url"] == f"{served.url}/inbox/"
    answer = requests.post(policy["url"], data=policy["fields"], files={"file": io.BytesIO(b"a")})
    assert answer.status_code == 201, answer.text
    location = ElementTree.fromstring(answer.content).findtext("Location")
    assert location == f"{served.url}/inbox/a.bin"


def _by_host(served: Served, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send ``url`` to the server with the Host it names (no resolver knows these names)."""
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, **kwargs.pop("headers", {})}
    return requests.request(
        method, f"{served.url}{parts.path}?{parts.query}", headers=headers, **kwargs
    )


def _code(answer: requests.Response) -> str:
    return ElementTree.fromstring(answer.content).findtext("Code") or ""


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        (None, "signed.127.0.0.1:{port}"),
        ("http://localhost:{port}", "signed.localhost:{port}"),
        ("https://storage.googleapis.com", "signed.storage.googleapis.com"),
    ],
    ids=["loopback-ip", "localhost", "google"],
)
def test_virtual_hosted_signed_urls_are_served_by_their_host_header(
    signer: Any, served: Served, fake_storage: Any, endpoint: str | None, host: str
) -> None:
    fake_storage.put("signed", "report.pdf", b"%PDF")
    blob = signer.bucket("signed").blob("report.pdf")
    port = served.server.port
    options: dict[str, Any] = {"version": "v4", "expiration": 300, "virtual_hosted_style": True}
    if endpoint is not None:
        options["api_access_endpoint"] = endpoint.format(port=port)

    url = blob.generate_signed_url(**options)
    assert urlsplit(url)[1:3] == (host.format(port=port), "/report.pdf")
    got = _by_host(served, "GET", url)
    assert (got.status_code, got.content) == (200, b"%PDF")
    assert served.seen.requests[-1]["HTTP_HOST"] == host.format(port=port)
    head = _by_host(served, "HEAD", blob.generate_signed_url(method="HEAD", **options))
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "4", b"")
    put_url = signer.bucket("signed").blob("new.txt").generate_signed_url(method="PUT", **options)
    assert _by_host(served, "PUT", put_url, data=b"new").status_code == 200
    assert fake_storage.get("signed", "new.txt") == b"new"
    deleted = _by_host(served, "DELETE", blob.generate_signed_url(method="DELETE", **options))
    assert deleted.status_code == 204
    assert fake_storage.objects("signed") == ["new.txt"]


def test_bucket_bound_hostname_signed_urls_are_served_from_the_bucket_named_by_the_host(
    signer: Any, served: Served, fake_storage: Any
) -> None:
    fake_storage.create_bucket("cdn.example.com")
    bucket = signer.bucket("cdn.example.com")
    options = {"version": "v4", "expiration": 300, "bucket_bound_hostname": "cdn.example.com"}
    put_url = bucket.blob("img/logo.png").generate_signed_url(method="PUT", **options)
    assert put_url.startswith("http://cdn.example.com/img/logo.png?")
    assert _by_host(served, "PUT", put_url, data=b"PNG").status_code == 200
    got = _by_host(served, "GET", bucket.blob("img/logo.png").generate_signed_url(**options))
    assert (got.status_code, got.content) == (200, b"PNG")
    head_url = bucket.blob("img/logo.png").generate_signed_url(method="HEAD", **options)
    assert _by_host(served, "HEAD", head_url).headers["Content-Length"] == "3"
    delete_url = bucket.blob("img/logo.png").generate_signed_url(method="DELETE", **options)
    assert _by_host(served, "DELETE", delete_url).status_code == 204
    assert fake_storage.objects("cdn.example.com") == []


def test_urls_addressed_by_host_keep_the_xml_apis_errors_over_the_socket(
    signer: Any, served: Served, fake_storage: Any
) -> None:
    fake_storage.create_bucket("signed")
    options = {"version": "v4", "expiration": 300, "virtual_hosted_style": True}
    gone = signer.bucket("signed").blob("gone.pdf").generate_signed_url(**options)
    missing = _by_host(served, "GET", gone)
    assert (missing.status_code, _code(missing)) == (404, "NoSuchKey")
    nowhere = signer.bucket("nowhere").blob("a.txt").generate_signed_url(**options)
    assert _code(_by_host(served, "GET", nowhere)) == "NoSuchBucket"
    unbound = (
        signer.bucket("files.example.org")
        .blob("a.txt")
        .generate_signed_url(
            version="v4", expiration=300, bucket_bound_hostname="files.example.org"
        )
    )
    assert _code(_by_host(served, "GET", unbound)) == "NoSuchBucket"
    # The host is signed: the same URL sent with another bucket's host is refused.
    fake_storage.put("other", "gone.pdf", b"other")
    moved = _by_host(served, "GET", gone, headers={"Host": f"other.127.0.0.1:{served.server.port}"})
    assert (moved.status_code, _code(moved)) == (403, "SignatureDoesNotMatch")


def test_a_post_policy_form_on_a_virtual_host_over_the_socket(
    signer: Any, served: Served, fake_storage: Any
) -> None:
    fake_storage.create_bucket("inbox")
    policy = signer.generate_signed_post_policy_v4(
        "inbox",
        "a.bin",
        expiration=60,
        fields={"success_action_status": "201"},
        virtual_hosted_style=True,
    )
    host = f"inbox.127.0.0.1:{served.server.port}"
    assert policy["url"] == f"http://{host}/"
    answer = requests.post(
        f"{served.url}/",
        data=policy["fields"],
        files={"file": io.BytesIO(b"a")},
        headers={"Host": host},
    )
    assert answer.status_code == 201, answer.text
    assert ElementTree.fromstring(answer.content).findtext("Location") == f"http://{host}/a.bin"
    assert fake_storage.get("inbox", "a.bin") == b"a"


def test_notification_payload_links_name_the_servers_address(
    gcs: Any, served: Served, fake_pubsub: Any
) -> None:
    fake_pubsub.create_topic("events")
    bucket = gcs.create_bucket("watched")
    bucket.notification(
        topic_name="events", topic_project="test-project", payload_format="JSON_API_V1"
    ).create()
    bucket.blob("a.txt").upload_from_string("a")
    payload = json.loads(fake_pubsub.published("events")[-1].data)
    assert payload["selfLink"] == f"{served.url}/storage/v1/b/watched/o/a.txt"
    assert payload["mediaLink"].startswith(f"{served.url}/download/")


def test_without_a_storage_fake_the_server_answers_400_saying_how_to_get_one(
    served: Served,
) -> None:
    answer = requests.get(f"{served.url}/storage/v1/b?project=test-project")
    assert answer.status_code == 400  # not retried: the client fails at once
    assert answer.json() == {
        "error": {
            "code": 400,
            "message": NO_STORAGE_FAKE,
            "errors": [
                {"message": NO_STORAGE_FAKE, "domain": "global", "reason": "failedPrecondition"}
            ],
        }
    }
    assert "fake_storage fixture" in NO_STORAGE_FAKE
    assert "GCPFakes()" in NO_STORAGE_FAKE


def test_stop_frees_the_port() -> None:
    server = serve_wsgi(storage_server_app)
    port = server.port
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    again = serve_wsgi(storage_server_app, port=port)  # the same port, bound anew
    try:
        assert again.port == port
    finally:
        again.stop()
    server.stop()  # idempotent


def test_an_error_in_the_app_is_answered_500_and_raised_by_check() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("broken app")

    with serve_wsgi(broken) as server:
        answer = requests.get(server.url)
        assert answer.status_code == 500
        with pytest.raises(RuntimeError, match="broken app"):
            server.check()
