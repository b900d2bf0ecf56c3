"""Customer-supplied encryption keys through the real client: the data needs its key."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from google.api_core import exceptions

KEY = b"k" * 32
OTHER = b"o" * 32
MISSING = "The target object is encrypted by a customer-supplied encryption key."
INCORRECT = "The provided encryption key is incorrect."


def _sha256(key: bytes) -> str:
    return base64.b64encode(hashlib.sha256(key).digest()).decode()


def _headers(key: bytes, **overrides: str) -> dict[str, str]:
    headers = {
        "x-goog-encryption-algorithm": "AES256",
        "x-goog-encryption-key": base64.b64encode(key).decode(),
        "x-goog-encryption-key-sha256": _sha256(key),
    }
    headers.update(overrides)
    return headers


@pytest.fixture
def bucket(client: Any) -> Any:
    bucket = client.create_bucket("vault")
    bucket.blob("doc", encryption_key=KEY).upload_from_string("secret")
    return bucket


def test_an_object_written_with_a_key_downloads_with_that_key(bucket: Any) -> None:
    assert bucket.blob("doc", encryption_key=KEY).download_as_bytes() == b"secret"


def test_downloading_without_the_key_is_refused(bucket: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        bucket.blob("doc").download_as_bytes()


def test_downloading_with_another_key_is_refused_as_incorrect(bucket: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=INCORRECT) as caught:
        bucket.blob("doc", encryption_key=OTHER).download_as_bytes()
    assert "secret" not in str(caught.value)


def test_metadata_read_without_the_key_has_no_hashes(bucket: Any) -> None:
    blob = bucket.get_blob("doc")
    assert (blob.crc32c, blob.md5_hash) == (None, None)
    assert blob.size == 6
    assert blob._properties["customerEncryption"] == {
        "encryptionAlgorithm": "AES256",
        "keySha256": _sha256(KEY),
    }


def test_metadata_read_with_the_key_has_the_hashes(bucket: Any) -> None:
    blob = bucket.get_blob("doc", encryption_key=KEY)
    assert blob.md5_hash == base64.b64encode(hashlib.md5(b"secret").digest()).decode()
    assert blob.crc32c is not None


def test_listing_shows_no_hashes_of_an_encrypted_object(bucket: Any) -> None:
    (listed,) = bucket.list_blobs()
    assert (listed.name, listed.crc32c, listed.md5_hash) == ("doc", None, None)


def test_metadata_read_with_another_key_is_refused_as_incorrect(bucket: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=INCORRECT) as caught:
        bucket.get_blob("doc", encryption_key=OTHER)
    assert caught.value.errors[0]["reason"] == "customerEncryptionKeyIsIncorrect"


def test_a_key_for_an_object_written_without_one_is_refused(bucket: Any) -> None:
    bucket.blob("plain").upload_from_string("open")
    with pytest.raises(exceptions.BadRequest, match="is not encrypted by a customer-supplied"):
        bucket.blob("plain", encryption_key=KEY).download_as_bytes()


def test_a_key_sha256_that_does_not_match_the_key_is_refused(client: Any, bucket: Any) -> None:
    headers = _headers(KEY, **{"x-goog-encryption-key-sha256": _sha256(OTHER)})
    with pytest.raises(exceptions.BadRequest, match="does not match the encryption key") as caught:
        client._get_resource("/b/vault/o/doc", headers=headers)
    assert caught.value.errors[0]["reason"] == "customerEncryptionKeySha256IsInvalid"


def test_a_key_that_is_not_32_bytes_is_refused(client: Any, bucket: Any) -> None:
    short = b"short"
    headers = _headers(short)
    with pytest.raises(exceptions.BadRequest, match="does not meet the required length"):
        client._get_resource("/b/vault/o/doc", headers=headers)


def test_overwriting_and_deleting_need_no_key(bucket: Any) -> None:
    bucket.blob("doc").upload_from_string("replaced")
    assert bucket.blob("doc").download_as_bytes() == b"replaced"
    bucket.blob("doc").delete()


def test_rewrite_moves_the_data_from_one_key_to_another(bucket: Any) -> None:
    source = bucket.blob("doc", encryption_key=KEY)
    rotated = bucket.blob("doc", encryption_key=OTHER)
    token, _, _ = rotated.rewrite(source)
    assert token is None
    assert rotated.download_as_bytes() == b"secret"
    with pytest.raises(exceptions.BadRequest, match=INCORRECT):
        bucket.blob("doc", encryption_key=KEY).download_as_bytes()


def test_rewrite_to_no_key_leaves_the_copy_unencrypted(bucket: Any) -> None:
    bucket.blob("open").rewrite(bucket.blob("doc", encryption_key=KEY))
    assert bucket.blob("open").download_as_bytes() == b"secret"


def test_rewrite_without_the_source_key_is_refused(bucket: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        bucket.blob("copy", encryption_key=OTHER).rewrite(bucket.blob("doc"))


def test_compose_of_encrypted_sources_needs_their_key(bucket: Any) -> None:
    # The client sends no key with compose (Blob.compose): GCS refuses the sources.
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        bucket.blob("joined").compose([bucket.blob("doc")])


def test_resumable_upload_with_a_key_encrypts_the_object(bucket: Any) -> None:
    blob = bucket.blob("big", encryption_key=KEY, chunk_size=256 * 1024)
    blob.upload_from_string(b"x" * (300 * 1024))
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        bucket.blob("big").download_as_bytes()
    assert len(bucket.blob("big", encryption_key=KEY).download_as_bytes()) == 300 * 1024
