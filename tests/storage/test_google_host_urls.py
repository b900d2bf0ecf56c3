"""URLs made for GCS's own host (``https://storage.googleapis.com``, the client's default
``api_access_endpoint``), fetched in-process with plain ``requests``: served and checked by
the active Storage fake, path-style and virtual-hosted; nothing reaches Google."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from google.cloud import storage

from pytest_gcpfakes import BlockedCallError, GCPFakes

GCS = "https://storage.googleapis.com"
SOON = datetime.timedelta(minutes=5)  # an int is a V2 URL's absolute expiry, not a duration


@pytest.fixture
def photos(fake_storage: Any) -> Iterator[storage.Bucket]:
    fake_storage.put("photos", "cat.jpg", b"JPEG", content_type="image/jpeg")
    with closing(storage.Client()) as gcs:
        yield gcs.bucket("photos")


def _signed(bucket: storage.Bucket, name: str, **kwargs: Any) -> str:
    kwargs.setdefault("version", "v4")
    url: str = bucket.blob(name).generate_signed_url(
        expiration=SOON, api_access_endpoint=GCS, **kwargs
    )
    return url


def _code(answer: requests.Response) -> str:
    return ElementTree.fromstring(answer.content).findtext("Code") or ""


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_a_signed_url_for_googles_host_is_served_by_the_fake(
    photos: storage.Bucket, version: str
) -> None:
    url = _signed(photos, "cat.jpg", version=version)
    assert url.startswith(f"{GCS}/photos/cat.jpg?")
    answer = requests.get(url, timeout=5)
    assert (answer.status_code, answer.content) == (200, b"JPEG")
    assert answer.headers["Content-Type"] == "image/jpeg"


def test_a_virtual_hosted_signed_url_for_googles_host_is_served_by_the_fake(
    photos: storage.Bucket,
) -> None:
    url = _signed(photos, "cat.jpg", virtual_hosted_style=True)
    assert url.startswith("https://photos.storage.googleapis.com/cat.jpg?")
    assert requests.get(url, timeout=5).content == b"JPEG"


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_a_signed_put_to_googles_host_stores_the_object(
    photos: storage.Bucket, fake_storage: Any, version: str
) -> None:
    url = _signed(photos, "dog.txt", version=version, method="PUT", content_type="text/plain")
    answer = requests.put(url, data=b"woof", headers={"Content-Type": "text/plain"}, timeout=5)
    assert answer.status_code == 200
    assert fake_storage.get("photos", "dog.txt") == b"woof"
    assert fake_storage.object("photos", "dog.txt").content_type == "text/plain"


def test_a_virtual_hosted_signed_put_to_googles_host_stores_the_object(
    photos: storage.Bucket, fake_storage: Any
) -> None:
    url = _signed(photos, "dog.txt", method="PUT", virtual_hosted_style=True)
    assert requests.put(url, data=b"woof", timeout=5).status_code == 200
    assert fake_storage.get("photos", "dog.txt") == b"woof"


def test_a_signed_url_for_googles_host_is_checked_like_the_fakes_own(
    photos: storage.Bucket,
) -> None:
    url = _signed(photos, "cat.jpg")
    # Signed for storage.googleapis.com: another host (another bucket) does not match.
    moved = url.replace(f"{GCS}/photos/", "https://photos.storage.googleapis.com/", 1)
    answer = requests.get(moved, timeout=5)
    assert (answer.status_code, _code(answer)) == (403, "SignatureDoesNotMatch")
    tampered = requests.get(url.replace("cat.jpg", "dog.jpg", 1), timeout=5)
    assert (tampered.status_code, _code(tampered)) == (403, "SignatureDoesNotMatch")


def test_a_bucket_listing_url_for_googles_host_lists_the_objects(
    photos: storage.Bucket,
) -> None:
    url = photos.generate_signed_url(expiration=SOON, version="v4", api_access_endpoint=GCS)
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200
    keys = [e.text for e in ElementTree.fromstring(answer.content).iter() if e.tag.endswith("Key")]
    assert keys == ["cat.jpg"]


@pytest.mark.parametrize(
    "form_url",
    [f"{GCS}/photos/", "https://photos.storage.googleapis.com/"],
    ids=["path-style", "virtual-hosted"],
)
def test_a_post_policy_form_posted_to_googles_host_stores_the_file(
    photos: storage.Bucket, fake_storage: Any, form_url: str
) -> None:
    policy = photos.client.generate_signed_post_policy_v4(
        "photos", "uploads/${filename}", expiration=SOON
    )
    # The policy, not the URL, names the bucket: a page may post it to GCS's own host.
    answer = requests.post(
        form_url,
        data=policy["fields"],
        files={"file": ("bird.png", b"PNG", "image/png")},
        timeout=5,
    )
    assert answer.status_code == 204
    assert fake_storage.get("photos", "uploads/bird.png") == b"PNG"


@pytest.mark.parametrize(
    "url",
    [
        "https://firestore.googleapis.com/v1/projects/p/databases/(default)/documents/a/b",
        "https://oauth2.googleapis.com/token",
        "https://storage.cloud.google.com/photos/cat.jpg",
        "https://storage.us-east1.rep.googleapis.com/photos/cat.jpg",
        "https://www.googleapis.com/storage/v1/b/photos",
    ],
)
def test_other_google_hosts_stay_blocked_while_the_storage_fake_is_active(
    photos: storage.Bucket, url: str
) -> None:
    with pytest.raises(BlockedCallError, match="so nothing reached Google"):
        requests.get(url, timeout=1)


def test_googles_storage_host_stays_blocked_without_a_storage_fake() -> None:
    with GCPFakes(services=["pubsub"]), pytest.raises(BlockedCallError) as caught:
        requests.get(f"{GCS}/photos/cat.jpg", timeout=1)
    assert caught.value.message.endswith("add the `fake_storage` fixture.")
