"""Which hosts a client may name: Google's (faked), this machine's and the emulators' (faked
while a fake is active), and any other (refused). A leaf module: no imports of ours."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from urllib.parse import urlsplit

_GOOGLE_DOMAINS = ("googleapis.com", "storage.cloud.google.com", "accounts.google.com")
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "169.254.169.254"})

UNIX_SOCKETS = hasattr(socket, "AF_UNIX") and sys.platform != "win32"
"""Whether the servers' own hops (the link, the switch's way to the gRPC face) may also
use Unix sockets here: a round trip there costs a fifth of one over TCP loopback."""


def is_google_host(host: str | None) -> bool:
    """Tell whether ``host`` is a Google API endpoint or the metadata server."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host in _METADATA_HOSTS:
        return True
    return any(host == d or host.endswith("." + d) for d in _GOOGLE_DOMAINS)


def is_loopback_host(host: str | None) -> bool:
    """Tell whether ``host`` names this machine (127.0.0.0/8, ``localhost``, ``::1``)."""
    if not host:
        return False
    host = host.lower().rstrip(".").strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def is_loopback_address(host: str) -> bool:
    """Tell whether a server may listen on ``host`` without exposing the fakes: a loopback
    IP address (127.0.0.0/8, ``::1``) or ``localhost``. Stricter than
    :func:`is_loopback_host`, which judges the names clients call."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_host(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond loopback unless the caller said so in as many words: the
    fakes check no credentials."""
    if not allow_remote and not is_loopback_address(host):
        raise ValueError(
            f"pytest-gcpfakes serves on loopback only; pass allow_remote=True (CLI: "
            f"--allow-remote) to listen on {host!r}."
        )


def emulator_netloc(variable: str) -> str:
    """``host:port`` of an emulator variable (``PUBSUB_EMULATOR_HOST``…), or ``""``."""
    value = os.environ.get(variable, "")
    return urlsplit(value if "://" in value else f"http://{value}").netloc if value else ""


def grpc_target_host(target: str) -> str:
    """Extract the host from a gRPC target such as ``dns:///pubsub.googleapis.com:443``."""
    rest = target
    for prefix in ("dns:///", "dns://", "dns:", "ipv4:", "ipv6:", "unix:"):
        if rest.startswith(prefix):
            rest = rest[len(prefix) :]
            break
    if "/" in rest:  # dns://authority/host
        rest = rest.rsplit("/", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def is_servable_endpoint(endpoint: str, variable: str) -> bool:
    """Whether the fakes serve a client built with ``api_endpoint=endpoint``.

    Google's hosts, this machine, and the address in ``variable`` (the service's emulator
    variable, which may name a host such as ``gcs:4443`` in a compose file) are served;
    any other endpoint is refused, never reached.
    """
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    host = parts.hostname
    if is_google_host(host) or is_loopback_host(host):
        return True
    return bool(parts.netloc) and parts.netloc == emulator_netloc(variable)
