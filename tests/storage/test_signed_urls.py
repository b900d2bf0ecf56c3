"""Signed URLs under the plugin: generated without a key, never served unchecked."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.cloud import storage

from pytest_gcpfakes.storage import _signing


@pytest.fixture
def blob(fake_storage: Any) -> Any:
    fake_storage.put("signed", "report.pdf", b"%PDF")
    with storage.Client() as gcs:
        yield gcs.bucket("signed").blob("report.pdf")


def test_v4_signed_url_is_generated_without_real_credentials(blob: Any) -> None:
    url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(minutes=15))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "storage.gcpfakes.invalid",
        "/signed/report.pdf",
    )
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Credential"][0].startswith(_signing.SIGNER_EMAIL + "/")
    assert query["X-Goog-Expires"] == ["900"]
    assert len(query["X-Goog-Signature"][0]) == 64


def test_fake_signature_verifies_only_its_own_message() -> None:
    signature = _signing.sign(b"string to sign")
    assert _signing.verify(b"string to sign", signature)
    assert not _signing.verify(b"another string", signature)


def test_signed_post_policy_is_generated_too(blob: Any) -> None:
    policy = blob.bucket.client.generate_signed_post_policy_v4(
        "signed", "upload.bin", expiration=datetime.timedelta(minutes=5)
    )
    assert policy["fields"]["x-goog-signature"]


def test_application_credentials_are_not_replaced(fake_storage: Any) -> None:
    from google.auth.credentials import AnonymousCredentials

    own = AnonymousCredentials()
    with storage.Client(credentials=own) as gcs:
        assert gcs._credentials is own


def test_fetching_a_signed_url_in_process_is_refused_not_served_unchecked(
    blob: Any,
) -> None:
    url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(minutes=15))
    with requests.Session() as http:
        answer = http.get(url)
    assert answer.status_code == 501
    assert "does not serve signed URLs in-process" in answer.json()["error"]["message"]
