"""Cloud Storage's rules for bucket and object names, raising GCS's own errors."""

from __future__ import annotations

import re

from pytest_gcpfakes.storage import _errors

# Rules: cloud.google.com/storage/docs/buckets#naming (bucket names) and
# cloud.google.com/storage/docs/objects#naming (object names). Which answer GCS gives for
# which rule is noted at each check: "verified" where a real answer was captured, "guess"
# where only the rule is documented.

MIN_BUCKET_NAME = 3
MAX_BUCKET_NAME = 63
MAX_DOTTED_BUCKET_NAME = 222
MAX_BUCKET_NAME_COMPONENT = 63
MAX_OBJECT_NAME_BYTES = 1024

_BUCKET_CHARS = re.compile(r"[a-z0-9._-]+")
_DOTTED_DECIMAL = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
# Digits that spell "google" closely enough for GCS to refuse ("g00gle" is the documented
# example). Which other look-alikes GCS refuses is a guess.
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "3": "e"})
_ACME_PREFIX = ".well-known/acme-challenge/"


def validate_bucket_name(name: str) -> None:
    """Raise the GCSError Cloud Storage answers a bucket insert named ``name`` with."""
    if not name:
        # Guess: the answer to an empty required field ("Required", reason "required").
        raise _errors.required()
    # Verified for upper case (pulumi-gcp#126); the other characters are a guess.
    if _BUCKET_CHARS.fullmatch(name) is None:
        raise _errors.invalid_bucket_name(name)
    # Guess: documented rule, answer assumed to be the character-set one.
    if not (name[0].isalnum() and name[-1].isalnum()):
        raise _errors.invalid_bucket_name(name)
    _check_bucket_length(name)
    # Guess: documented rule ("192.168.5.4"), answer assumed to be the character-set one.
    if _is_dotted_decimal(name):
        raise _errors.invalid_bucket_name(name)
    # Guess for "goog"; verified for a name containing "google" (Cloud Composer notes).
    if name.startswith("goog") or "google" in name.translate(_LOOKALIKES):
        raise _errors.restricted_bucket_name(name)


def _check_bucket_length(name: str) -> None:
    if len(name) < MIN_BUCKET_NAME:
        # Guess: GCS's answer to a too-short name was not found.
        raise _errors.invalid_bucket_name(name)
    if "." not in name:
        if len(name) > MAX_BUCKET_NAME:
            # Verified for 65 and 67 characters (dvid#268, cloud-ops-sandbox#576).
            raise _errors.restricted_bucket_name(name)
        return
    # Names with dots also need domain verification in GCS; the fake owns every domain.
    # Consecutive dots are only DNS advice in the docs, so they pass here too.
    if len(name) > MAX_DOTTED_BUCKET_NAME or any(
        len(part) > MAX_BUCKET_NAME_COMPONENT for part in name.split(".")
    ):
        # Guess: assumed to share the too-long answer of undotted names.
        raise _errors.restricted_bucket_name(name)


def _is_dotted_decimal(name: str) -> bool:
    match = _DOTTED_DECIMAL.fullmatch(name)
    # Only real IPv4 addresses: "300.1.1.1" is not dotted-decimal notation (a guess at
    # where GCS draws the line).
    return match is not None and all(int(octet) <= 255 for octet in match.groups())


def validate_object_name(name: str) -> None:
    """Raise the GCSError Cloud Storage answers an object write named ``name`` with."""
    if not name:
        # Verified: "Error 400: Required, required" (google-cloud-go#196).
        raise _errors.required()
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate is not UTF-8; guess: GCS words it like the CR/LF refusal.
        raise _errors.object_name_disallowed_characters() from None
    if size > MAX_OBJECT_NAME_BYTES:
        # Verified wording (hashicorp/vault#18248); counting bytes, not characters, is
        # the documented limit.
        raise _errors.object_name_too_long(name)
    if "\r" in name or "\n" in name:
        # Verified for a newline (google-cloud-go#196); carriage return from the docs.
        raise _errors.object_name_disallowed_characters()
    if name in (".", "..") or name.startswith(_ACME_PREFIX):
        # Guess: documented rules, undocumented answer.
        raise _errors.invalid_object_name(name)
