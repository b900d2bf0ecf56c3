"""Every server of ours listens on loopback only unless told otherwise, with one sentence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_gcpfakes.server._grpc import start_grpc_server
from pytest_gcpfakes.server._http import serve_wsgi
from pytest_gcpfakes.server._servers import Servers
from pytest_gcpfakes.server._switch import Switch


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("204 No Content", [])
    return []


STARTERS: dict[str, Callable[[str], Any]] = {
    "serve_wsgi": lambda host: serve_wsgi(_app, host=host),
    "grpc": lambda host: start_grpc_server(host=host),
    "switch": lambda host: Switch(("127.0.0.1", 1), ("127.0.0.1", 1), host=host),
    "Servers": lambda host: Servers(host=host),
}


@pytest.mark.parametrize("starter", STARTERS)
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_a_non_loopback_address_is_refused_with_the_flag_to_pass(starter: str, host: str) -> None:
    with pytest.raises(ValueError, match="loopback only") as refused:
        STARTERS[starter](host)
    assert str(refused.value) == (
        "pytest-gcpfakes serves on loopback only; pass allow_remote=True (CLI: "
        f"--allow-remote) to listen on {host!r}."
    )


def test_any_loopback_address_is_served() -> None:
    with serve_wsgi(_app, host="127.0.0.2") as server:  # all of 127.0.0.0/8 is loopback
        assert server.url.startswith("http://127.0.0.2:")
