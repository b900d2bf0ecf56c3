"""Waiting on a publish future sends the pending batch at once, as the batch timer would.

``PublisherClient.publish()`` adds the message to a batch, and the batch goes out when it
is full or when the client's timer fires (``BatchSettings.max_latency``, 10 ms by
default). Against GCP the timer is small next to the RPC; against the in-memory fake it is
thirty times the whole publish, and every ``publish().result()`` pays it. So when code
waits on a publish future, the fake does at once what the timer would do a little later:
it commits the client's pending batches (``Client._commit_sequencers()`` under
``_batch_lock``, the timer's own code). Waits are ``result()``, ``exception()``,
``concurrent.futures.wait()`` / ``as_completed()`` and ``fake_pubsub``'s inspection
helpers.

What stays as with the timer:

- messages published before the wait go out together, in one ``Publish`` per batch;
- an ordered sequencer commits only its first batch, so ordering keys keep their order; a
  later batch for the same key goes when the one before it has finished (at once if it is
  full, else when the timer fires);
- a client with no timer (``max_latency=float("inf")``) is never committed early: against
  GCP its ``result()`` waits for the batch to fill or for ``stop()``, and so it does here.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from pytest_gcpfakes._internals import pubsub as _internals

__all__ = ["PendingPublishes", "commit_for", "patch_publish_futures", "track"]

_PUBLISHER_ATTR = "_gcpfakes_publisher"
# How long a wait tries to take a publisher's _batch_lock before leaving the batch to the
# timer: only ever long when the waiting thread holds it itself (a done callback that
# stop() runs).
_LOCK_SECONDS = 0.5
SETTLE_SECONDS = 10.0
"""How long an inspection helper waits for publishes still in flight."""


def track(client: Any, future: Any, handle: Any, *, committed: bool) -> None:
    """Note a future that ``publish()`` returned, in the publishing thread.

    ``committed``: the batch was sent already (``publish_immediately``).
    """
    namespace = getattr(future, "__dict__", None)
    if namespace is None:
        return
    if not committed and client.batch_settings.max_latency < float("inf"):
        namespace[_PUBLISHER_ATTR] = weakref.ref(client)
    pending = getattr(handle, "pending_publishes", None)
    if pending is not None:
        pending.add(future)


def _commit_before_wait(future: Any) -> None:
    ref = future.__dict__.get(_PUBLISHER_ATTR)
    if ref is not None and not future.done():
        client = ref()
        if client is not None:
            _internals.commit_pending_batches(client, lock_timeout=_LOCK_SECONDS)


def commit_for(futures: Iterable[Any]) -> None:
    """Commit the pending batches of the publishers whose futures are about to be waited
    for (``concurrent.futures.wait()`` and ``as_completed()`` call this)."""
    clients: list[Any] = []
    for future in futures:
        namespace = getattr(future, "__dict__", None)
        ref = namespace.get(_PUBLISHER_ATTR) if namespace is not None else None
        if ref is None or future.done():
            continue
        client = ref()
        if client is not None and not any(client is seen for seen in clients):
            clients.append(client)
    for client in clients:
        _internals.commit_pending_batches(client, lock_timeout=_LOCK_SECONDS)


def patch_publish_futures(module: ModuleType, replace: Callable[[Any, str, Any], None]) -> None:
    """Make the publisher future's ``result()`` and ``exception()`` commit before waiting."""
    future_cls = module.Future
    for name in ("result", "exception"):
        replace(future_cls, name, _committing(getattr(future_cls, name)))


def _committing(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wait_for(self: Any, *args: Any, **kwargs: Any) -> Any:
        _commit_before_wait(self)
        return original(self, *args, **kwargs)

    return wait_for


def _unresolved(ref: weakref.ref[Any]) -> bool:
    future = ref()
    return future is not None and not future.done()


_PRUNE_AT_LEAST = 1024
"""Futures held before the first pass that drops the resolved ones."""


class PendingPublishes:
    """The publish futures of one fake that may not have resolved yet.

    Held by weak reference, and dropped in passes whenever the list has doubled since the
    last one, rather than each by a done callback: every ``publish()`` adds one, and a
    callback (registered under the future's lock in the publishing thread, run under ours
    in the commit thread) cost 1.7 µs a message, the append and the passes 0.4 µs
    (measured on 20,000 futures added, then resolved). Weak, because a resolved future
    leads to its client: held here, a per-request client a test abandoned would stay alive
    and never be reported as leaked. An unresolved future is held by its batch anyway.
    """

    def __init__(self) -> None:
        self._futures: list[weakref.ref[Any]] = []
        self._prune_at = _PRUNE_AT_LEAST
        self._lock = threading.Lock()

    def add(self, future: Any) -> None:
        """Watch ``future`` until a pass finds it resolved (or gone)."""
        with self._lock:
            self._futures.append(weakref.ref(future))
            if len(self._futures) >= self._prune_at:
                self._futures = [ref for ref in self._futures if _unresolved(ref)]
                self._prune_at = max(2 * len(self._futures), _PRUNE_AT_LEAST)

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Send every pending batch and wait (bounded) until the publishes land.

        So an inspection helper sees every ``publish()`` made before it was called, as if
        the test had waited on each future. Not from the library's commit threads: a done
        callback waiting there could wait on the thread it runs in.
        """
        if threading.current_thread().name.startswith(_internals.BATCH_THREAD_PREFIXES):
            return
        with self._lock:
            futures = [f for ref in self._futures if (f := ref()) is not None and not f.done()]
        if futures:
            # Imported here: this module loads while concurrent.futures is being imported.
            from concurrent.futures import wait

            commit_for(futures)
            wait(futures, timeout)
