"""Object and bucket listing as GCS does it: filters, prefix folding, opaque page tokens.

Pure functions over already-sorted versions; the app feeds them the request's parameters.
Rules from cloud.google.com/storage/docs/json_api/v1/objects/list and
cloud.google.com/storage/docs/json_api/v1/objects/list#list-objects-and-prefixes-using-glob.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._backend import ObjectVersion
from pytest_gcpfakes.storage._contexts import ContextFilter
from pytest_gcpfakes.storage._sorted import after_all

#: GCS returns at most this many entries (items plus prefixes) per page, and this many when
#: maxResults is not given ("maxResults ... or 1,000 items, whichever is smaller").
MAX_PAGE = 1000

# UTF-8 never contains the byte 0xFF, so this sorts after every name that starts with a
# folded prefix: a page token at a prefix resumes after all of its members.
_AFTER_PREFIX = b"\xff"
# The key of a live version sorts after every generation of its name (noncurrent ones are
# older): a page token at a live object resumes after its name, so an object overwritten
# between two pages is not listed again under its new generation.
_LIVE = 2**63


@dataclass(frozen=True)
class Entry:
    """One entry of a listing: an object version, or a folded prefix."""

    key: tuple[bytes, int]
    version: ObjectVersion | None = None
    prefix: str | None = None


@dataclass(frozen=True)
class ListOptions:
    """The objects.list query parameters that select entries."""

    prefix: str = ""
    delimiter: str = ""
    include_trailing_delimiter: bool = False
    start_offset: str = ""
    end_offset: str = ""
    match_glob: str = ""
    contexts: ContextFilter | None = None
    """``filter=``: objects selected by their contexts (``_contexts``)."""


def entries(versions: Sequence[ObjectVersion], options: ListOptions) -> list[Entry]:
    """Return the listing entries, in order, for versions sorted by (name bytes, generation).

    Once a name folds into a prefix, the rest of that prefix is skipped by bisection: a
    delimited listing costs what it returns, not what lies under its prefixes.
    """
    matcher = glob_matcher(options.match_glob) if options.match_glob else None
    start = options.start_offset.encode()
    end = options.end_offset.encode()
    delimiter = options.delimiter
    found: list[Entry] = []
    last_prefix: str | None = None
    index, count = 0, len(versions)
    while index < count:
        version = versions[index]
        index += 1
        name = version.name
        raw = name.encode()
        if not name.startswith(options.prefix) or raw < start or (end and raw >= end):
            continue
        if matcher is not None and not matcher(name):
            continue
        if options.contexts is not None and not options.contexts.matches(version.contexts):
            continue
        if delimiter:
            cut = name.find(delimiter, len(options.prefix))
            if cut >= 0:
                folded = name[: cut + len(delimiter)]
                if folded != last_prefix:
                    last_prefix = folded
                    found.append(Entry((folded.encode() + _AFTER_PREFIX, 0), prefix=folded))
                # includeTrailingDelimiter: an object whose name ends with its one delimiter
                # is listed as an item too, not only as a prefix. It sorts first under the
                # prefix, so skipping the rest of the prefix comes after it.
                if options.include_trailing_delimiter and folded == name:
                    found.insert(-1, Entry(_key(raw, version), version=version))
                    continue
                above = after_all(folded)
                if above is not None:
                    index = bisect.bisect_left(versions, above, index, key=_name)
                continue
        found.append(Entry(_key(raw, version), version=version))
    return found


def _name(version: ObjectVersion) -> str:
    return version.name


def _key(raw: bytes, version: ObjectVersion) -> tuple[bytes, int]:
    return (raw, version.generation if version.time_deleted is not None else _LIVE)


def page(
    found: Sequence[Entry], token: str, max_results: int | None
) -> tuple[list[Entry], str | None]:
    """Return one page of ``found`` after ``token``, and the token of the next page."""
    size = MAX_PAGE if not max_results or max_results > MAX_PAGE else max_results
    if max_results is not None and max_results < 0:
        raise _errors.invalid_argument(f"Invalid value for maxResults: {max_results}")
    start = 0
    if token:
        after = decode_token(token)
        start = bisect.bisect_right(found, after, key=lambda e: e.key)
    selected = list(found[start : start + size])
    more = start + size < len(found)
    return selected, (encode_token(selected[-1].key) if more and selected else None)


_Named = TypeVar("_Named")


def page_named(
    items: Sequence[_Named], name: Callable[[_Named], str], token: str, max_results: int | None
) -> tuple[list[_Named], str | None]:
    """One page of resources listed by name (buckets, managed folders), ``items`` in name
    order: :func:`page` over their names, with the same tokens."""
    found = [Entry((name(item).encode(), 0), prefix=name(item)) for item in items]
    selected, next_token = page(found, token, max_results)
    by_name = {name(item): item for item in items}
    return [by_name[str(entry.prefix)] for entry in selected], next_token


def encode_token(key: tuple[bytes, int]) -> str:
    """Return an opaque, URL-safe page token that resumes after ``key``."""
    raw = json.dumps([base64.b64encode(key[0]).decode(), key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[bytes, int]:
    """Return the key a page token resumes after; 400 for a token the fake never issued."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, generation = json.loads(raw)
        return base64.b64decode(name), int(generation)
    except (ValueError, TypeError, binascii.Error):
        # Guess: GCS's generic bad-value answer; no captured answer for a bad token.
        raise _errors.invalid_argument("Invalid Value") from None


@functools.lru_cache(maxsize=128)
def glob_matcher(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """Compile a matchGlob pattern.

    ``*`` matches within one level (no ``/``), ``**`` across levels, ``**/`` zero or more
    whole levels, ``?`` one character other than ``/``, ``[abc]`` / ``[!abc]`` / ``[a-z]``
    a character set, ``{a,b}`` alternatives, and ``\\`` escapes the next character.
    """
    return re.compile(_translate(pattern, 0, "")[0] + r"\Z", re.DOTALL).match


def _translate(pattern: str, index: int, stop: str) -> tuple[str, int]:
    """Translate ``pattern`` from ``index`` up to one of ``stop``; return regex and index."""
    out: list[str] = []
    while index < len(pattern):
        char = pattern[index]
        if char in stop:
            return "".join(out), index
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
        elif pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            close = pattern.find("]", index + 2)
            if close < 0:
                raise _errors.invalid_argument(f"Invalid matchGlob: {pattern}")
            body = pattern[index + 1 : close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = close + 1
        elif char == "{":
            options: list[str] = []
            index += 1
            while True:
                part, index = _translate(pattern, index, ",}")
                options.append(part)
                if index >= len(pattern):
                    raise _errors.invalid_argument(f"Invalid matchGlob: {pattern}")
                index += 1
                if pattern[index - 1] == "}":
                    break
            out.append("(?:" + "|".join(options) + ")")
        else:
            out.append(re.escape(char))
            index += 1
    return "".join(out), index


def objects_page(
    found: Sequence[Entry],
    token: str,
    max_results: int | None,
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page of an objects listing as the JSON API answers it (``storage#objects``):
    its next page token, its prefixes and, rendered by ``render``, its objects."""
    selected, next_token = page(found, token, max_results)
    body: dict[str, Any] = {"kind": "storage#objects"}
    if next_token:
        body["nextPageToken"] = next_token
    prefixes = [e.prefix for e in selected if e.prefix is not None]
    if prefixes:
        body["prefixes"] = prefixes
    items = [render(e.version) for e in selected if e.version is not None]
    if items:
        body["items"] = items
    return body
