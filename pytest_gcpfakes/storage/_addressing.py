"""Which bucket a request's host names: virtual-hosted-style URLs and bucket-bound hostnames.

The XML API names a bucket in one of three ways (cloud.google.com/storage/docs/
request-endpoints): path-style, ``storage.googleapis.com/BUCKET/OBJECT``;
virtual-hosted-style, ``BUCKET.storage.googleapis.com/OBJECT``; and a bucket-bound
hostname, ``cdn.example.com/OBJECT``, which reaches GCS through a CNAME to
``c.storage.googleapis.com`` (or a load balancer's backend bucket) and is served from the
bucket *named* ``cdn.example.com``. GCS tells them apart by the ``Host`` header alone, and
so does the fake; ``generate_signed_url(virtual_hosted_style=True)`` and
``bucket_bound_hostname=`` build the last two.

The hosts the fake answers as are Google's ``storage.googleapis.com``, the in-process
face's ``storage.gcpfakes.invalid``, ``localhost``, IP addresses (a loopback server is
reached by one; GCS bucket names may not be IP addresses, bucket-naming docs) and the host
of ``STORAGE_EMULATOR_HOST`` (``gcs`` in a compose file). A bucket name followed by one of
them is virtual-hosted-style: ``BUCKET.localhost:PORT`` and ``BUCKET.127.0.0.1:PORT``
(what the client builds from a loopback ``api_endpoint``) name ``BUCKET`` on a server
listening on 127.0.0.1.

Any other host with a dot is taken as GCS takes it, as a bucket-bound hostname, with one
exception GCS never meets: the fake may itself be reached by a name of its own
(``host.docker.internal``, a Kubernetes service). So when no bucket has the host's name and
the path's first segment names one that exists, the request is path-style.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Literal
from urllib.parse import unquote, urlsplit

from pytest_gcpfakes._hosts import emulator_netloc
from pytest_gcpfakes._registry import STORAGE_BASE_URL

__all__ = ["host_bucket", "is_gcs_host"]

_GCS_HOST = "storage.googleapis.com"
_OWN_HOSTS = frozenset({_GCS_HOST, urlsplit(STORAGE_BASE_URL).hostname, "localhost"})

Kind = Literal["path", "virtual", "bound"]


def host_bucket(host: str, path: str, exists: Callable[[str], bool]) -> str | None:
    """The bucket that ``host`` (``name[:port]``) names, or ``None`` if the path names it.

    ``path`` is the raw request path and ``exists`` tells whether a bucket exists; both
    only decide for a host that is neither the fake's own nor under it (see the module).
    """
    if host in _OWN_HOSTS:
        return None  # what classify() answers for these: not read the environment for them
    kind, bucket = classify(host, _emulator_hostname())
    if kind == "virtual":
        return bucket
    if kind == "path":
        return None
    if exists(bucket):
        return bucket
    first = path.split("/", 2)[1] if path.startswith("/") else ""
    if first and exists(unquote(first)):
        return None  # the fake reached by a name of its own, path-style
    return bucket  # a bucket-bound hostname whose bucket is missing: GCS's NoSuchBucket


def is_gcs_host(hostname: str | None) -> bool:
    """Whether ``hostname`` is GCS's own XML API host, path-style or virtual-hosted-style.

    The in-process face serves these while a Storage fake is active: a signed URL or a POST
    form made for ``https://storage.googleapis.com`` (the client's default
    ``api_access_endpoint``) is fetched from the fake, never from Google. Regional, mTLS and
    ``storage.cloud.google.com`` (browser downloads with a Google sign-in) hosts are not.
    """
    name = (hostname or "").lower().rstrip(".")
    return name == _GCS_HOST or name.endswith("." + _GCS_HOST)


@functools.lru_cache(maxsize=256)
def classify(host: str, emulator: str = "") -> tuple[Kind, str]:
    """Tell hosts that name no bucket (the fake's own, ``path``) from virtual-hosted-style
    ones (with the bucket's name) and possible bucket-bound hostnames (with the host name,
    the bucket's name if it is one). ``emulator`` is one more host of the fake's own."""
    hostname = _hostname(host)
    if not hostname or _answers_as(hostname, emulator):
        return "path", hostname
    labels = hostname.split(".")
    for index in range(1, len(labels)):
        if _answers_as(".".join(labels[index:]), emulator):
            return "virtual", ".".join(labels[:index])
    if len(labels) == 1:
        return "path", hostname  # a single label (a compose service name) names no bucket
    return "bound", hostname


def _hostname(host: str) -> str:
    """The lower-case name in ``name[:port]`` (``[::1]:80`` gives ``::1``), or ``""``."""
    try:
        return (urlsplit("//" + host).hostname or "").rstrip(".")
    except ValueError:  # an unbalanced "[" in an IPv6 literal
        return ""


def _emulator_hostname() -> str:
    # Read per request: tests set and unset the variable.
    netloc = emulator_netloc("STORAGE_EMULATOR_HOST")
    return _hostname(netloc) if netloc else ""


def _answers_as(hostname: str, emulator: str) -> bool:
    if hostname in _OWN_HOSTS or hostname == emulator:
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True
