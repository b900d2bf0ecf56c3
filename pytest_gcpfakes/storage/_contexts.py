"""Object contexts: key-value pairs under an object's ``contexts.custom``, and the listing
filter that selects objects by them.

Sources: cloud.google.com/storage/docs/object-contexts and use-object-contexts (keys and
values of 1 to 256 characters that begin with a letter or digit and contain no ``'``,
``"``, ``\\`` or ``/``; ``google:`` keys reserved for Google's services; each context
keeps a ``createTime`` and an ``updateTime``; contexts persist through copies and
rewrites), the objects resource (``contexts.custom.KEY.value``), and python-storage's
system tests against GCS (``test_blob_contexts``: a patch merges keys, a key whose value
is ``null`` goes, ``contexts: null`` clears them all; ``test_bucket_list_blobs_w_filter``:
``filter=contexts."KEY"="VALUE"``). The filter's four forms (a pair present or absent, a
key present or absent) are the ones google-cloud-ruby's support lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_gcpfakes.storage import _errors

__all__ = ["Context", "ContextChange", "ContextFilter", "change_from", "parse_filter", "resource"]

_MAX_CHARS = 256
_FORBIDDEN = frozenset("'\"\\/")
_RESERVED_PREFIX = "google:"


@dataclass(frozen=True)
class Context:
    """One context: its value and when it was created and last changed."""

    value: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class ContextChange:
    """What a request asks of an object's contexts: keys to set (a value) or drop
    (``None``); ``clear`` drops every key first (``contexts: null``)."""

    values: Mapping[str, str | None]
    clear: bool = False

    def apply(
        self, current: Mapping[str, Context], now: datetime, *, merge: bool = True
    ) -> dict[str, Context]:
        """The contexts after this change; ``merge`` keeps keys it does not name (patch)."""
        result = dict(current) if merge and not self.clear else {}
        for key, value in self.values.items():
            if value is None:
                result.pop(key, None)
                continue
            old = current.get(key)
            if old is None:
                result[key] = Context(value, now, now)
            elif old.value == value:
                result[key] = old
            else:
                result[key] = Context(value, old.create_time, now)
        return result


def change_from(body: Mapping[str, Any]) -> ContextChange | None:
    """The change a resource body's ``contexts`` asks for (``None``: it names none)."""
    if "contexts" not in body:
        return None
    contexts = body["contexts"]
    if contexts is None:
        return ContextChange({}, clear=True)
    custom = contexts.get("custom")
    if custom is None:
        return ContextChange({}, clear="custom" in contexts)
    values: dict[str, str | None] = {}
    for key, payload in custom.items():
        _check_text(key, "key")
        value = None if payload is None else payload.get("value")
        if value is not None:
            _check_text(str(value), "value")
            value = str(value)
        values[key] = value
    return ContextChange(values)


def _check_text(text: str, what: str) -> None:
    if (
        not 1 <= len(text) <= _MAX_CHARS
        or not text[0].isalnum()
        or any(c in _FORBIDDEN for c in text)
        or (what == "key" and text.startswith(_RESERVED_PREFIX))
    ):
        raise _errors.invalid_object_context(what, text)


def resource(contexts: Mapping[str, Context], rfc3339: Callable[[datetime], str]) -> dict[str, Any]:
    """The ``contexts`` field of an object resource."""
    return {
        "custom": {
            key: {
                "value": context.value,
                "createTime": rfc3339(context.create_time),
                "updateTime": rfc3339(context.update_time),
            }
            for key, context in sorted(contexts.items())
        }
    }


# -- the listing filter ------------------------------------------------------------------------

_TERM = re.compile(
    r'\s*(?P<negate>-|NOT\s+)?contexts\."(?P<key>[^"]*)"\s*'
    r'(?:=\s*"(?P<value>[^"]*)"|:\s*\*)\s*'
)


@dataclass(frozen=True)
class ContextFilter:
    """``filter=`` of objects.list: terms that must all hold (joined by ``AND``)."""

    terms: tuple[tuple[bool, str, str | None], ...]  # (negated, key, value or None: any)

    def matches(self, contexts: Mapping[str, Context]) -> bool:
        """Whether an object with these contexts is listed."""
        for negated, key, value in self.terms:
            context = contexts.get(key)
            found = context is not None and (value is None or context.value == value)
            if found == negated:
                return False
        return True


def parse_filter(text: str) -> ContextFilter:
    """Parse ``contexts."KEY"="VALUE"``, ``contexts."KEY":*``, each negated by ``-`` or
    ``NOT``, joined by ``AND``; anything else is GCS's 400 for a bad filter."""
    terms = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM.fullmatch(part)
        if match is None:
            raise _errors.invalid_filter(text)
        terms.append((match["negate"] is not None, match["key"], match["value"]))
    return ContextFilter(tuple(terms))
