"""Standard-library internals the plugin relies on (multiprocessing, threading,
concurrent.futures).

Checked against CPython 3.10 to 3.13, and 3.14's ``concurrent/futures/thread.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import CodeType, ModuleType
from typing import Any


def stop_forkserver() -> None:
    """Stop the running fork server, if any: the next forkserver child starts a new one.

    A fork server keeps the environment of the moment it started, and its children inherit
    that. ``ForkServer._stop()`` is what multiprocessing's own tests use to restart it
    (multiprocessing/forkserver.py, 3.8+).
    """
    import sys

    forkserver = sys.modules.get("multiprocessing.forkserver")
    if forkserver is None:
        return  # never imported: no fork server can be running
    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        server._stop()


# -- threads and executor tasks ---------------------------------------------------------------

_OWNER_ATTR = "_gcpfakes_owner"


def run_threads_as(
    threading_module: ModuleType,
    replace: Callable[[Any, str, Any], None],
    enter: Callable[[Any], None],
) -> None:
    """Call ``enter(thread)`` in each new thread, before its ``run()``.

    ``Thread._bootstrap_inner`` is the first method a started thread runs in itself, and
    calls ``run()`` (threading.py, 3.10 to 3.14). Wrapping it rather than ``run()`` leaves
    the thread's target, arguments and any ``run()`` override untouched.
    """
    thread_cls = threading_module.Thread
    original = thread_cls._bootstrap_inner

    @functools.wraps(original)
    def _bootstrap_inner(self: Any) -> None:
        enter(self)
        original(self)

    replace(thread_cls, "_bootstrap_inner", _bootstrap_inner)


def carry_on_work_items(
    thread_module: ModuleType,
    replace: Callable[[Any, str, Any], None],
    take: Callable[[], Any],
    enter: Callable[[Any], Any],
    leave: Callable[[Any], None],
) -> frozenset[CodeType] | None:
    """Carry a value from each ``ThreadPoolExecutor.submit()`` to the task's run.

    Each work item takes ``take()`` as it is created, in the submitting thread; the worker
    thread runs it between ``enter(value)`` and ``leave(what enter returned)``. The value
    rides on the work item as an attribute of its own: what the executor's queue holds
    (``fn``, ``args``, ``kwargs``; ``task`` from 3.14) stays exactly the caller's, since
    code reads it back (google-cloud-pubsub's ``ThreadScheduler.shutdown()`` nacks the
    first argument of each queued item as a message).

    Touch points (``concurrent/futures/thread.py``): ``submit()`` builds a ``_WorkItem`` in
    the calling thread before queueing it, and a worker calls its ``run()``; 3.10 to 3.13:
    ``_WorkItem(future, fn, args, kwargs)``, ``run()`` calls ``fn``; 3.14:
    ``_WorkItem(future, task)``, ``run(ctx)`` calls ``WorkerContext.run(task)``, which calls
    ``fn``. Returns the code objects that call a task's ``fn`` directly, or ``None`` (and
    patches nothing) if work items cannot hold an attribute of their own.
    """
    item_cls = getattr(thread_module, "_WorkItem", None)
    if item_cls is None or not hasattr(object.__new__(item_cls), "__dict__"):
        return None
    original_init = item_cls.__init__
    original_run = item_cls.run

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        value = take()
        if value is not None:
            self.__dict__[_OWNER_ATTR] = value

    @functools.wraps(original_run)
    def run(self: Any, *args: Any, **kwargs: Any) -> None:
        value = self.__dict__.get(_OWNER_ATTR)
        if value is None:
            original_run(self, *args, **kwargs)
            return
        previous = enter(value)
        try:
            original_run(self, *args, **kwargs)
        finally:
            leave(previous)

    replace(item_cls, "__init__", __init__)
    replace(item_cls, "run", run)
    runners = {original_run.__code__}
    context = getattr(thread_module, "WorkerContext", None)  # 3.14
    if context is not None:
        runners.add(context.run.__code__)
    return frozenset(runners)
