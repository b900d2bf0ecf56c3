"""Customer-supplied encryption keys: which key wrote an object, and whether a request
that reads it brings that key.

A request names a key with three headers, ``x-goog-encryption-algorithm`` (``AES256``),
``x-goog-encryption-key`` (the 32-byte key in base64) and ``x-goog-encryption-key-sha256``
(its SHA-256 in base64); a rewrite names its source's key with the
``x-goog-copy-source-encryption-*`` ones (cloud.google.com/storage/docs/encryption/
customer-supplied-keys, .../using-customer-supplied-keys). GCS keeps only the key's SHA-256
with the object (``customerEncryption.keySha256``), and so does the fake: there is nothing
to decrypt, but every rule a real key brings is kept.

- Writing with a key encrypts the new generation with it; rewrite and copy encrypt the
  destination with the request's key (none: not encrypted), whatever the source's was.
- Reading the data (a download, a rewrite's or compose's source) needs the same key: none
  is ``resourceIsEncryptedWithCustomerEncryptionKey``, another
  ``customerEncryptionKeyIsIncorrect``, a key for an object that has none
  ``resourceNotEncryptedWithCustomerEncryptionKey`` (400 each, [status-codes]).
- Reading the metadata needs no key, but only a request with the right key sees the
  object's ``crc32c`` and ``md5Hash`` (customer-supplied-keys, "When is the key used?":
  the key encrypts the data, the CRC32C and the MD5; the rest of the metadata can be
  read, updated and listed, and objects overwritten and deleted, without it); a wrong key
  is refused as for the data (as a Zig client's test harness answers it).
- Compose needs the sources' key, and the composite takes it (the same page: the
  component objects must be encrypted with the key the request gives).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING

from pytest_gcpfakes.storage import _errors

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._wire import Request

__all__ = ["check", "request_key"]

_KEY_BYTES = 32  # AES-256


def request_key(request: Request, *, source: bool = False) -> str | None:
    """The base64 SHA-256 of the key a request names (``source``: its rewrite source's),
    ``None`` if it names none; 400 for headers that do not make a key."""
    prefix = "X-Goog-Copy-Source-Encryption-" if source else "X-Goog-Encryption-"
    algorithm = request.header(prefix + "Algorithm")
    key_text = request.header(prefix + "Key")
    digest = request.header(prefix + "Key-Sha256")
    if algorithm is None and key_text is None and digest is None:
        return None
    if algorithm != "AES256":
        raise _errors.csek_algorithm_invalid()
    try:
        key = base64.b64decode(key_text or "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != _KEY_BYTES:
        raise _errors.csek_key_format_invalid()
    actual = base64.b64encode(hashlib.sha256(key).digest()).decode()
    if (digest or "").strip() != actual:
        raise _errors.csek_key_sha256_invalid()
    return actual


def check(stored: str | None, given: str | None) -> None:
    """Refuse to read an object encrypted with key ``stored`` (its SHA-256, or ``None``)
    with key ``given`` (the request's SHA-256, or ``None``)."""
    if stored is None:
        if given is not None:
            raise _errors.resource_not_encrypted_with_csek()
        return
    if given is None:
        raise _errors.resource_encrypted_with_csek()
    if given != stored:
        raise _errors.csek_incorrect()
