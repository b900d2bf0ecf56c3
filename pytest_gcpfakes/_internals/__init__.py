"""Every place where the plugin reaches into a client library's private names.

One module per library, each touch point with the versions it was checked against, so
that a library release that moves one of them breaks in one known place. The rest of the
plugin calls the names defined here, never the libraries' private attributes.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

__all__ = ["CHECKED", "UnsupportedVersionError", "own_method", "unsupported"]

# The releases every touch point was checked against: from the oldest supported (what the
# tox "min" environment runs, .ci/min-versions.txt) to the newest at the time of writing
# (the default environment). The "pre" environment tries the next pre-releases.
CHECKED = {
    "google-cloud-pubsub": ("2.27.0", "2.44.0"),
    "google-cloud-storage": ("2.18.0", "3.17.1"),
    "google-api-core": ("2.23.0", "2.44.0"),
}


class UnsupportedVersionError(RuntimeError):
    """A client library release lacks a private name the plugin relies on."""


def unsupported(distribution: str, what: str) -> UnsupportedVersionError:
    """The one sentence for a missing internal: what, the installed release, the range."""
    oldest, newest = CHECKED[distribution]
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        installed = "(not installed)"
    return UnsupportedVersionError(
        f"pytest-gcpfakes cannot find {what} in {distribution} {installed}; it supports"
        f" {distribution} {oldest} to {newest}: install a release in that range or a newer"
        " pytest-gcpfakes."
    )


def own_method(cls: type, name: str, distribution: str) -> Any:
    """``cls``'s own definition of ``name`` (the function the plugin wraps), or the sentence.

    The hand-written ``publish()`` and ``subscribe()`` and ``storage.Client.__init__`` are
    defined on those classes themselves in every release of ``CHECKED``.
    """
    method = vars(cls).get(name)
    if method is None:
        raise unsupported(distribution, f"{cls.__qualname__}.{name}()")
    return method
