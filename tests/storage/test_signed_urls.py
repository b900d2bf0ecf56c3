"""Signed URLs under the plugin: generated without a key, checked like GCS before serving."""

from __future__ import annotations

import base64
import datetime
import hashlib
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
import requests
from google.cloud import storage

from pytest_gcpfakes.storage import _signing


@pytest.fixture
def blob(fake_storage: Any) -> Any:
    fake_storage.put("signed", "report.pdf", b"%PDF")
    with closing(storage.Client()) as gcs:
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
    with closing(storage.Client(credentials=own)) as gcs:
        assert gcs._credentials is own


def _fetch(method: str, url: str, **kwargs: Any) -> requests.Response:
    with requests.Session() as http:
        return http.request(method, url, **kwargs)


def _xml_field(answer: requests.Response, field: str) -> str:
    element = ElementTree.fromstring(answer.content).find(field)
    assert element is not None, answer.text
    return element.text or ""


def test_v4_signed_url_serves_the_object_to_a_plain_http_client(blob: Any) -> None:
    url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(minutes=15))
    answer = _fetch("GET", url)
    assert answer.status_code == 200
    assert answer.content == b"%PDF"
    assert answer.headers["x-goog-generation"] == str(blob.bucket.get_blob("report.pdf").generation)


def test_v2_signed_url_the_client_default_serves_the_object_too(blob: Any) -> None:
    url = blob.generate_signed_url(expiration=datetime.timedelta(minutes=15))
    assert "GoogleAccessId=" in url
    assert "Signature=" in url
    answer = _fetch("GET", url)
    assert (answer.status_code, answer.content) == (200, b"%PDF")


FIFTEEN_MINUTES = datetime.timedelta(minutes=15)
KEY = b"k" * 32
KEY_HEADERS = {
    "x-goog-encryption-algorithm": "AES256",
    "x-goog-encryption-key": base64.b64encode(KEY).decode(),
    "x-goog-encryption-key-sha256": base64.b64encode(hashlib.sha256(KEY).digest()).decode(),
}


@pytest.fixture
def encrypted(fake_storage: Any) -> Any:
    fake_storage.create_bucket("vault")
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket("vault").blob("doc", encryption_key=KEY)
        blob.upload_from_string("secret")
        yield blob


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_signed_url_of_an_encrypted_object_serves_it_to_a_request_with_the_key(
    encrypted: Any, version: str
) -> None:
    # V2 signs only X-Goog-Encryption-Algorithm; the key and its hash go unsigned.
    url = encrypted.generate_signed_url(version=version, expiration=FIFTEEN_MINUTES)
    answer = _fetch("GET", url, headers=KEY_HEADERS)
    assert (answer.status_code, answer.content) == (200, b"secret"), answer.text


def test_signed_url_of_an_encrypted_object_without_the_key_is_400(encrypted: Any) -> None:
    keyless = encrypted.bucket.blob("doc")  # signs no key headers
    url = keyless.generate_signed_url(version="v2", expiration=FIFTEEN_MINUTES)
    answer = _fetch("GET", url)
    assert answer.status_code == 400
    assert _xml_field(answer, "Code") == "ResourceIsEncryptedWithCustomerEncryptionKey"


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_signed_url_past_its_expiry_on_the_fakes_clock_is_400_expired_token(
    blob: Any, fake_storage: Any, version: str
) -> None:
    url = blob.generate_signed_url(version=version, expiration=datetime.timedelta(minutes=15))
    assert _fetch("GET", url).status_code == 200
    fake_storage.clock.advance(15 * 60 + 1)
    answer = _fetch("GET", url)
    assert answer.status_code == 400
    assert _xml_field(answer, "Code") == "ExpiredToken"
    assert _xml_field(answer, "Details").startswith("Request has expired: ")


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_signed_url_for_another_object_is_403_signature_does_not_match(
    blob: Any, fake_storage: Any, version: str
) -> None:
    fake_storage.put("signed", "other.pdf", b"secret")
    url = blob.generate_signed_url(version=version, expiration=datetime.timedelta(minutes=15))
    answer = _fetch("GET", url.replace("/report.pdf?", "/other.pdf?"))
    assert answer.status_code == 403
    assert _xml_field(answer, "Code") == "SignatureDoesNotMatch"
    # GCS shows what it signed: V4 its canonical request, V2 the string to sign itself.
    shown = _xml_field(answer, "CanonicalRequest" if version == "v4" else "StringToSign")
    assert "/signed/other.pdf" in shown


def test_v4_signed_url_with_a_query_parameter_added_is_403(blob: Any) -> None:
    url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(minutes=15))
    answer = _fetch("GET", url + "&generation=1")
    assert answer.status_code == 403


def test_signed_get_url_used_to_put_is_403(blob: Any, fake_storage: Any) -> None:
    url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(minutes=15))
    answer = _fetch("PUT", url, data=b"overwritten")
    assert answer.status_code == 403
    assert fake_storage.get("signed", "report.pdf") == b"%PDF"


def test_signed_put_url_uploads_with_the_signed_content_type(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    with closing(storage.Client()) as gcs:
        target = gcs.bucket("uploads").blob("from-browser.txt")
        url = target.generate_signed_url(
            version="v4",
            method="PUT",
            content_type="text/plain",
            expiration=datetime.timedelta(minutes=5),
        )
        answer = _fetch(
            "PUT",
            url,
            data=b"hello",
            headers={"Content-Type": "text/plain", "x-goog-meta-by": "me"},
        )
        assert answer.status_code == 200
        stored = gcs.bucket("uploads").get_blob("from-browser.txt")
    assert stored.download_as_bytes() == b"hello"
    assert (stored.content_type, stored.metadata) == ("text/plain", {"by": "me"})
    assert answer.headers["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'


def test_signed_put_url_with_another_content_type_is_403(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("uploads")
            .blob("x.txt")
            .generate_signed_url(
                version="v4", method="PUT", content_type="text/plain", expiration=300
            )
        )
    answer = _fetch("PUT", url, data=b"<b/>", headers={"Content-Type": "text/html"})
    assert answer.status_code == 403
    assert fake_storage.objects("uploads") == []


def test_signed_resumable_url_starts_a_session_that_takes_the_data(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("uploads")
            .blob("big.bin")
            .generate_signed_url(version="v4", method="RESUMABLE", expiration=300)
        )
    started = _fetch("POST", url, headers={"x-goog-resumable": "start"})
    assert started.status_code == 201
    finished = _fetch("PUT", started.headers["Location"], data=b"x" * 1000)
    assert finished.status_code == 200
    assert fake_storage.get("uploads", "big.bin") == b"x" * 1000


def test_signed_delete_url_deletes_and_head_url_reads_headers(blob: Any, fake_storage: Any) -> None:
    head = _fetch("HEAD", blob.generate_signed_url(version="v4", method="HEAD", expiration=60))
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "4", b"")
    deleted = _fetch(
        "DELETE", blob.generate_signed_url(version="v4", method="DELETE", expiration=60)
    )
    assert deleted.status_code == 204
    assert fake_storage.objects("signed") == []


def test_signed_url_response_overrides_set_the_answer_headers(blob: Any) -> None:
    url = blob.generate_signed_url(
        version="v4",
        expiration=60,
        response_type="application/x-download",
        response_disposition="attachment; filename=r.pdf",
    )
    answer = _fetch("GET", url)
    assert answer.headers["Content-Type"] == "application/x-download"
    assert answer.headers["Content-Disposition"] == "attachment; filename=r.pdf"


def test_signed_url_for_a_missing_object_is_404_no_such_key(fake_storage: Any) -> None:
    fake_storage.create_bucket("signed")
    with closing(storage.Client()) as gcs:
        url = gcs.bucket("signed").blob("gone.pdf").generate_signed_url(version="v4", expiration=60)
    answer = _fetch("GET", url)
    assert answer.status_code == 404
    assert _xml_field(answer, "Code") == "NoSuchKey"
    assert _xml_field(answer, "Message") == "The specified key does not exist."


def test_url_signed_by_other_credentials_gets_a_sentence_not_a_guess(blob: Any) -> None:
    url = blob.generate_signed_url(version="v4", expiration=60)
    forged = url.replace(
        "gcpfakes-signer%40gcpfakes.iam.gserviceaccount.com", "app%40p.iam.gserviceaccount.com"
    )
    answer = _fetch("GET", forged)
    assert answer.status_code == 501
    assert _xml_field(answer, "Message").startswith(
        "pytest-gcpfakes can only check signed URLs made by its fake signer"
    )


@pytest.mark.parametrize("version", ["v2", "v4"])
@pytest.mark.parametrize("name", ["with space/ü.txt", "odd?#%+&=.txt"])
def test_signed_url_for_any_valid_name_checks_and_serves(
    fake_storage: Any, version: str, name: str
) -> None:
    fake_storage.put("names", name, b"payload")
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("names")
            .blob(name)
            .generate_signed_url(version=version, expiration=datetime.timedelta(minutes=1))
        )
    answer = _fetch("GET", url)
    assert (answer.status_code, answer.content) == (200, b"payload")


def test_signed_url_for_an_old_generation_reads_that_generation(fake_storage: Any) -> None:
    bucket = fake_storage.create_bucket("history")
    bucket.versioning = True
    first = fake_storage.put("history", "doc", b"one")
    fake_storage.put("history", "doc", b"two")
    with closing(storage.Client()) as gcs:
        url = (
            gcs.bucket("history")
            .blob("doc")
            .generate_signed_url(version="v4", expiration=60, generation=first.generation)
        )
    assert _fetch("GET", url).content == b"one"


def _post_form(signed: dict[str, Any], data: bytes = b"form bytes", **extra: str) -> Any:
    fields = {**signed["fields"], **extra}
    return _fetch(
        "POST", signed["url"], data=fields, files={"file": ("photo.jpg", data, "image/jpeg")}
    )


def test_post_policy_form_upload_stores_the_file(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox",
            "uploads/${filename}",
            expiration=datetime.timedelta(minutes=10),
            conditions=[["content-length-range", 0, 100]],
            fields={"Content-Type": "image/jpeg", "x-goog-meta-source": "form"},
        )
        answer = _post_form(policy)
        assert answer.status_code == 204
        stored = gcs.bucket("inbox").get_blob("uploads/photo.jpg")
    assert stored.download_as_bytes() == b"form bytes"
    assert (stored.content_type, stored.metadata) == ("image/jpeg", {"source": "form"})


def test_post_policy_success_action_status_201_answers_a_post_response(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox", "a.bin", expiration=600, fields={"success_action_status": "201"}
        )
    answer = _post_form(policy)
    assert answer.status_code == 201
    assert _xml_field(answer, "Key") == "a.bin"
    assert _xml_field(answer, "ETag") == f'"{hashlib.md5(b"form bytes").hexdigest()}"'


def test_post_policy_over_its_content_length_range_is_refused(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox", "a.bin", expiration=600, conditions=[["content-length-range", 0, 5]]
        )
    answer = _post_form(policy)
    assert answer.status_code == 400
    assert _xml_field(answer, "Code") == "InvalidPolicyDocument"
    assert fake_storage.objects("inbox") == []


def test_post_policy_with_a_field_it_does_not_mention_is_refused(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4("inbox", "a.bin", expiration=600)
    answer = _post_form(policy, submit="Upload")
    assert answer.status_code == 400
    assert _xml_field(answer, "Details") == "Policy did not reference these fields: submit"
    assert _post_form(policy, **{"x-ignore-submit": "Upload"}).status_code == 204


def test_post_policy_form_field_post_object_does_not_take_is_refused_though_signed(
    fake_storage: Any,
) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox",
            "a.bin",
            expiration=600,
            conditions=[["starts-with", "$Content-Type", "text/pla"]],
            fields={"x-goog-random": "invalid_field", "content-type": "text/plain"},
        )
    answer = _post_form(policy)
    assert answer.status_code == 400
    assert _xml_field(answer, "Details") == "Unknown form fields: x-goog-random"
    assert fake_storage.objects("inbox") == []


def test_post_policy_form_may_carry_custom_metadata_with_underscores(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4(
            "inbox", "a.bin", expiration=600, fields={"x-goog-meta-key_a": "1"}
        )
    assert _post_form(policy).status_code == 204
    assert dict(fake_storage.object("inbox", "a.bin").metadata) == {"key_a": "1"}


def test_post_policy_with_another_key_is_refused(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4("inbox", "mine.bin", expiration=600)
    answer = _post_form(policy, key="theirs.bin")
    assert answer.status_code == 400
    assert "theirs.bin" not in fake_storage.objects("inbox")


def test_post_policy_after_its_expiration_is_refused(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4("inbox", "a.bin", expiration=60)
    fake_storage.clock.advance(61)
    answer = _post_form(policy)
    assert answer.status_code == 400
    assert _xml_field(answer, "Details") == "Policy expired."


def test_post_policy_with_a_tampered_policy_is_403(fake_storage: Any) -> None:
    fake_storage.create_bucket("inbox")
    with closing(storage.Client()) as gcs:
        policy = gcs.generate_signed_post_policy_v4("inbox", "a.bin", expiration=600)
        other = gcs.generate_signed_post_policy_v4("inbox", "b.bin", expiration=600)
    answer = _post_form(policy, policy=other["fields"]["policy"])
    assert answer.status_code == 403
    assert _xml_field(answer, "Code") == "SignatureDoesNotMatch"
