"""Which thread called ``publish()`` for each message.

``PublisherClient.publish()`` only queues the message; the RPC runs later in the library's
commit thread, and the message reaches the backend as a copy. So the caller's thread is
recorded at the ``publish()`` call, keyed by the message's content, and claimed by the
backend when the same content arrives (first in, first out for identical messages).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

_Key = tuple[str, int, int, str, tuple[tuple[str, str], ...]]
_pending: dict[_Key, deque[str]] = {}
_lock = threading.Lock()
# A bound on what can pile up if publishes never reach a backend (no fake active).
_MAX_PENDING = 100_000


def _key(topic: str, data: bytes, ordering_key: str, attributes: Mapping[str, str]) -> _Key:
    return (topic, len(data), hash(data), ordering_key, tuple(sorted(attributes.items())))


def record_publisher_thread(
    topic: str, data: bytes, ordering_key: str, attributes: Mapping[str, str]
) -> None:
    """Remember the current thread as the publisher of this message."""
    key = _key(topic, data, ordering_key, attributes)
    with _lock:
        if len(_pending) >= _MAX_PENDING:
            _pending.clear()
        _pending.setdefault(key, deque()).append(threading.current_thread().name)


def has_pending() -> bool:
    """Whether any publish() caller is waiting to be claimed (else skip hashing the data)."""
    return bool(_pending)


def take_publisher_thread(
    topic: str, data: bytes, ordering_key: str, attributes: Mapping[str, str]
) -> str | None:
    """Return (and forget) the thread that published this message, if it was recorded."""
    if not _pending:  # raw GAPIC publishes record nothing: skip hashing the data
        return None
    key = _key(topic, data, ordering_key, attributes)
    with _lock:
        waiting = _pending.get(key)
        if not waiting:
            return None
        name = waiting.popleft()
        if not waiting:
            del _pending[key]
        return name


def forget_all() -> None:
    """Drop every record (a fake ended: anything left will never be claimed)."""
    with _lock:
        _pending.clear()
