"""google-api-core internals the plugin relies on: the retry loop's clock.

Checked against google-api-core 2.23.0 and 2.44.0, the ends of the supported range (the
``retry`` package layout it has had since 2.16).

``retry_unary.retry_target`` is the loop behind every synchronous ``Retry``: the GAPIC
Pub/Sub methods, google-cloud-storage's JSON calls and its ``_media`` uploads and downloads
(``_request_helpers.wait_and_retry`` applies the same ``Retry``). It reads the clock in
two places only, both through the module object ``time``:

- ``retry_unary.retry_target``: ``deadline = time.monotonic() + timeout`` before the first
  attempt, and ``time.sleep(next_sleep)`` between attempts;
- ``retry_base._retry_error_helper``: gives up when ``time.monotonic() + next_sleep >
  deadline``.

There is no hook for the clock, so the plugin swaps that module object for a stand-in in
those two modules only, and wraps ``retry_target`` (looked up as a module global by
``Retry.__call__`` on every call) to mark where a call starts and ends. With a release that
moved either, nothing is patched and backoff is real again.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

RETRY_UNARY = "google.api_core.retry.retry_unary"
RETRY_BASE = "google.api_core.retry.retry_base"


def swap_clock(module: ModuleType, clock: object, replace: Callable[[Any, str, Any], None]) -> None:
    """Make ``module`` (``retry_unary`` or ``retry_base``) read ``clock`` as its ``time``."""
    import time

    if getattr(module, "time", None) is time:
        replace(module, "time", clock)


def wrap_retry_target(
    module: ModuleType,
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
    replace: Callable[[Any, str, Any], None],
) -> None:
    """Replace ``retry_unary.retry_target`` with ``wrap(retry_target)``."""
    original = getattr(module, "retry_target", None)
    if callable(original):
        replace(module, "retry_target", wrap(original))
