"""Cloud Storage's bucket and object name rules, and the error each broken rule raises."""

from __future__ import annotations

import pytest

from pytest_gcpfakes.storage._errors import GCSError
from pytest_gcpfakes.storage._names import validate_bucket_name, validate_object_name


def _bucket_error(name: str) -> GCSError:
    with pytest.raises(GCSError) as caught:
        validate_bucket_name(name)
    return caught.value


def _object_error(name: str) -> GCSError:
    with pytest.raises(GCSError) as caught:
        validate_object_name(name)
    return caught.value


def _pinned(error: GCSError) -> tuple[int, str, str]:
    return error.status, error.reason, error.message


def _dotted(total: int) -> str:
    """A ``total``-character name of three 63-character components and the rest."""
    return ".".join(["a" * 63] * 3 + ["b" * (total - 3 * 64)])


# --- bucket names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my-bucket_1",
        "0-9",
        "example.com",
        _dotted(222),
        "a" * 63 + ".b",
        "a..b",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "go-og",
        "my-goog",
        "goggle-bucket",
        "my-googly",
    ],
)
def test_bucket_name_within_the_rules_is_accepted(name: str) -> None:
    validate_bucket_name(name)


def test_empty_bucket_name_is_required() -> None:
    assert _pinned(_bucket_error("")) == (400, "required", "Required")


@pytest.mark.parametrize("name", ["a", "ab"])
def test_bucket_name_under_3_characters_is_invalid(name: str) -> None:
    assert _pinned(_bucket_error(name)) == (400, "invalid", f"Invalid bucket name: '{name}'")


@pytest.mark.parametrize("length", [64, 65])
def test_bucket_name_over_63_characters_is_restricted(length: int) -> None:
    name = "a" * length
    assert _pinned(_bucket_error(name)) == (
        400,
        "invalid",
        f"Use of this bucket name is restricted: '{name}'",
    )


def test_dotted_bucket_name_over_222_characters_is_restricted() -> None:
    name = _dotted(223)
    assert len(name) == 223
    assert _bucket_error(name).message == f"Use of this bucket name is restricted: '{name}'"


def test_dotted_bucket_name_with_a_64_character_component_is_restricted() -> None:
    name = "a" * 64 + ".com"
    assert _bucket_error(name).message == f"Use of this bucket name is restricted: '{name}'"


@pytest.mark.parametrize("name", ["MyBucket", "my bucket", "my/bucket", "my!bucket", "bücket"])
def test_bucket_name_with_a_character_outside_the_set_is_invalid(name: str) -> None:
    assert _pinned(_bucket_error(name)) == (400, "invalid", f"Invalid bucket name: '{name}'")


@pytest.mark.parametrize("name", ["-abc", "abc-", "_abc", "abc_", ".abc", "abc."])
def test_bucket_name_must_start_and_end_with_a_letter_or_digit(name: str) -> None:
    assert _bucket_error(name).message == f"Invalid bucket name: '{name}'"


@pytest.mark.parametrize("name", ["192.168.5.4", "0.0.0.0", "255.255.255.255"])
def test_bucket_name_that_is_an_ip_address_is_invalid(name: str) -> None:
    assert _pinned(_bucket_error(name)) == (400, "invalid", f"Invalid bucket name: '{name}'")


@pytest.mark.parametrize("name", ["goog", "goog-bucket", "googbucket"])
def test_bucket_name_with_the_goog_prefix_is_restricted(name: str) -> None:
    assert _pinned(_bucket_error(name)) == (
        400,
        "invalid",
        f"Use of this bucket name is restricted: '{name}'",
    )


@pytest.mark.parametrize(
    "name", ["my-google-bucket", "us-central1-google-x", "g00gle", "go0gle", "googl3", "goog1e"]
)
def test_bucket_name_containing_google_or_a_close_misspelling_is_restricted(name: str) -> None:
    assert _bucket_error(name).message == f"Use of this bucket name is restricted: '{name}'"


# --- object names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "a" * 1024,
        "é" * 512,
        "😀" * 256,
        "a/b/c.txt",
        "tab\there",
        "...",
        "./a",
        "a/..",
        ".well-known/acme-challenge",
        "a/.well-known/acme-challenge/x",
        "#[]*?",
    ],
)
def test_object_name_within_the_rules_is_accepted(name: str) -> None:
    validate_object_name(name)


def test_empty_object_name_is_required() -> None:
    assert _pinned(_object_error("")) == (400, "required", "Required")


@pytest.mark.parametrize(
    ("name", "size"), [("a" * 1025, 1025), ("é" * 512 + "a", 1025), ("😀" * 257, 1028)]
)
def test_object_name_over_1024_utf8_bytes_is_too_long(name: str, size: int) -> None:
    error = _object_error(name)
    assert (error.status, error.reason) == (400, "invalid")
    assert error.message.startswith(
        f"The maximum object length is 1024 characters, but got a name with {size} characters: '"
    )


@pytest.mark.parametrize("name", ["line\nfeed", "carriage\rreturn", "\n", "end\r\n"])
def test_object_name_with_a_carriage_return_or_line_feed_is_refused(name: str) -> None:
    assert _pinned(_object_error(name)) == (
        400,
        "invalid",
        "Disallowed unicode characters present in object name",
    )


def test_object_name_that_is_not_utf8_is_refused_like_a_line_feed() -> None:
    error = _object_error("lone\ud800surrogate")
    assert error.message == "Disallowed unicode characters present in object name"


@pytest.mark.parametrize("name", [".", ".."])
def test_object_name_of_only_dots_is_invalid(name: str) -> None:
    assert _pinned(_object_error(name)) == (400, "invalid", f"Invalid object name: '{name}'")


@pytest.mark.parametrize("name", [".well-known/acme-challenge/", ".well-known/acme-challenge/t"])
def test_object_name_under_the_acme_challenge_prefix_is_invalid(name: str) -> None:
    assert _pinned(_object_error(name)) == (400, "invalid", f"Invalid object name: '{name}'")
