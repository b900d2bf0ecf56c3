"""A fake signer, so ``blob.generate_signed_url()`` works without a service-account key.

google-cloud-storage signs URLs with ``credentials.sign_bytes()`` and names the signer with
``credentials.signer_email`` (``_signing.ensure_signed_credentials`` requires the
``google.auth.credentials.Signing`` interface). Under the plugin a client built without
credentials gets :class:`FakeSigningCredentials`: anonymous for requests (it adds no token
and never refreshes), able to sign. Credentials the application passes in are never
replaced, so a real key still signs with itself.

The signature is an HMAC-SHA256 under a fixed key that every process of the fakes shares, so
a URL signed in one (a test, a forked worker, a subprocess) is checked by another (the test's
fakes, ``gcpfakes serve``). It is not an RSA signature and no Google service would accept
it; it proves nothing but that the fakes signed it, which is all a test needs.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from google.auth.credentials import AnonymousCredentials, Signing

#: The service account a fake-signed URL names in ``X-Goog-Credential``.
SIGNER_EMAIL = "gcpfakes-signer@gcpfakes.iam.gserviceaccount.com"

_KEY = hashlib.sha256(b"pytest-gcpfakes fake URL signer").digest()


def sign(message: bytes) -> bytes:
    """Return the fake signature of ``message`` (32 bytes; hex-encoded in the URL)."""
    return hmac.new(_KEY, message, hashlib.sha256).digest()


def verify(message: bytes, signature: bytes) -> bool:
    """Tell whether ``signature`` is the fake signature of ``message``, in constant time."""
    return hmac.compare_digest(sign(message), signature)


class FakeSigner:
    """The ``google.auth.crypt.Signer`` shape, for code that asks credentials for it."""

    key_id = "gcpfakes"

    def sign(self, message: bytes | str) -> bytes:
        return sign(message.encode() if isinstance(message, str) else message)


class FakeSigningCredentials(AnonymousCredentials, Signing):
    """Anonymous credentials that can also sign, for signed URLs under the fakes."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def sign_bytes(self, message: bytes | str) -> bytes:
        return sign(message.encode() if isinstance(message, str) else message)

    @property
    def signer_email(self) -> str:
        return SIGNER_EMAIL

    @property
    def signer(self) -> Any:
        return FakeSigner()
