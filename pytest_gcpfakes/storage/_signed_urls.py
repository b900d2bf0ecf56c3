"""Checking a signed URL as Cloud Storage does, before serving it (V4 and V2).

A signed URL carries its authority in the query: who signed (``X-Goog-Credential`` or
``GoogleAccessId``), when it expires, and a signature over a canonical form of the request.
GCS rebuilds that canonical form from the request it received and compares; so does this
module, with the fake signer's key (:mod:`._signing`). What a request may change without
breaking the signature is therefore exactly what GCS allows: for V4, nothing but unsigned
headers and the body; for V2, anything outside the method, ``Content-MD5``,
``Content-Type``, the ``x-goog-*`` headers and the path.

Specifications: cloud.google.com/storage/docs/authentication/canonical-requests and
.../signatures (V4), .../access-control/signed-urls-v2 (V2). Error answers are GCS's XML
error bodies, see :func:`_expired` and :func:`_mismatch` for their sources.

URLs signed by real credentials (a key the application passed to its client) cannot be
checked here: that takes the signer's public certificate, which only Google serves. They
get a sentence saying so rather than a guess either way.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode

from pytest_gcpfakes.storage import _signing
from pytest_gcpfakes.storage._errors import XmlError

__all__ = ["check", "check_post_policy", "is_signed"]

_V4_SIGNATURE = "x-goog-signature"
_V2_PARAMS = frozenset({"googleaccessid", "expires", "signature"})
# V2: query parameters the client adds after signing (not part of the string to sign).
_V2_UNSIGNED = frozenset(
    {"googleaccessid", "expires", "signature", "response-content-type",
     "response-content-disposition", "generation"}
)  # fmt: skip
# V2: headers a request sends that its signature does not cover. A customer-supplied key
# goes with the request but not into the signature: only X-Goog-Encryption-Algorithm is
# signed (signed-urls-v2#about-canonical-extension-headers, as python-storage's
# Blob.generate_signed_url reads it: "v2_copy_only = 'X-Goog-Encryption-Algorithm'").
_V2_UNSIGNED_HEADERS = frozenset({"x-goog-encryption-key", "x-goog-encryption-key-sha256"})
_V4_ALGORITHMS = frozenset({"GOOG4-RSA-SHA256", "GOOG4-HMAC-SHA256"})
_V4_MAX_EXPIRES = 7 * 24 * 3600  # signed-urls docs: "up to 7 days (604800 seconds)"


def is_signed(query: Mapping[str, str]) -> bool:
    """Whether a request's query makes it a signed-URL request (V4 or V2)."""
    names = {name.lower() for name in query}
    return _V4_SIGNATURE in names or names >= _V2_PARAMS


def check(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    host: str,
    now: float,
    *,
    host_bucket: str | None = None,
) -> None:
    """Raise :class:`~._errors.XmlError` unless the signed request may be served at ``now``.

    ``path`` is the request path as sent (still percent-encoded), ``raw_query`` the query
    string as sent, ``headers`` the request headers by lower-case name, ``host`` the host
    the request was sent to (V4 signs it), ``now`` the fakes' clock in seconds since the
    epoch, ``host_bucket`` the bucket the host names (virtual-hosted-style or a
    bucket-bound hostname), if it does.
    """
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    lowered = {name.lower(): value for name, value in pairs}
    if _V4_SIGNATURE in lowered:
        # V4 signs the path as sent and the host: a URL addressed by host is checked as is.
        _check_v4(method, path, pairs, lowered, headers, host, now)
    else:
        # V2's resource always starts with the bucket, wherever the URL names it: GCS
        # refuses a virtual-hosted V2 URL signed over "/object" and shows StringToSign
        # ending "/bucket/object" (googleapis/python-storage#1031; the client still signs
        # "/object" for virtual_hosted_style and bucket_bound_hostname, #1180 unmerged).
        resource = f"/{host_bucket}{path}" if host_bucket is not None else path
        _check_v2(method, resource, pairs, lowered, headers, now)


# -- V4 ------------------------------------------------------------------------------------


def _check_v4(
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    query: dict[str, str],
    headers: Mapping[str, str],
    host: str,
    now: float,
) -> None:
    algorithm = query.get("x-goog-algorithm", "")
    if algorithm not in _V4_ALGORITHMS:
        raise _malformed("X-Goog-Algorithm", algorithm)
    credential = query.get("x-goog-credential", "")
    signer, _, scope = credential.partition("/")
    _require_fake_signer(signer)
    stamp = query.get("x-goog-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise _malformed("X-Goog-Date", stamp) from None
    expires_text = query.get("x-goog-expires", "")
    if not expires_text.isdigit() or not 1 <= int(expires_text) <= _V4_MAX_EXPIRES:
        raise _malformed("X-Goog-Expires", expires_text)
    if now > signed_at + int(expires_text):
        raise _expired(signed_at + int(expires_text))
    signed_headers = query.get("x-goog-signedheaders", "")
    names = signed_headers.split(";")
    canonical_headers = "".join(
        f"{name}:{' '.join((host if name == 'host' else headers.get(name, '')).split())}\n"
        for name in names
    )
    # The payload is unsigned unless the signer included its hash among the headers.
    payload = headers.get("x-goog-content-sha256", "") if "x-goog-content-sha256" in names else ""
    canonical_query = "&".join(
        sorted(
            f"{quote(name, safe='~')}={quote(value, safe='~')}"
            for name, value in pairs
            if name.lower() != _V4_SIGNATURE
        )
    )
    canonical_request = "\n".join(
        [
            method,
            path,
            canonical_query,
            canonical_headers,
            signed_headers,
            payload or "UNSIGNED-PAYLOAD",
        ]
    )
    string_to_sign = "\n".join(
        [algorithm, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    try:
        signature = binascii.unhexlify(query[_V4_SIGNATURE])
    except (binascii.Error, ValueError):
        signature = b""
    if not _signing.verify(string_to_sign.encode(), signature):
        raise _mismatch(string_to_sign, CanonicalRequest=canonical_request)


# -- V2 ------------------------------------------------------------------------------------


def _check_v2(
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    query: dict[str, str],
    headers: Mapping[str, str],
    now: float,
) -> None:
    _require_fake_signer(query["googleaccessid"])
    expires_text = query["expires"]
    if not expires_text.isdigit():
        raise _malformed("Expires", expires_text)
    if now > int(expires_text):
        raise _expired(int(expires_text))
    # The client signs extra query parameters as part of the resource, lower-cased names,
    # sorted (google-cloud-storage _signing.canonicalize_v2).
    extra = sorted(
        (name.lower(), value.strip()) for name, value in pairs if name.lower() not in _V2_UNSIGNED
    )
    resource = f"{path}?{urlencode(extra)}" if extra else path
    extension = sorted(
        (name, " ".join(value.split()))
        for name, value in headers.items()
        if name.startswith("x-goog-") and name not in _V2_UNSIGNED_HEADERS
    )
    string_to_sign = "\n".join(
        [
            method,
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            expires_text,
            *(f"{name}:{value}" for name, value in extension),
            resource,
        ]
    )
    try:
        signature = base64.b64decode(query["signature"], validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not _signing.verify(string_to_sign.encode(), signature):
        raise _mismatch(string_to_sign)


# -- POST policies (browser form uploads) ----------------------------------------------------

# Form fields a policy need not mention (post-object-forms: "x-ignore-" fields, the file,
# the policy and its signature).
_UNREFERENCED = frozenset({"file", "policy", "x-goog-signature"})
# The form fields POST object takes (xml-api/post-object-forms, "Form fields"), besides
# x-goog-meta-* and x-ignore-*; x-goog-storage-class as the XML API's headers take it.
_FORM_FIELDS = frozenset(
    {
        "acl",
        "bucket",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-length",
        "content-type",
        "expires",
        "file",
        "key",
        "policy",
        "success_action_redirect",
        "success_action_status",
        "x-goog-algorithm",
        "x-goog-credential",
        "x-goog-custom-time",
        "x-goog-date",
        "x-goog-signature",
        "x-goog-storage-class",
    }
)


def check_post_policy(form: Mapping[str, str], bucket: str, size: int, now: float) -> None:
    """Raise :class:`~._errors.XmlError` unless a V4 POST policy admits this form upload.

    ``form`` holds the form's fields by lower-case name (the file excluded), as sent: a
    ``key`` condition applies to the field before ``${filename}`` is expanded, which is how
    the client writes it. ``size`` is the file's length. The checks
    follow cloud.google.com/storage/docs/xml-api/post-object-forms and .../policy-document:
    the signature covers the base64 policy text; every condition must hold; every field
    but ``file``, ``policy``, ``x-goog-signature`` and ``x-ignore-*`` must be mentioned;
    and every field must be one POST object takes, mentioned or not.
    """
    for required in ("policy", "x-goog-signature", "x-goog-credential"):
        if not form.get(required):
            raise _policy_refused(f"Missing form field: {required}")  # wording: guess
    signer = form["x-goog-credential"].partition("/")[0]
    _require_fake_signer(signer)
    policy = form["policy"]
    try:
        signature = binascii.unhexlify(form["x-goog-signature"])
    except (binascii.Error, ValueError):
        signature = b""
    if not _signing.verify(policy.encode(), signature):
        raise _mismatch(policy)
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
        expiration = _parse_policy_time(document["expiration"])
        conditions = list(document.get("conditions", []))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _policy_refused("Policy document is not valid JSON.") from None  # guess
    if now > expiration:
        raise _policy_refused("Policy expired.")  # wording: guess, after S3's
    values = {**form, "bucket": bucket}
    referenced = set()
    for condition in conditions:
        name, holds = _condition(condition, values, size)
        referenced.add(name)
        if not holds:
            raise _policy_refused(
                "Policy did not match: " + json.dumps(condition, separators=(",", ":"))
            )  # Details wording: guess
    extra = sorted(
        name
        for name in form
        if name not in referenced and name not in _UNREFERENCED and not name.startswith("x-ignore-")
    )
    if extra:
        # Verified: "Policy did not reference these fields: submit"
        # (googleapis/google-cloud-java#7292, google-cloud-ruby#8138).
        raise _policy_refused("Policy did not reference these fields: " + ", ".join(extra))
    unknown = sorted(name for name in form if not _is_form_field(name))
    if unknown:
        # A field the policy names but POST object does not take is refused all the same:
        # python-storage's system test test_generate_signed_post_policy_v4_invalid_field signs
        # x-goog-random into the policy and expects 400 and nothing stored (the same test in
        # google-cloud-php's testUploadPolicyInvalidField). Code and message as the XML
        # API's generic refusal (gsutil#512); the details: wording: guess.
        raise XmlError(
            400,
            "InvalidArgument",
            "Invalid argument.",
            Details="Unknown form fields: " + ", ".join(unknown),
        )


def _is_form_field(name: str) -> bool:
    """Whether POST object takes a form field of this (lower-case) name."""
    return name in _FORM_FIELDS or name.startswith(("x-goog-meta-", "x-ignore-"))


def _condition(condition: object, values: Mapping[str, str], size: int) -> tuple[str, bool]:
    """Evaluate one policy condition: the field it names, and whether it holds."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        return name.lower(), values.get(name.lower()) == str(expected)
    if isinstance(condition, list) and len(condition) == 3:
        operator, subject, operand = condition
        if operator == "content-length-range":
            return "", int(subject) <= size <= int(operand)
        if isinstance(subject, str) and subject.startswith("$"):
            name = subject[1:].lower()
            actual = values.get(name)
            if operator == "eq":
                return name, actual == str(operand)
            if operator == "starts-with":
                return name, actual is not None and actual.startswith(str(operand))
    raise _policy_refused(
        "Unknown policy condition: " + json.dumps(condition, separators=(",", ":"))
    )  # wording: guess


def _parse_policy_time(text: str) -> float:
    """An ISO 8601 UTC time (``2026-11-24T06:00:00Z``, fraction allowed) in epoch seconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


# -- answers ---------------------------------------------------------------------------------


def _require_fake_signer(signer: str) -> None:
    if signer != _signing.SIGNER_EMAIL:
        raise XmlError(
            501,
            "NotImplemented",
            f"pytest-gcpfakes can only check signed URLs made by its fake signer, and this one "
            f"is signed by {signer or 'nobody'}: build the client without credentials under the "
            "plugin so that generate_signed_url() uses the fake signer.",
        )


def _expired(deadline: int) -> XmlError:
    # 400 ExpiredToken: "Rejecting with 400 + <Code>ExpiredToken</Code> matches Cloud
    # Storage exactly" (floci-io/floci-gcp#33, checked against GCS); message and details
    # as GCS printed them for an expired URL (fog/fog-google#264: "The provided token has
    # expired." / "Request has expired: 120", the URL's expiry in seconds since the epoch).
    return XmlError(
        400,
        "ExpiredToken",
        "The provided token has expired.",
        Details=f"Request has expired: {deadline}",
    )


def _mismatch(string_to_sign: str, **extra: str) -> XmlError:
    # 403 SignatureDoesNotMatch with the string GCS signed (and, for V4, its canonical
    # request): googleapis/google-cloud-node#1976 (V2) and xcir/libvmod-awsrest#32 (V4).
    return XmlError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided."
        " Check your Google secret key and signing method.",
        StringToSign=string_to_sign,
        **extra,
    )


def _policy_refused(details: str) -> XmlError:
    # Code and message verified (googleapis/google-cloud-java#7292); 400 as the XML API's
    # status-code table lists InvalidPolicyDocument.
    return XmlError(
        400,
        "InvalidPolicyDocument",
        "The content of the form does not meet the conditions specified in the policy document.",
        Details=details,
    )


def _malformed(parameter: str, value: str) -> XmlError:
    # 400 MalformedSecurityHeader for unusable date and expiry fields (floci-io/floci-gcp
    # #33, checked against GCS). The message and details are our guess.
    return XmlError(
        400,
        "MalformedSecurityHeader",
        "Your request has a malformed header.",
        ParameterName=parameter,
        Details=f"Invalid value: {value!r}",
    )
