"""XML API requests whose host names the bucket: virtual-hosted-style URLs
(``BUCKET.storage.googleapis.com/OBJECT``) and bucket-bound hostnames (``cdn.example.com/OBJECT``
served from the bucket named ``cdn.example.com``), as the real client signs them.

In-process, ``requests`` reaches the fake at its own base URL only; these tests send the
URL's path and query there with the ``Host`` header the URL names, as a CNAME or a load
balancer in front of GCS would. The loopback server's tests fetch the same URLs over a
socket (tests/server/test_storage_http.py).
"""

from __future__ import annotations

import datetime
import hashlib
import io
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import pytest
import requests
from google.api_core import exceptions
from google.cloud import storage

from pytest_gcpfakes._registry import STORAGE_BASE_URL
from pytest_gcpfakes.storage import _addressing
from pytest_gcpfakes.storage._routes import ROUTES

_FAKE = urlsplit(STORAGE_BASE_URL)


@pytest.fixture
def gcs(fake_storage: Any) -> Iterator[storage.Client]:
    fake_storage.put("signed", "report.pdf", b"%PDF")
    fake_storage.create_bucket("cdn.example.com")
    fake_storage.put("cdn.example.com", "img/logo.png", b"PNG")
    with closing(storage.Client()) as client:
        yield client


def _fetch(method: str, url: str, *, host: str | None = None, **kwargs: Any) -> requests.Response:
    """Send ``url``'s path and query to the in-process fake with the Host ``url`` names."""
    parts = urlsplit(url)
    headers = {"Host": host or parts.netloc, **kwargs.pop("headers", {})}
    target = urlunsplit((_FAKE.scheme, _FAKE.netloc, parts.path, parts.query, ""))
    with requests.Session() as http:
        return http.request(method, target, headers=headers, **kwargs)


def _xml_field(answer: requests.Response, field: str) -> str:
    element = ElementTree.fromstring(answer.content).find(field)
    assert element is not None, answer.text
    return element.text or ""


def _signed(client: storage.Client, bucket: str, name: str, **kwargs: Any) -> str:
    kwargs.setdefault("version", "v4")
    kwargs.setdefault("expiration", 300)
    url: str = client.bucket(bucket).blob(name).generate_signed_url(**kwargs)
    return url


# -- which host names which bucket ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "kind", "name"),
    [
        ("storage.googleapis.com", "path", "storage.googleapis.com"),
        ("storage.gcpfakes.invalid", "path", "storage.gcpfakes.invalid"),
        ("127.0.0.1:8080", "path", "127.0.0.1"),
        ("[::1]:8080", "path", "::1"),
        ("localhost:8080", "path", "localhost"),
        ("gcs:4443", "path", "gcs"),
        ("photos.storage.googleapis.com", "virtual", "photos"),
        ("my.photos.storage.googleapis.com", "virtual", "my.photos"),
        ("photos.storage.gcpfakes.invalid", "virtual", "photos"),
        ("photos.localhost:8080", "virtual", "photos"),
        ("photos.127.0.0.1:8080", "virtual", "photos"),
        ("Photos.Storage.GoogleAPIs.com", "virtual", "photos"),
        ("cdn.example.com", "bound", "cdn.example.com"),
        ("cdn.example.com:8080", "bound", "cdn.example.com"),
    ],
)
def test_hosts_are_classified_as_gcs_tells_them_apart(host: str, kind: str, name: str) -> None:
    assert _addressing.classify(host) == (kind, name)


def test_the_storage_emulator_hosts_name_is_one_of_the_fakes_own() -> None:
    assert _addressing.classify("photos.gcs:4443", "gcs") == ("virtual", "photos")
    assert _addressing.classify("gcs:4443", "gcs") == ("path", "gcs")


def test_every_xml_route_is_also_addressed_by_host() -> None:
    xml = [route for route in ROUTES if route.face == "xml"]

    def shape(route: Any) -> tuple[Any, ...]:
        path = route.path.removeprefix("/{bucket}") or "/"
        return (route.methods, path, route.api_method, route.handler, route.query, route.signed)

    by_path = [shape(r) for r in xml if r.addressed_by == "path"]
    by_host = [shape(r) for r in xml if r.addressed_by == "host"]
    assert by_path == by_host
    assert len(by_path) * 2 == len(xml)


# -- virtual-hosted-style ------------------------------------------------------------------------


def test_virtual_hosted_v4_url_serves_the_object(gcs: Any) -> None:
    url = _signed(gcs, "signed", "report.pdf", virtual_hosted_style=True)
    assert urlsplit(url)[1:3] == ("signed.storage.gcpfakes.invalid", "/report.pdf")
    answer = _fetch("GET", url)
    assert (answer.status_code, answer.content) == (200, b"%PDF")


def test_virtual_hosted_url_for_googles_own_host_is_served_too(gcs: Any) -> None:
    url = _signed(
        gcs,
        "signed",
        "report.pdf",
        virtual_hosted_style=True,
        api_access_endpoint="https://storage.googleapis.com",
    )
    assert url.startswith("https://signed.storage.googleapis.com/report.pdf?")
    assert _fetch("GET", url).content == b"%PDF"


def test_virtual_hosted_head_put_and_delete(gcs: Any, fake_storage: Any) -> None:
    head = _fetch(
        "HEAD", _signed(gcs, "signed", "report.pdf", method="HEAD", virtual_hosted_style=True)
    )
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "4", b"")
    put_url = _signed(
        gcs,
        "signed",
        "dir/new.txt",
        method="PUT",
        content_type="text/plain",
        virtual_hosted_style=True,
    )
    put = _fetch("PUT", put_url, data=b"new", headers={"Content-Type": "text/plain"})
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == f'"{hashlib.md5(b"new").hexdigest()}"'
    stored = fake_storage.object("signed", "dir/new.txt")
    assert (stored.data, stored.content_type) == (b"new", "text/plain")
    deleted = _fetch(
        "DELETE", _signed(gcs, "signed", "report.pdf", method="DELETE", virtual_hosted_style=True)
    )
    assert deleted.status_code == 204
    assert fake_storage.objects("signed") == ["dir/new.txt"]


@pytest.mark.parametrize("name", ["with space/ü.txt", "odd?#%+&=.txt", "signed/report.pdf"])
def test_virtual_hosted_url_for_any_valid_name(gcs: Any, fake_storage: Any, name: str) -> None:
    fake_storage.put("signed", name, b"payload")
    answer = _fetch("GET", _signed(gcs, "signed", name, virtual_hosted_style=True))
    assert (answer.status_code, answer.content) == (200, b"payload")


def test_virtual_hosted_resumable_url_starts_a_session_on_the_same_host(
    gcs: Any, fake_storage: Any
) -> None:
    url = _signed(gcs, "signed", "big.bin", method="RESUMABLE", virtual_hosted_style=True)
    started = _fetch("POST", url, headers={"x-goog-resumable": "start"})
    assert started.status_code == 201, started.text
    location = started.headers["Location"]
    assert location.startswith("https://signed.storage.gcpfakes.invalid/upload/")
    assert _fetch("PUT", location, data=b"x" * 1000).status_code == 200
    assert fake_storage.get("signed", "big.bin") == b"x" * 1000


def test_the_path_of_a_virtual_hosted_request_is_all_object_name(
    gcs: Any, fake_storage: Any
) -> None:
    # On a host that names a bucket, /other/report.pdf is the object "other/report.pdf" of
    # that bucket, never report.pdf in a bucket "other".
    fake_storage.put("other", "report.pdf", b"other bucket")
    fake_storage.put("signed", "other/report.pdf", b"nested")
    url = _signed(gcs, "signed", "other/report.pdf", virtual_hosted_style=True)
    assert _fetch("GET", url).content == b"nested"


@pytest.mark.parametrize(
    ("endpoint", "emulator"),
    [("http://localhost:4443", None), ("http://gcs:4443", "http://gcs:4443")],
    ids=["loopback", "storage-emulator-host"],
)
def test_virtual_hosted_url_on_an_explicit_endpoint_the_fake_serves(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch, endpoint: str, emulator: str | None
) -> None:
    # A client pointed at a loopback or $STORAGE_EMULATOR_HOST endpoint is served
    # in-process; its virtual-hosted URLs name BUCKET.<that host>.
    if emulator is not None:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    fake_storage.put("signed", "report.pdf", b"%PDF")
    with closing(storage.Client(client_options={"api_endpoint": endpoint})) as client:
        url = _signed(client, "signed", "report.pdf", virtual_hosted_style=True)
    parts = urlsplit(url)
    assert parts.netloc == "signed." + urlsplit(endpoint).netloc
    with requests.Session() as http:
        answer = http.get(f"{endpoint}{parts.path}?{parts.query}", headers={"Host": parts.netloc})
    assert (answer.status_code, answer.content) == (200, b"%PDF")


# -- bucket-bound hostnames ----------------------------------------------------------------------


def test_bucket_bound_hostname_url_serves_the_bucket_named_by_the_host(gcs: Any) -> None:
    url = _signed(gcs, "cdn.example.com", "img/logo.png", bucket_bound_hostname="cdn.example.com")
    assert urlsplit(url)[:3] == ("http", "cdn.example.com", "/img/logo.png")
    answer = _fetch("GET", url)
    assert (answer.status_code, answer.content) == (200, b"PNG")


def test_bucket_bound_hostname_put_head_and_delete(gcs: Any, fake_storage: Any) -> None:
    bound = {"bucket_bound_hostname": "https://cdn.example.com"}
    put = _fetch("PUT", _signed(gcs, "cdn.example.com", "a.txt", method="PUT", **bound), data=b"a")
    assert put.status_code == 200, put.text
    assert fake_storage.get("cdn.example.com", "a.txt") == b"a"
    head = _fetch("HEAD", _signed(gcs, "cdn.example.com", "a.txt", method="HEAD", **bound))
    assert (head.status_code, head.headers["Content-Length"]) == (200, "1")
    deleted = _fetch("DELETE", _signed(gcs, "cdn.example.com", "a.txt", method="DELETE", **bound))
    assert deleted.status_code == 204
    assert fake_storage.objects("cdn.example.com") == ["img/logo.png"]


def test_bucket_bound_hostname_without_its_bucket_is_404_no_such_bucket(gcs: Any) -> None:
    url = _signed(gcs, "files.example.org", "a.txt", bucket_bound_hostname="files.example.org")
    answer = _fetch("GET", url)
    assert answer.status_code == 404
    assert _xml_field(answer, "Code") == "NoSuchBucket"


def test_a_dotted_name_of_the_fake_itself_still_serves_path_style_urls(gcs: Any) -> None:
    # A container reaching the fake as host.docker.internal: no bucket has that name, and
    # the path's first segment is a bucket, so the URL is path-style.
    url = _signed(
        gcs, "signed", "report.pdf", api_access_endpoint="http://host.docker.internal:9023"
    )
    assert urlsplit(url)[1:3] == ("host.docker.internal:9023", "/signed/report.pdf")
    assert _fetch("GET", url).content == b"%PDF"


# -- errors keep the XML API's answers -----------------------------------------------------------


def test_missing_object_on_a_virtual_host_is_404_no_such_key(gcs: Any) -> None:
    answer = _fetch("GET", _signed(gcs, "signed", "gone.pdf", virtual_hosted_style=True))
    assert answer.status_code == 404
    assert _xml_field(answer, "Code") == "NoSuchKey"


def test_missing_bucket_on_a_virtual_host_is_404_no_such_bucket(gcs: Any) -> None:
    answer = _fetch("GET", _signed(gcs, "nowhere", "a.txt", virtual_hosted_style=True))
    assert answer.status_code == 404
    assert _xml_field(answer, "Code") == "NoSuchBucket"


@pytest.mark.parametrize(
    "host",
    ["storage.gcpfakes.invalid", "other.storage.gcpfakes.invalid", "cdn.example.com"],
)
def test_virtual_hosted_url_sent_to_another_host_is_403_signature_does_not_match(
    gcs: Any, fake_storage: Any, host: str
) -> None:
    fake_storage.put("other", "report.pdf", b"other")
    fake_storage.put("cdn.example.com", "report.pdf", b"cdn")
    url = _signed(gcs, "signed", "report.pdf", virtual_hosted_style=True)
    answer = _fetch("GET", url, host=host)
    assert answer.status_code == 403
    assert _xml_field(answer, "Code") == "SignatureDoesNotMatch"
    assert f"host:{host}\n" in _xml_field(answer, "CanonicalRequest")


def test_virtual_hosted_url_past_its_expiry_is_400_expired_token(
    gcs: Any, fake_storage: Any
) -> None:
    url = _signed(gcs, "signed", "report.pdf", virtual_hosted_style=True, expiration=60)
    fake_storage.clock.advance(61)
    answer = _fetch("GET", url)
    assert answer.status_code == 400
    assert _xml_field(answer, "Code") == "ExpiredToken"


@pytest.mark.parametrize(
    "addressing",
    [{"virtual_hosted_style": True}, {"bucket_bound_hostname": "signed.example.com"}],
    ids=["virtual-hosted", "bucket-bound"],
)
def test_v2_url_addressed_by_host_is_403_as_gcs_signs_the_bucket_into_v2(
    fake_storage: Any, addressing: dict[str, Any]
) -> None:
    # The client signs "/object"; GCS's V2 resource is always "/bucket/object", so it
    # refuses the URL (googleapis/python-storage#1031).
    fake_storage.put("signed.example.com", "report.pdf", b"%PDF")
    with closing(storage.Client()) as gcs:
        url = _signed(
            gcs,
            "signed.example.com",
            "report.pdf",
            version="v2",
            expiration=datetime.timedelta(minutes=5),
            **addressing,
        )
    answer = _fetch("GET", url)
    assert answer.status_code == 403
    assert _xml_field(answer, "StringToSign").endswith("\n/signed.example.com/report.pdf")


def test_requester_pays_bucket_on_a_virtual_host_needs_a_billing_project(
    gcs: Any, fake_storage: Any
) -> None:
    fake_storage.create_bucket("paid").requester_pays = True
    fake_storage.put("paid", "a.txt", b"a")
    url = _signed(gcs, "paid", "a.txt", virtual_hosted_style=True)
    assert _fetch("GET", url).content == b"a"  # the bucket's own project pays by default
    fake_storage.outside_caller = True
    refused = _fetch("GET", url)
    assert refused.status_code == 400
    assert _xml_field(refused, "Code") == "UserProjectMissing"
    assert _fetch("GET", url, headers={"x-goog-user-project": "payer"}).content == b"a"


# -- the host as sent and as signed --------------------------------------------------------------


def test_a_proxys_x_forwarded_host_names_the_bucket_and_is_what_was_signed(gcs: Any) -> None:
    url = _signed(
        gcs,
        "signed",
        "report.pdf",
        virtual_hosted_style=True,
        api_access_endpoint="https://storage.googleapis.com",
    )
    answer = _fetch(
        "GET",
        url,
        host=_FAKE.netloc,
        headers={"X-Forwarded-Host": "signed.storage.googleapis.com, proxy.internal"},
    )
    assert (answer.status_code, answer.content) == (200, b"%PDF")


# -- faults, forms, multipart --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "api_method"),
    [
        ("GET", "storage.objects.get"),
        ("PUT", "storage.objects.insert"),
        ("DELETE", "storage.objects.delete"),
    ],
)
def test_a_fault_fires_under_the_routes_method_id(
    gcs: Any, fake_storage: Any, method: str, api_method: str
) -> None:
    fake_storage.fail(api_method, exceptions.ServiceUnavailable)
    url = _signed(gcs, "signed", "report.pdf", method=method, virtual_hosted_style=True)
    answer = _fetch(method, url, data=b"" if method == "PUT" else None)
    assert answer.status_code == 503
    assert fake_storage.get("signed", "report.pdf") == b"%PDF"


@pytest.mark.parametrize(
    ("bucket", "addressing", "origin"),
    [
        ("signed", {"virtual_hosted_style": True}, "https://signed.storage.gcpfakes.invalid"),
        ("cdn.example.com", {"bucket_bound_hostname": "cdn.example.com"}, "http://cdn.example.com"),
    ],
    ids=["virtual-hosted", "bucket-bound"],
)
def test_post_policy_form_addressed_by_host_stores_the_file(
    gcs: Any, fake_storage: Any, bucket: str, addressing: dict[str, Any], origin: str
) -> None:
    policy = gcs.generate_signed_post_policy_v4(
        bucket, "up/a.bin", expiration=600, fields={"success_action_status": "201"}, **addressing
    )
    assert policy["url"] == f"{origin}/"
    answer = _fetch(
        "POST", policy["url"], data=policy["fields"], files={"file": io.BytesIO(b"form")}
    )
    assert answer.status_code == 201, answer.text
    host = urlsplit(origin).netloc
    assert _xml_field(answer, "Location") == f"{_FAKE.scheme}://{host}/up%2Fa.bin"
    assert _xml_field(answer, "Bucket") == bucket
    assert fake_storage.get(bucket, "up/a.bin") == b"form"


def test_xml_multipart_upload_on_a_virtual_host(fake_storage: Any) -> None:
    fake_storage.create_bucket("parts")
    url = "https://parts.storage.googleapis.com/joined.bin"
    started = _fetch("POST", url + "?uploads")
    assert started.status_code == 200, started.text
    namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    upload_id = _xml_field(started, f"{namespace}UploadId")
    assert _xml_field(started, f"{namespace}Bucket") == "parts"
    for number, data in ((1, b"first,"), (2, b"second")):
        part = _fetch("PUT", f"{url}?partNumber={number}&uploadId={upload_id}", data=data)
        assert part.status_code == 200
    body = (
        "<CompleteMultipartUpload>"
        + "".join(f"<Part><PartNumber>{n}</PartNumber></Part>" for n in (1, 2))
        + "</CompleteMultipartUpload>"
    )
    done = _fetch("POST", f"{url}?uploadId={upload_id}", data=body)
    assert done.status_code == 200, done.text
    assert (
        _xml_field(done, f"{namespace}Location")
        == "https://parts.storage.googleapis.com/joined.bin"
    )
    assert fake_storage.get("parts", "joined.bin") == b"first,second"


def test_a_signed_bucket_url_lists_its_objects_on_the_bucket_host(gcs: Any) -> None:
    # A signed bucket URL is GET Bucket, the XML API's object listing
    # (tests/storage/test_signed_bucket_listing.py has the rest).
    url = gcs.bucket("signed").generate_signed_url(
        version="v4", expiration=60, virtual_hosted_style=True
    )
    answer = _fetch("GET", url)
    assert answer.status_code == 200, answer.text
    assert "<Key>report.pdf</Key>" in answer.text
