"""A bucket-level signed URL (bucket.generate_signed_url()): the XML API's object listing,
path-style and virtual-hosted, fetched as a browser or another HTTP client would."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import pytest
import requests
from google.cloud import storage

from pytest_gcpfakes._registry import STORAGE_BASE_URL

NS = "{http://doc.s3.amazonaws.com/2006-03-01}"
_FAKE = urlsplit(STORAGE_BASE_URL)


@pytest.fixture
def gcs(fake_storage: Any) -> Iterator[storage.Client]:
    for name in ("a.txt", "dir/b.txt", "dir/c.txt", "z.txt"):
        fake_storage.put("listed", name, name.encode())
    with closing(storage.Client()) as client:
        yield client


def fetch(url: str, **params: str) -> requests.Response:
    """GET ``url`` (more query parameters appended unsigned would break the signature, so
    they are signed in by the caller) through the in-process fake, with its Host."""
    parts = urlsplit(url)
    target = urlunsplit((_FAKE.scheme, _FAKE.netloc, parts.path, parts.query, ""))
    with requests.Session() as http:
        return http.get(target, headers={"Host": parts.netloc})


def listing_url(client: storage.Client, **kwargs: Any) -> str:
    kwargs.setdefault("version", "v4")
    kwargs.setdefault("expiration", datetime.timedelta(minutes=5))
    url: str = client.bucket("listed").generate_signed_url(**kwargs)
    return url


def keys(answer: requests.Response) -> list[str]:
    root = ElementTree.fromstring(answer.content)
    return [element.text or "" for element in root.iter(f"{NS}Key")]


def field(answer: requests.Response, name: str) -> str | None:
    element = ElementTree.fromstring(answer.content).find(f"{NS}{name}")
    return None if element is None else element.text or ""


def test_a_signed_bucket_url_lists_its_objects(gcs: storage.Client) -> None:
    answer = fetch(listing_url(gcs))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert keys(answer) == ["a.txt", "dir/b.txt", "dir/c.txt", "z.txt"]
    assert (field(answer, "Name"), field(answer, "IsTruncated")) == ("listed", "false")


def test_each_listed_object_has_gcs_fields(gcs: storage.Client, fake_storage: Any) -> None:
    answer = fetch(listing_url(gcs))
    first = ElementTree.fromstring(answer.content).find(f"{NS}Contents")
    assert first is not None
    version = fake_storage.object("listed", "a.txt")
    assert [child.tag.removeprefix(NS) for child in first] == [
        "Key",
        "Generation",
        "MetaGeneration",
        "LastModified",
        "ETag",
        "Size",
    ]
    assert first.findtext(f"{NS}Generation") == str(version.generation)
    assert first.findtext(f"{NS}Size") == "5"


def test_a_virtual_hosted_signed_bucket_url_lists_its_objects(gcs: storage.Client) -> None:
    answer = fetch(listing_url(gcs, virtual_hosted_style=True))
    assert answer.status_code == 200, answer.text
    assert keys(answer) == ["a.txt", "dir/b.txt", "dir/c.txt", "z.txt"]


def test_a_v2_signed_bucket_url_lists_its_objects(gcs: storage.Client) -> None:
    answer = fetch(listing_url(gcs, version="v2"))
    assert answer.status_code == 200, answer.text
    assert len(keys(answer)) == 4


def test_prefix_and_delimiter_fold_names_into_common_prefixes(gcs: storage.Client) -> None:
    url = listing_url(gcs, query_parameters={"delimiter": "/"})
    answer = fetch(url)
    root = ElementTree.fromstring(answer.content)
    assert keys(answer) == ["a.txt", "z.txt"]
    assert [p.text or "" for p in root.iter(f"{NS}Prefix")] == ["", "dir/"]
    answer = fetch(listing_url(gcs, query_parameters={"prefix": "dir/"}))
    assert keys(answer) == ["dir/b.txt", "dir/c.txt"]


def test_max_keys_truncates_and_next_marker_resumes(gcs: storage.Client) -> None:
    first = fetch(listing_url(gcs, query_parameters={"max-keys": "3"}))
    assert (field(first, "IsTruncated"), field(first, "NextMarker")) == ("true", "dir/c.txt")
    rest = fetch(listing_url(gcs, query_parameters={"max-keys": "3", "marker": "dir/c.txt"}))
    assert keys(rest) == ["z.txt"]
    assert field(rest, "IsTruncated") == "false"


def test_list_type_2_pages_with_continuation_tokens(gcs: storage.Client) -> None:
    first = fetch(listing_url(gcs, query_parameters={"list-type": "2", "max-keys": "2"}))
    assert field(first, "KeyCount") == "2"
    token = field(first, "NextContinuationToken")
    assert token
    rest = fetch(
        listing_url(
            gcs, query_parameters={"list-type": "2", "max-keys": "2", "continuation-token": token}
        )
    )
    assert keys(first) + keys(rest) == ["a.txt", "dir/b.txt", "dir/c.txt", "z.txt"]


def test_a_signed_url_for_a_missing_bucket_is_no_such_bucket(gcs: storage.Client) -> None:
    url: str = gcs.bucket("nowhere").generate_signed_url(version="v4", expiration=60)
    answer = fetch(url)
    assert answer.status_code == 404
    root = ElementTree.fromstring(answer.content)
    assert root.findtext("Code") == "NoSuchBucket"


def test_an_expired_signed_bucket_url_is_refused(gcs: storage.Client, gcpfakes: Any) -> None:
    url = listing_url(gcs, expiration=datetime.timedelta(seconds=60))
    gcpfakes.clock.advance(61)
    answer = fetch(url)
    assert answer.status_code == 400
    assert ElementTree.fromstring(answer.content).findtext("Code") == "ExpiredToken"


def test_a_changed_prefix_breaks_the_signature(gcs: storage.Client) -> None:
    url = listing_url(gcs, query_parameters={"prefix": "dir/"})
    answer = fetch(url.replace("prefix=dir%2F", "prefix=a"))
    assert answer.status_code == 403
    assert ElementTree.fromstring(answer.content).findtext("Code") == "SignatureDoesNotMatch"
