"""Other processes reach this process's fakes: forked children, multiprocessing, subprocesses.

The fakes live in the process that runs the test. A child must never write into a private
copy of them (a fork's copy would silently split the state) nor reach no fake at all (a
spawned child would look for credentials). So:

- **Host servers.** Before the first child needs them, this process starts its Storage
  server and the link (``server._servers``): plain HTTP on loopback, no gRPC, so forking
  stays safe. They live until the process exits, at stable addresses, because a forkserver
  keeps the environment of the moment it started.
- **fork** (``os.fork``, multiprocessing's ``fork``, gunicorn's workers of a test's app):
  an at-fork hook starts the host servers in the parent while a fake is active (with none
  active, it binds their sockets before the fork and serves them right after, so that no
  server thread exists at the fork); in the child, the registry's handles are replaced by
  remote ones that forward every call to whichever fakes are active when it calls.
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
# Sockets bound (not yet served) at a fork made while no fake was active: (storage, link).
_reserved: tuple[Any, Any] | None = None
# Imported by an application that may use GCP clients in a child forked before any test's
# fakes are active (pytest-flask's live_server forks once per session).
_CLIENT_MODULES = ("google.cloud.storage.client", "google.cloud.pubsub_v1")


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
    global _host, _host_pid, _reserved
    with _lock:
        if _host is None or _host_pid != os.getpid():
            from pytest_gcpfakes.server._servers import Servers

            listeners, _reserved = _reserved, None
            _host = Servers(listeners=listeners).start()
            _host_pid = os.getpid()
            atexit.register(_host.stop)
        return _host


def _link_url() -> str | None:
    """The link a child forked now reaches, if any."""
    if _host is not None and _host.link_url:
        return str(_host.link_url)
    if _reserved is not None:
        return f"http://127.0.0.1:{_reserved[1].getsockname()[1]}"
    return None


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
    global fork_failure, _reserved
    fork_failure = ""
    try:
        if _active_handles():
            host()  # the child can only reach servers that exist before it does
        elif _host is None and _reserved is None and _may_use_clients():
            # No fake yet (a session-scoped server process, say): bind the addresses now,
            # without a thread, and serve them right after the fork (_after_fork_in_parent),
            # so the child can reach whichever fakes are active when it calls.
            from pytest_gcpfakes.server._http import listen

            _reserved = (listen(), listen())
    except Exception as error:  # never break a fork; the child says why it is cut off
        fork_failure = f"its servers did not start: {type(error).__name__}: {error}"


def _may_use_clients() -> bool:
    """Whether a child of this process may use GCP clients that no fake serves yet.

    Not in a process that itself reaches another's fakes (a gunicorn master started with
    ``gcpfakes_server.env``): its children inherit its remote handles, which work in any
    process, and their records go straight to the fakes' owner.
    """
    import sys

    from pytest_gcpfakes import _activation

    if any(getattr(_registry.peek(s), "remote", False) for s in _registry.SERVICES):
        return False
    return _activation.installed() and any(name in sys.modules for name in _CLIENT_MODULES)


def _after_fork_in_parent() -> None:
    if _reserved is not None and _host is None:
        try:
            host()
        except Exception:  # the child's calls then fail to connect, each with its error
            return


def _after_fork_in_child() -> None:
    global _host, _host_pid, _env_set, _reserved
    link_url, parent = _link_url(), _host_pid or os.getppid()
    # The parent's test at the fork: the child's calls after it ends are refused.
    owner = _registry.active_session()
    session = owner.session_id if owner is not None else 0
    if _reserved is not None:
        for sock in _reserved:
            sock.close()  # the parent serves them; the child's copies are not needed
    _host, _host_pid, _env_set, _reserved = None, 0, False, None  # threads stay in the parent
    if fork_failure or link_url is None:
        return  # current() then raises ForkedProcessError, naming fork_failure
    from pytest_gcpfakes.server._link import RemoteCaller
    from pytest_gcpfakes.server._remote import remote_handle
    from pytest_gcpfakes.usage._recorder import recorder

    recorder.forward_to(RemoteCaller(link_url))
    for service in _registry.SERVICES:
        handle = _registry.peek(service)
        if handle is None or handle.pid == parent:
            remote = remote_handle(service, link_url, handle, session=session)
            _registry.replace(service, remote)


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


def before_process_start() -> None:
    """Called as ``multiprocessing`` starts a process: let it reach the active fakes.

    Also with none active yet, if the application uses GCP clients: a worker pool started
    at session scope then reaches each test's fakes when it calls.
    """
    if _active_handles() or _may_use_clients():
        export_link()
