"""Standard-library internals the plugin relies on (multiprocessing).

Checked against CPython 3.10 to 3.13.
"""

from __future__ import annotations


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
