"""The subscription filter language: what each form matches, and what GCP would reject."""

from __future__ import annotations

import dataclasses

import pytest
from google.api_core.exceptions import InvalidArgument

from pytest_gcpfakes.pubsub._filter import MessageFilter, parse_filter


def matches(text: str, attributes: dict[str, str]) -> bool:
    return parse_filter(text).matches(attributes)


def invalid_message(text: str) -> str:
    with pytest.raises(InvalidArgument) as excinfo:
        parse_filter(text)
    return str(excinfo.value.message)


# The empty filter.


def test_empty_filter_matches_message_with_attributes() -> None:
    assert matches("", {"name": "com"})


def test_empty_filter_matches_message_without_attributes() -> None:
    assert matches("", {})


def test_empty_filter_keeps_its_text() -> None:
    assert parse_filter("").text == ""


# attributes:KEY


def test_has_matches_message_with_the_key() -> None:
    assert matches("attributes:name", {"name": "com"})


def test_has_matches_key_with_empty_value() -> None:
    assert matches("attributes:name", {"name": ""})


def test_has_does_not_match_message_without_the_key() -> None:
    assert not matches("attributes:name", {"domain": "name"})


def test_has_compares_keys_case_sensitively() -> None:
    assert not matches("attributes:name", {"Name": "com"})


# attributes.KEY = "VALUE"


def test_equals_matches_exact_value() -> None:
    assert matches('attributes.name = "com"', {"name": "com"})


def test_equals_does_not_match_other_value() -> None:
    assert not matches('attributes.name = "com"', {"name": "org"})


def test_equals_does_not_match_message_without_the_key() -> None:
    assert not matches('attributes.name = "com"', {"domain": "com"})


def test_equals_compares_values_case_sensitively() -> None:
    assert not matches('attributes.name = "com"', {"name": "COM"})


def test_equals_does_not_match_value_that_only_starts_with_it() -> None:
    assert not matches('attributes.name = "com"', {"name": "company"})


def test_equals_empty_string_matches_empty_value() -> None:
    assert matches('attributes.name = ""', {"name": ""})


def test_equals_needs_no_spaces_around_the_operator() -> None:
    assert matches('attributes.author="unknown"', {"author": "unknown"})


# attributes.KEY != "VALUE"


def test_not_equals_matches_other_value() -> None:
    assert matches('attributes.name != "com"', {"name": "org"})


def test_not_equals_does_not_match_same_value() -> None:
    assert not matches('attributes.name != "com"', {"name": "com"})


def test_not_equals_matches_message_without_the_key() -> None:
    assert matches('attributes.name != "com"', {"domain": "com"})


# hasPrefix(attributes.KEY, "PREFIX")


def test_has_prefix_matches_attribute_starting_with_prefix() -> None:
    assert matches('hasPrefix(attributes.name, "co")', {"name": "com"})


def test_has_prefix_matches_attribute_equal_to_prefix() -> None:
    assert matches('hasPrefix(attributes.name, "co")', {"name": "co"})


def test_has_prefix_does_not_match_attribute_with_other_start() -> None:
    assert not matches('hasPrefix(attributes.name, "co")', {"name": "org"})


def test_has_prefix_does_not_match_attribute_containing_prefix_later() -> None:
    assert not matches('hasPrefix(attributes.name, "co")', {"name": "deco"})


def test_has_prefix_does_not_match_message_without_the_key() -> None:
    assert not matches('hasPrefix(attributes.name, "co")', {"domain": "com"})


def test_has_prefix_with_empty_prefix_matches_any_value_of_the_key() -> None:
    assert matches('hasPrefix(attributes.name, "")', {"name": "anything"})


def test_has_prefix_is_case_sensitive() -> None:
    assert not matches('hasPrefix(attributes.name, "co")', {"name": "Com"})


def test_has_prefix_accepts_a_quoted_key() -> None:
    assert matches('hasPrefix(attributes."ce.source", "baz/")', {"ce.source": "baz/1"})


# NOT and -


def test_not_has_matches_message_without_the_key() -> None:
    assert matches("NOT attributes:name", {"domain": "com"})


def test_not_has_does_not_match_message_with_the_key() -> None:
    assert not matches("NOT attributes:name", {"name": "com"})


def test_not_has_prefix_matches_message_without_the_key() -> None:
    assert matches('NOT hasPrefix(attributes.name, "co")', {})


def test_not_equals_via_not_matches_message_without_the_key() -> None:
    assert matches('NOT attributes.name = "com"', {})


def test_minus_negates_like_not() -> None:
    assert matches('attributes.name = "com" AND -attributes:lang', {"name": "com"})


def test_minus_negation_excludes_message_with_the_key() -> None:
    assert not matches(
        'attributes.name = "com" AND -attributes:lang', {"name": "com", "lang": "en"}
    )


def test_not_before_parentheses_negates_the_group() -> None:
    assert matches("NOT (attributes:a OR attributes:b)", {"c": "1"})


def test_not_negation_inside_parentheses_may_be_negated_again() -> None:
    assert matches("NOT (NOT attributes:a)", {"a": "1"})


def test_not_may_touch_an_opening_parenthesis() -> None:
    assert matches("NOT(attributes:a)", {})


# AND, OR, precedence and parentheses


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [({"a": "1", "b": "2"}, True), ({"a": "1"}, False), ({"b": "2"}, False), ({}, False)],
)
def test_and_matches_only_when_both_sides_match(attributes: dict[str, str], expected: bool) -> None:
    assert matches("attributes:a AND attributes:b", attributes) is expected


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [({"a": "1", "b": "2"}, True), ({"a": "1"}, True), ({"b": "2"}, True), ({}, False)],
)
def test_or_matches_when_either_side_matches(attributes: dict[str, str], expected: bool) -> None:
    assert matches("attributes:a OR attributes:b", attributes) is expected


def test_and_chain_of_three_needs_all_three() -> None:
    assert not matches("attributes:a AND attributes:b AND attributes:c", {"a": "", "b": ""})


def test_or_chain_of_three_needs_any_one() -> None:
    assert matches("attributes:a OR attributes:b OR attributes:c", {"c": ""})


def test_not_binds_tighter_than_and() -> None:
    assert matches("NOT attributes:a AND attributes:b", {"b": "1"})


def test_not_binds_tighter_than_and_so_only_the_first_operand_is_negated() -> None:
    assert not matches("NOT attributes:a AND attributes:b", {})


def test_not_binds_tighter_than_or() -> None:
    assert matches("NOT attributes:a OR attributes:b", {"a": "1", "b": "1"})


@pytest.mark.parametrize(
    ("name", "expected"), [("net", True), ("org", True), ("com", False), (None, False)]
)
def test_parentheses_combine_and_with_or(name: str | None, expected: bool) -> None:
    text = (
        'attributes:"iana.org/language_tag" AND '
        '(attributes.name = "net" OR attributes.name = "org")'
    )
    attributes = {"iana.org/language_tag": "en"}
    if name is not None:
        attributes["name"] = name
    assert matches(text, attributes) is expected


def test_parentheses_group_or_before_and() -> None:
    assert matches("(attributes:a OR attributes:b) AND attributes:c", {"b": "", "c": ""})


def test_nested_parentheses_are_allowed() -> None:
    assert matches("((attributes:a))", {"a": ""})


# Keys, string literals and escapes


@pytest.mark.parametrize("key", ["name", "is-even", "ce_type", "2fa", "-", "a-b_c-9"])
def test_bare_key_may_use_letters_digits_hyphens_and_underscores(key: str) -> None:
    assert matches(f"attributes:{key}", {key: "x"})


def test_quoted_key_matches_key_with_other_characters() -> None:
    assert matches('attributes."iana.org/language_tag" = "en"', {"iana.org/language_tag": "en"})


def test_quoted_key_works_with_has() -> None:
    assert matches('attributes:"my key"', {"my key": "1"})


def test_quoted_key_may_hold_unicode_escapes() -> None:
    assert matches(r'attributes:"\u307F\u3093\u306A"', {"みんな": "x"})


def test_quoted_key_may_hold_raw_unicode() -> None:
    assert matches('attributes:"みんな"', {"みんな": "x"})


@pytest.mark.parametrize(
    ("escape", "char"),
    [
        (r"\a", "\a"),
        (r"\b", "\b"),
        (r"\f", "\f"),
        (r"\n", "\n"),
        (r"\r", "\r"),
        (r"\t", "\t"),
        (r"\v", "\v"),
        (r"\\", "\\"),
        (r"\'", "'"),
        (r"\"", '"'),
        (r"\`", "`"),
        (r"\?", "?"),
        (r"\x41", "A"),
        (r"\X4a", "J"),
        (r"\u00e9", "é"),
        (r"\U0001F600", "😀"),
        (r"\101", "A"),
        (r"\377", "ÿ"),
        (r"\000", "\x00"),
    ],
)
def test_string_literal_escape_decodes_to_its_character(escape: str, char: str) -> None:
    assert matches(f'attributes.k = "<{escape}>"', {"k": f"<{char}>"})


def test_single_quote_needs_no_escape_inside_a_string_literal() -> None:
    assert matches('attributes.k = "it\'s"', {"k": "it's"})


def test_value_comparison_uses_the_decoded_text_not_the_escape() -> None:
    assert not matches(r'attributes.k = "\x41"', {"k": r"\x41"})


# Whitespace


def test_newlines_and_tabs_separate_tokens() -> None:
    assert matches(
        'attributes.foo = "foo"\nAND\tattributes.bar = "bar"\n', {"foo": "foo", "bar": "bar"}
    )


def test_leading_and_trailing_whitespace_is_ignored() -> None:
    assert matches("  attributes:a  ", {"a": ""})


def test_whitespace_inside_hasprefix_arguments_is_allowed() -> None:
    assert matches('hasPrefix( attributes.name ,"co" )', {"name": "com"})


# Messages without attributes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attributes:a", False),
        ('attributes.a = "x"', False),
        ('attributes.a != "x"', True),
        ('hasPrefix(attributes.a, "")', False),
        ("NOT attributes:a", True),
        ("-attributes:a", True),
        ('attributes:a OR attributes.b != "x"', True),
        ("attributes:a AND NOT attributes:b", False),
    ],
)
def test_message_without_attributes_is_judged_as_having_no_keys(text: str, expected: bool) -> None:
    assert matches(text, {}) is expected


# The MessageFilter value


def test_filter_keeps_its_text() -> None:
    assert parse_filter("attributes:a").text == "attributes:a"


def test_filter_is_immutable() -> None:
    message_filter = parse_filter("attributes:a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message_filter.text = "attributes:b"  # type: ignore[misc]


def test_filters_with_the_same_text_are_equal() -> None:
    assert parse_filter("attributes:a") == parse_filter("attributes:a")


def test_parse_filter_returns_a_message_filter() -> None:
    assert isinstance(parse_filter("attributes:a"), MessageFilter)


def test_filter_accepts_any_mapping() -> None:
    from types import MappingProxyType

    assert parse_filter("attributes:a").matches(MappingProxyType({"a": "1"}))


# Length limit


def test_filter_of_256_bytes_is_valid() -> None:
    text = 'attributes.k = "' + "x" * 239 + '"'
    assert len(text.encode()) == 256
    assert matches(text, {"k": "x" * 239})


def test_filter_over_256_bytes_is_invalid_argument() -> None:
    text = 'attributes.k = "' + "x" * 240 + '"'
    assert invalid_message(text) == (
        "Invalid filter expression: the filter is 257 bytes; the maximum length is 256 bytes."
    )


def test_filter_length_counts_utf8_bytes_not_characters() -> None:
    text = 'attributes.k = "' + "é" * 120 + '"'
    assert len(text) == 137
    assert invalid_message(text) == (
        "Invalid filter expression: the filter is 257 bytes; the maximum length is 256 bytes."
    )


# Invalid filters: the exception class and the full message


def test_and_mixed_with_or_without_parentheses_is_invalid_argument() -> None:
    text = (
        'attributes:"iana.org/language_tag" AND attributes.name = "net" OR attributes.name = "org"'
    )
    assert invalid_message(text) == (
        "Invalid filter expression: AND and OR can only be combined with parentheses "
        "at position 64."
    )


def test_or_mixed_with_and_without_parentheses_is_invalid_argument() -> None:
    assert invalid_message("attributes:a OR attributes:b AND attributes:c") == (
        "Invalid filter expression: AND and OR can only be combined with parentheses "
        "at position 30."
    )


def test_invalid_argument_is_a_400_error() -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        parse_filter("attributes")
    assert excinfo.value.code == 400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            'attributes.name = "com" AND ("net" OR "org")',
            "a comparison must start with an attribute, not a string literal at position 30",
            id="incomplete-expressions-in-parentheses",
        ),
        pytest.param(
            '"com" = attributes.name',
            "a comparison must start with an attribute, not a string literal at position 1",
            id="value-on-the-left",
        ),
        pytest.param(
            "attributes.name = attributes.website",
            "the right-hand side of '=' must be a string literal, not a key at position 19",
            id="two-keys-compared",
        ),
        pytest.param(
            "attributes.name != attributes.website",
            "the right-hand side of '!=' must be a string literal, not a key at position 20",
            id="two-keys-compared-not-equal",
        ),
        pytest.param(
            "attributes.name = com",
            "expected a string literal after '=' but found 'com' at position 19",
            id="unquoted-value",
        ),
        pytest.param(
            "attributes.name = 'com'",
            "expected a string literal after '=' but found \"'\" at position 19",
            id="single-quoted-value",
        ),
        pytest.param(
            r"attributes:\u307F\u3093\u306A",
            "escape sequences are only allowed inside a string literal at position 12",
            id="escape-outside-string-literal",
        ),
        pytest.param(
            r"attributes:a\u307F",
            "escape sequences are only allowed inside a string literal at position 13",
            id="escape-after-bare-key",
        ),
        pytest.param(
            "attributes:みんな",
            "a key with characters other than ASCII letters, digits, '-' and '_' must be "
            'quoted, as in attributes."KEY" at position 12',
            id="unquoted-non-ascii-key",
        ),
        pytest.param(
            "attributes:a and attributes:b",
            "AND, OR and NOT must be uppercase, found 'and' at position 14",
            id="lowercase-and",
        ),
        pytest.param(
            "attributes:a or attributes:b",
            "AND, OR and NOT must be uppercase, found 'or' at position 14",
            id="lowercase-or",
        ),
        pytest.param(
            "not attributes:a",
            "AND, OR and NOT must be uppercase, found 'not' at position 1",
            id="lowercase-not",
        ),
        pytest.param(
            "Not attributes:a",
            "AND, OR and NOT must be uppercase, found 'Not' at position 1",
            id="capitalised-not",
        ),
        pytest.param(
            "NOT NOT attributes:a",
            "only one NOT or '-' may precede an expression; use parentheses at position 5",
            id="double-not",
        ),
        pytest.param(
            "--attributes:a",
            "only one NOT or '-' may precede an expression; use parentheses at position 2",
            id="double-minus",
        ),
        pytest.param(
            'hasSuffix(attributes.name, "om")',
            "unknown function 'hasSuffix'; hasPrefix is the only function at position 1",
            id="unknown-function",
        ),
        pytest.param(
            'hasprefix(attributes.name, "co")',
            "unknown function 'hasprefix'; hasPrefix is the only function at position 1",
            id="function-name-case",
        ),
        pytest.param(
            'hasPrefix(attributes:name, "co")',
            "the first argument of hasPrefix must be attributes.KEY at position 21",
            id="has-prefix-with-has",
        ),
        pytest.param(
            'hasPrefix("co", attributes.name)',
            "the first argument of hasPrefix must be attributes.KEY at position 11",
            id="has-prefix-arguments-swapped",
        ),
        pytest.param(
            "hasPrefix(attributes.name)",
            "expected ',' after the first argument of hasPrefix but found ')' at position 26",
            id="has-prefix-one-argument",
        ),
        pytest.param(
            'hasPrefix(attributes.name, "c", "o")',
            "expected ')' after the second argument of hasPrefix but found ',' at position 31",
            id="has-prefix-three-arguments",
        ),
        pytest.param(
            "hasPrefix(attributes.name, attributes.other)",
            "the second argument of hasPrefix must be a string literal at position 28",
            id="has-prefix-key-as-prefix",
        ),
        pytest.param(
            'hasPrefix attributes.name, "co"',
            "expected '(' after hasPrefix but found 'attributes' at position 11",
            id="has-prefix-without-parentheses",
        ),
        pytest.param(
            'hasPrefix(attributes.name, "co"',
            "expected ')' after the second argument of hasPrefix but found the end of the "
            "filter at position 32",
            id="has-prefix-unclosed",
        ),
        pytest.param(
            'attributes.name < "com"',
            "unsupported operator '<'; use ':', '=' or '!=' at position 17",
            id="less-than",
        ),
        pytest.param(
            'attributes.name >= "com"',
            "unsupported operator '>='; use ':', '=' or '!=' at position 17",
            id="greater-or-equal",
        ),
        pytest.param(
            'attributes.name ! "com"',
            "expected '=' or '!=' after the key but found '!' at position 17",
            id="bang-alone",
        ),
        pytest.param(
            'attributes.name == "com"',
            "expected a string literal after '=' but found '=' at position 18",
            id="double-equals",
        ),
        pytest.param(
            'attributes:name = "com"',
            "expected AND, OR or the end of the filter but found '=' at position 17",
            id="has-then-equals",
        ),
        pytest.param(
            "attributes.name",
            "expected '=' or '!=' after the key but found the end of the filter at position 16",
            id="key-without-comparison",
        ),
        pytest.param(
            "attributes",
            "expected ':' or '.' after 'attributes' but found the end of the filter at position 11",
            id="bare-attributes",
        ),
        pytest.param(
            "Attributes:name",
            "expected an attribute condition or '(' but found 'Attributes' at position 1",
            id="attributes-case",
        ),
        pytest.param(
            'name = "com"',
            "expected an attribute condition or '(' but found 'name' at position 1",
            id="key-without-attributes",
        ),
        pytest.param(
            "attributes:",
            "expected an attribute key but found the end of the filter at position 12",
            id="missing-key",
        ),
        pytest.param(
            'attributes.name = "com',
            "unterminated string literal at position 19",
            id="unterminated-string",
        ),
        pytest.param(
            'attributes:"name',
            "unterminated string literal at position 12",
            id="unterminated-quoted-key",
        ),
        pytest.param(
            'attributes.name = "com\\',
            "unterminated string literal at position 19",
            id="backslash-at-end",
        ),
        pytest.param(
            r'attributes.name = "\q"',
            r"invalid escape sequence '\q' in a string literal at position 20",
            id="unknown-escape",
        ),
        pytest.param(
            r'attributes.name = "\u12"',
            r"invalid escape sequence '\u12' in a string literal at position 20",
            id="short-unicode-escape",
        ),
        pytest.param(
            r'attributes.name = "\xg1"',
            r"invalid escape sequence '\x' in a string literal at position 20",
            id="bad-hex-escape",
        ),
        pytest.param(
            r'attributes.name = "\268"',
            r"invalid escape sequence '\26' in a string literal at position 20",
            id="bad-octal-digit",
        ),
        pytest.param(
            r'attributes.name = "\12"',
            r"invalid escape sequence '\12' in a string literal at position 20",
            id="two-digit-octal",
        ),
        pytest.param(
            r'attributes.name = "\400"',
            r"invalid escape sequence '\4' in a string literal at position 20",
            id="octal-over-377",
        ),
        pytest.param(
            r'attributes.name = "\uD800"',
            r"invalid escape sequence '\uD800' in a string literal at position 20",
            id="surrogate-escape",
        ),
        pytest.param(
            r'attributes.name = "\U00110000"',
            r"invalid escape sequence '\U00110000' in a string literal at position 20",
            id="escape-beyond-unicode",
        ),
        pytest.param(
            "attributes:a attributes:b",
            "expected AND, OR or the end of the filter but found 'attributes' at position 14",
            id="juxtaposition",
        ),
        pytest.param(
            "AND attributes:a",
            "expected an attribute condition or '(' but found 'AND' at position 1",
            id="leading-and",
        ),
        pytest.param(
            "attributes:a AND",
            "expected an attribute condition or '(' but found the end of the filter at position 17",
            id="trailing-and",
        ),
        pytest.param(
            "attributes:a OR OR attributes:b",
            "expected an attribute condition or '(' but found 'OR' at position 17",
            id="doubled-or",
        ),
        pytest.param(
            "NOT",
            "expected an attribute condition or '(' but found the end of the filter at position 4",
            id="not-alone",
        ),
        pytest.param(
            "()",
            "expected an attribute condition or '(' but found ')' at position 2",
            id="empty-parentheses",
        ),
        pytest.param(
            "(attributes:a",
            "expected AND, OR or ')' but found the end of the filter at position 14",
            id="unclosed-parenthesis",
        ),
        pytest.param(
            "attributes:a)",
            "expected AND, OR or the end of the filter but found ')' at position 13",
            id="unopened-parenthesis",
        ),
        pytest.param(
            "attributes:a && attributes:b",
            "expected AND, OR or the end of the filter but found '&' at position 14",
            id="c-style-and",
        ),
        pytest.param(
            "   ",
            "expected an attribute condition or '(' but found the end of the filter at position 4",
            id="whitespace-only",
        ),
    ],
)
def test_malformed_filter_is_invalid_argument(text: str, message: str) -> None:
    assert invalid_message(text) == f"Invalid filter expression: {message}."
