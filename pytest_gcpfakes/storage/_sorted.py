"""A dict that keeps its keys in sorted order too, so a listing reads only its range.

A bucket keeps its objects by name in two of these (live and noncurrent versions). Object
listings then find the names under a prefix, or between two offsets, by bisection instead
of sorting every name in the bucket on every call (GCS lists a folder of a big bucket in
the time of the folder, not of the bucket). Python orders ``str`` by code point, which is
the byte order of UTF-8: the order GCS lists names in.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, TypeVar

V = TypeVar("V")

_LAST = chr(0x10FFFF)


class SortedKeys(dict[str, V]):
    """``dict[str, V]`` whose keys are also kept sorted in :attr:`names`.

    Only the mutations the backend uses keep the order: item assignment, ``del``,
    ``setdefault`` and ``pop``; the others are refused rather than silently unsorted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        """The keys, sorted."""

    def __setitem__(self, key: str, value: V) -> None:
        if key not in self:
            bisect.insort(self.names, key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        del self.names[bisect.bisect_left(self.names, key)]

    def setdefault(self, key: str, default: Any = None) -> V:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        value = self[key]
        del self[key]
        return value

    def _unsorted(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("SortedKeys supports item assignment, del, setdefault and pop only")

    update = popitem = clear = __ior__ = _unsorted

    def between(self, prefix: str = "", start: str = "", end: str = "") -> Iterable[str]:
        """The keys that start with ``prefix``, are at least ``start`` and (when given)
        below ``end``, in order."""
        names = self.names
        low = bisect.bisect_left(names, max(prefix, start))
        high = len(names)
        above = after_all(prefix) if prefix else None
        if above is not None:
            high = bisect.bisect_left(names, above, low)
        if end:
            high = min(high, bisect.bisect_left(names, end, low))
        return names[low:high]


def after_all(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``; None when no
    string is (``prefix`` is empty or all U+10FFFF)."""
    head = prefix.rstrip(_LAST)
    if not head:
        return None
    return head[:-1] + chr(ord(head[-1]) + 1)
