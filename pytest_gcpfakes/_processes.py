"""Other processes reach this process's fakes: forked children, multiprocessing, subprocesses.

The fakes live in the process that runs the test. A child must never write into a private
copy of them (a fork's copy would silently split the state) nor reach no fake at all (a
spawned child would look for credentials). So:

- **Host servers.** Before the first child needs them, this process starts its Storage
  server and the link (``server._servers``): plain HTTP on loopback, no gRPC, so forking
  stays safe. They live until the process exits, at stable addresses, because a forkserver
  keeps the environment of the moment it started.
- **fork** (``os.fork``, multiprocessing's ``fork``, gunicorn's workers of a test's app):
  an at-fork hook starts the host servers in the parent while a fake is active; in the
  child, the registry's handles are replaced by remote ones that forward every call.
- **spawn / forkserver** (and ``ProcessPoolExecutor``, transfer_manager's process
  workers): while a fake is active, ``multiprocessing`` process starts put
  ``GCPFAKES_LINK`` in the environment; the child's ``pytest_gcpfakes.pth`` start-up hook
  then faces its clients to this process (``_child``).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from pytest_gcpfakes import _registry

LINK_ENV = "GCPFAKES_LINK"

_lock = threading.Lock()
_host: Any = None  # the Servers of this process, once started
_host_pid = 0
_env_set = False  # whether LINK_ENV in os.environ is ours (removed when the fakes end)
fork_failure = ""  # why the last fork's child cannot reach the fakes ("" if it can)


def _active_handles() -> dict[str, Any]:
    """The fakes this process owns and has active, by service (not another's, reached)."""
    pid = os.getpid()
    found = {}
    for service in _registry.SERVICES:
        handle = _registry.peek(service)
        if handle is not None and handle.pid == pid and not getattr(handle, "remote", False):
            found[service] = handle
    return found


def host() -> Any:
    """This process's host servers (Storage and the link), started on first use."""
    global _host, _host_pid
    with _lock:
        if _host is None or _host_pid != os.getpid():
            from pytest_gcpfakes.server._servers import Servers

            _host = Servers().start()
            _host_pid = os.getpid()
            atexit.register(_host.stop)
        return _host


def export_link() -> None:
    """Put ``GCPFAKES_LINK`` in this process's environment while its fakes are active."""
    global _env_set
    servers = host()
    with _lock:
        if os.environ.get(LINK_ENV) != servers.link_url:
            os.environ[LINK_ENV] = servers.link_url
            _env_set = True
            _restart_stale_forkserver()


def fakes_closed() -> None:
    """Take ``GCPFAKES_LINK`` back out once no fake of this process is active."""
    global _env_set
    with _lock:
        if _env_set and not _active_handles():
            os.environ.pop(LINK_ENV, None)
            _env_set = False


def _restart_stale_forkserver() -> None:
    """Stop a forkserver started before the link existed: its children would miss it.

    The next forkserver child starts a fresh one, which inherits ``GCPFAKES_LINK``.
    """
    from pytest_gcpfakes._internals import stdlib

    stdlib.stop_forkserver()


# -- fork ------------------------------------------------------------------------------------


def _before_fork() -> None:
    global fork_failure
    fork_failure = ""
    if _active_handles():
        try:
            host()  # the child can only reach servers that exist before it does
        except Exception as error:  # never break a fork; the child says why it is cut off
            fork_failure = f"its servers did not start: {type(error).__name__}: {error}"


def _after_fork_in_child() -> None:
    global _host, _host_pid, _env_set
    servers, parent = _host, _host_pid
    _host, _host_pid, _env_set = None, 0, False  # the servers' threads stay with the parent
    if fork_failure or servers is None or not servers.link_url:
        return  # current() then raises ForkedProcessError, naming fork_failure
    from pytest_gcpfakes.server._link import RemoteCaller
    from pytest_gcpfakes.server._remote import remote_handle
    from pytest_gcpfakes.usage._recorder import recorder

    recorder.forward_to(RemoteCaller(servers.link_url))
    for service in _registry.SERVICES:
        handle = _registry.peek(service)
        if handle is not None and handle.pid == parent:
            _registry.replace(
                service, remote_handle(service, servers.link_url, servers.storage_url, handle)
            )


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def before_process_start() -> None:
    """Called as ``multiprocessing`` starts a process: let it reach the active fakes."""
    if _active_handles():
        export_link()
