"""Standard-library ``concurrent.futures`` internals the plugin relies on.

Checked against CPython 3.10 to 3.13 (the same code since 3.6).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def before_waiting(
    base_module: ModuleType,
    replace: Callable[[Any, str, Any], None],
    hook: Callable[[Sequence[Any]], None],
) -> None:
    """Call ``hook(futures)`` as ``wait()`` and ``as_completed()`` start, before they lock.

    Touch point (``concurrent/futures/_base.py``): both functions begin with
    ``with _AcquireFutures(fs):``, whose ``__enter__`` acquires each future's
    ``_condition`` and whose ``futures`` attribute holds them (sorted by ``id``). Running
    before the locks are taken matters: the hook may take other locks (a publisher's
    ``_batch_lock``), and the library takes a future's lock while holding those (a batch
    cancelling its futures). ``_AcquireFutures`` is looked up as a module global at each
    call, so callers that imported ``wait`` by name are covered too.
    """
    acquire_cls = getattr(base_module, "_AcquireFutures", None)
    if acquire_cls is None:
        return
    original = acquire_cls.__enter__

    @functools.wraps(original)
    def __enter__(self: Any) -> Any:
        hook(self.futures)
        return original(self)

    replace(acquire_cls, "__enter__", __enter__)
