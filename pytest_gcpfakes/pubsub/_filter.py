"""The Pub/Sub subscription filter language: parse once, then match attributes fast.

A filter is parsed when the subscription is created and compiled into a tree of small
closures, because it then runs on every publish for every filtered subscription.
"""

# Rules, and where each comes from.
#
# [doc] https://cloud.google.com/pubsub/docs/subscription-message-filter (now served at
#       https://docs.cloud.google.com/pubsub/docs/filtering; checked against the copy dated
#       2026-04-10, sections "Syntax to create a filter" onwards).
# [pstest] googleapis/google-cloud-go pubsub/pstest/filtering.go and filtering_test.go: Google's
#       own Go fake, which parses filters with go.einride.tech/aip/filtering (AIP-160).
# [aip] AIP-160 filtering grammar, https://google.aip.dev/160.
# [cel] google/cel-go parser/unescape.go: the string unescaping that einride/aip-go
#       (filtering/unescape_test.go) adapts, hence what pstest accepts.
#
# - `attributes:KEY` matches messages that have KEY. [doc]
# - `attributes.KEY = "VALUE"` matches messages whose KEY equals VALUE exactly. [doc]
# - `attributes.KEY != "VALUE"` is the negation of `=`, so it also matches messages without
#   KEY. [doc] describes it as "Messages without the name attribute and the value of com";
#   [pstest] filtering_test.go expects messages lacking the key to match.
# - `hasPrefix(attributes.KEY, "PREFIX")` matches messages whose KEY starts with PREFIX; it is
#   the only function, and there are no regular expressions. [doc]
# - Comparison operators are only `:`, `=` and `!=`; the right-hand side of `=` / `!=` must be
#   a string literal and the left-hand side a key (`"com" = attributes.name` and
#   `attributes.name = attributes.website` are invalid). [doc]
# - Keys and values are case-sensitive. [doc]
# - A key with characters other than hyphens, underscores or alphanumerics must be a string
#   literal: `attributes."iana.org/language_tag"`. [doc] Its own C++ sample uses the bare key
#   `attributes.is-even = "false"`.
# - Escapes are only valid inside a string literal; the doc allows backslashes, quotes,
#   non-printing characters and Unicode, hexadecimal and octal escapes. [doc] The exact set is
#   CEL's [cel]: \a \b \f \n \r \t \v \\ \' \" \` \? , \xHH and \XHH, \uHHHH, \UHHHHHHHH, and
#   three-digit octal \[0-3][0-7][0-7]; each names a code point. Anything else is invalid.
# - AND, OR and NOT must be uppercase; NOT has the highest precedence; AND and OR can only be
#   combined with parentheses around complete expressions (`a AND b OR c` is invalid). [doc]
# - `-` may be used instead of NOT: `-attributes:"iana.org/language_tag"`. [doc]
# - At most one NOT or `-` precedes an operand (`NOT NOT a` is invalid; `NOT (NOT a)` is
#   fine): AIP-160's `term: [(NOT WS | MINUS)] simple`. [aip]
# - A filter is at most 256 bytes (UTF-8). [doc] The empty filter matches every message
#   (google.pubsub_v1.types.Subscription.filter: "If empty, then no messages are filtered
#   out").
# - Newlines are whitespace: users ran multi-line filters on GCP before the Terraform
#   provider's own validator began rejecting them (hashicorp/terraform-provider-google#19296).
#
# Choices where the sources are silent:
# - Error wording: no public source quotes the text GCP returns for a bad filter, so messages
#   are our own, in GCP's style: "Invalid filter expression: <reason> at position <n>." (n
#   counts characters from 1). Only the exception class, InvalidArgument, is GCP's.
# - String literals use double quotes only; the doc never shows single quotes.
# - Bare keys are ASCII letters, digits, `-` and `_`; anything else needs quotes.
# - Whitespace (space, tab, newline, carriage return, form feed, vertical tab) may appear
#   between any two tokens, including around `.` and `:`. A filter of only whitespace is
#   invalid: only the empty string means "no filter".
# - Operands are joined only by AND or OR: AIP-160's implicit AND by juxtaposition
#   (`attributes:a attributes:b`) is not part of the Pub/Sub doc and is rejected.
# - `attributes` and `hasPrefix` are case-sensitive, like the operators.
# - `NOT(...)` needs no space after NOT, although AIP-160 writes `NOT WS`.
# - \u / \U escapes naming a surrogate (D800-DFFF) or a value above 10FFFF are invalid: they
#   cannot be sent as UTF-8 attribute text.

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from google.api_core.exceptions import InvalidArgument

__all__ = ["MessageFilter", "parse_filter"]

MAX_FILTER_BYTES = 256

_Predicate = Callable[[Mapping[str, str]], bool]

_WHITESPACE = " \t\n\r\f\v"
_WORD = re.compile(r"[A-Za-z0-9_]+")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEYWORDS = ("AND", "OR", "NOT")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}
_HEX_ESCAPE_DIGITS = {"x": 2, "X": 2, "u": 4, "U": 8}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCTAL_DIGITS = frozenset("01234567")


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """A parsed subscription filter; equal when the filter text is equal."""

    text: str
    _predicate: _Predicate = field(repr=False, compare=False)

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """Return whether a message with these attributes passes the filter."""
        return self._predicate(attributes)


def parse_filter(text: str) -> MessageFilter:
    """Parse a subscription filter, raising InvalidArgument as CreateSubscription would."""
    if text == "":
        return MessageFilter(text, _match_all)
    size = len(text.encode("utf-8"))
    if size > MAX_FILTER_BYTES:
        _invalid(f"the filter is {size} bytes; the maximum length is {MAX_FILTER_BYTES} bytes")
    return MessageFilter(text, _Parser(text).parse())


def _invalid(reason: str) -> NoReturn:
    """Raise what CreateSubscription raises for a bad filter."""
    raise InvalidArgument(f"Invalid filter expression: {reason}.")


def _match_all(attributes: Mapping[str, str]) -> bool:
    return True


def _scan(text: str, start: int, limit: int, allowed: frozenset[str]) -> int:
    """Return the end of the run of up to `limit` allowed characters from start."""
    end = start
    while end < len(text) and end - start < limit and text[end] in allowed:
        end += 1
    return end


# Compiled predicates. Each binds its operands as closure variables so that matching does no
# lookups beyond the attribute map itself.


def _has_key(key: str) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        return key in attributes

    return predicate


def _equals(key: str, value: str) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        return attributes.get(key) == value

    return predicate


def _not_equals(key: str, value: str) -> _Predicate:
    # A missing key gives None, which differs from every string: the message matches.
    def predicate(attributes: Mapping[str, str]) -> bool:
        return attributes.get(key) != value

    return predicate


def _has_prefix(key: str, prefix: str) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        value = attributes.get(key)
        return value is not None and value.startswith(prefix)

    return predicate


def _negate(operand: _Predicate) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        return not operand(attributes)

    return predicate


def _both(left: _Predicate, right: _Predicate) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        return left(attributes) and right(attributes)

    return predicate


def _either(left: _Predicate, right: _Predicate) -> _Predicate:
    def predicate(attributes: Mapping[str, str]) -> bool:
        return left(attributes) or right(attributes)

    return predicate


class _Parser:
    """Recursive descent straight over the text.

    There is no separate tokenizer because what a token is depends on where it stands: after
    `attributes.` or `attributes:` a key may contain `-`, elsewhere `-` means NOT.

    Grammar (whitespace allowed between any two tokens):
        filter     = expression END
        expression = term { "AND" term } | term { "OR" term }
        term       = [ "NOT" | "-" ] simple
        simple     = "(" expression ")" | restriction | "hasPrefix" "(" member "," string ")"
        restriction = "attributes" ":" key | member ( "=" | "!=" ) string
        member     = "attributes" "." key
        key        = bare-key | string
    """

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> _Predicate:
        predicate = self._expression()
        self._skip_whitespace()
        if self.pos < len(self.text):
            self._fail_expected("AND, OR or the end of the filter")
        return predicate

    # Grammar rules.

    def _expression(self) -> _Predicate:
        operands = [self._term()]
        operator: str | None = None
        while True:
            self._skip_whitespace()
            word = self._peek_word()
            if word not in ("AND", "OR"):
                break
            if operator is None:
                operator = word
            elif word != operator:
                self._fail("AND and OR can only be combined with parentheses")
            self.pos += len(word)
            operands.append(self._term())
        # A chain of two-operand closures beats a loop or all() over a tuple: no iterator.
        return functools.reduce(_both if operator == "AND" else _either, operands)

    def _term(self) -> _Predicate:
        self._skip_whitespace()
        if self._peek_char() == "-" or self._peek_word() == "NOT":
            self.pos += 1 if self._peek_char() == "-" else 3
            self._skip_whitespace()
            if self._peek_char() == "-" or self._peek_word() == "NOT":
                self._fail("only one NOT or '-' may precede an expression; use parentheses")
            return _negate(self._simple())
        return self._simple()

    def _simple(self) -> _Predicate:
        self._skip_whitespace()
        if self._peek_char() == "(":
            self.pos += 1
            predicate = self._expression()
            self._skip_whitespace()
            if self._peek_char() != ")":
                self._fail_expected("AND, OR or ')'")
            self.pos += 1
            return predicate
        word = self._peek_word()
        if word == "attributes":
            self.pos += len(word)
            return self._restriction()
        if word == "hasPrefix":
            self.pos += len(word)
            return self._has_prefix()
        if self._peek_char() == '"':
            self._fail("a comparison must start with an attribute, not a string literal")
        is_keyword = word.upper() in _KEYWORDS
        if word and not is_keyword and self._next_non_whitespace(self.pos + len(word)) == "(":
            self._fail(f"unknown function {word!r}; hasPrefix is the only function")
        self._fail_expected("an attribute condition or '('")

    def _restriction(self) -> _Predicate:
        self._skip_whitespace()
        char = self._peek_char()
        if char == ":":
            self.pos += 1
            return _has_key(self._key())
        if char != ".":
            self._fail_expected("':' or '.' after 'attributes'")
        self.pos += 1
        key = self._key()
        self._skip_whitespace()
        if self.text.startswith("!=", self.pos):
            self.pos += 2
            return _not_equals(key, self._value("!="))
        if self._peek_char() == "=":
            self.pos += 1
            return _equals(key, self._value("="))
        for operator in ("<=", ">=", "<", ">"):
            if self.text.startswith(operator, self.pos):
                self._fail(f"unsupported operator {operator!r}; use ':', '=' or '!='")
        self._fail_expected("'=' or '!=' after the key")

    def _has_prefix(self) -> _Predicate:
        self._expect("(", "'(' after hasPrefix")
        self._skip_whitespace()
        if self._peek_word() != "attributes":
            self._fail("the first argument of hasPrefix must be attributes.KEY")
        self.pos += len("attributes")
        self._skip_whitespace()
        if self._peek_char() != ".":
            self._fail("the first argument of hasPrefix must be attributes.KEY")
        self.pos += 1
        key = self._key()
        self._expect(",", "',' after the first argument of hasPrefix")
        self._skip_whitespace()
        if self._peek_char() != '"':
            self._fail("the second argument of hasPrefix must be a string literal")
        prefix = self._string()
        self._expect(")", "')' after the second argument of hasPrefix")
        return _has_prefix(key, prefix)

    def _key(self) -> str:
        self._skip_whitespace()
        if self._peek_char() == '"':
            return self._string()
        match = _BARE_KEY.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        after = self._peek_char()
        if after == "\\":
            self._fail("escape sequences are only allowed inside a string literal")
        if after and not after.isascii() and after.isalnum():
            self._fail(
                "a key with characters other than ASCII letters, digits, '-' and '_' "
                'must be quoted, as in attributes."KEY"'
            )
        if match is None:
            self._fail_expected("an attribute key")
        return match.group()

    def _value(self, operator: str) -> str:
        self._skip_whitespace()
        if self._peek_char() == '"':
            return self._string()
        if self._peek_word() == "attributes":
            self._fail(f"the right-hand side of {operator!r} must be a string literal, not a key")
        self._fail_expected(f"a string literal after {operator!r}")

    def _string(self) -> str:
        """Read a double-quoted literal at pos, decoding escapes."""
        text = self.text
        start = self.pos
        i = start + 1
        chunks: list[str] = []
        while i < len(text):
            char = text[i]
            if char == '"':
                self.pos = i + 1
                return "".join(chunks)
            if char != "\\":
                chunks.append(char)
                i += 1
                continue
            code = text[i + 1 : i + 2]
            if code in _SIMPLE_ESCAPES:
                chunks.append(_SIMPLE_ESCAPES[code])
                i += 2
            elif code in _HEX_ESCAPE_DIGITS:
                end = _scan(text, i + 2, _HEX_ESCAPE_DIGITS[code], _HEX_DIGITS)
                if end - i - 2 < _HEX_ESCAPE_DIGITS[code]:
                    self._fail_escape(i, end)
                point = int(text[i + 2 : end], 16)
                if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                    self._fail_escape(i, end)
                chunks.append(chr(point))
                i = end
            elif code in ("0", "1", "2", "3"):
                end = _scan(text, i + 1, 3, _OCTAL_DIGITS)
                if end - i - 1 < 3:
                    self._fail_escape(i, end)
                chunks.append(chr(int(text[i + 1 : end], 8)))
                i = end
            elif code:
                self._fail_escape(i, i + 2)
            else:
                break
        self.pos = start
        self._fail("unterminated string literal")

    # Scanning helpers.

    def _skip_whitespace(self) -> None:
        text = self.text
        pos = self.pos
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        self.pos = pos

    def _peek_char(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _peek_word(self) -> str:
        match = _WORD.match(self.text, self.pos)
        return "" if match is None else match.group()

    def _next_non_whitespace(self, pos: int) -> str:
        while pos < len(self.text) and self.text[pos] in _WHITESPACE:
            pos += 1
        return self.text[pos : pos + 1]

    def _expect(self, char: str, expected: str) -> None:
        self._skip_whitespace()
        if self._peek_char() != char:
            self._fail_expected(expected)
        self.pos += 1

    # Errors.

    def _found(self) -> str:
        """Describe the token at pos for an error message."""
        if self.pos >= len(self.text):
            return "the end of the filter"
        word = self._peek_word()
        if word:
            return repr(word)
        if self._peek_char() == '"':
            return "a string literal"
        for operator in ("!=", "<=", ">="):
            if self.text.startswith(operator, self.pos):
                return repr(operator)
        return repr(self._peek_char())

    def _fail_expected(self, expected: str) -> NoReturn:
        word = self._peek_word()
        if word.upper() in _KEYWORDS and word not in _KEYWORDS:
            self._fail(f"AND, OR and NOT must be uppercase, found {word!r}")
        self._fail(f"expected {expected} but found {self._found()}")

    def _fail_escape(self, start: int, end: int) -> NoReturn:
        self.pos = start
        self._fail(f"invalid escape sequence '{self.text[start:end]}' in a string literal")

    def _fail(self, reason: str) -> NoReturn:
        _invalid(f"{reason} at position {self.pos + 1}")
