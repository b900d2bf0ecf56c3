"""The switch in front of the Pub/Sub port: gRPC and HTTP/1.1 told apart by first bytes."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from pytest_gcpfakes.server._switch import HTTP2_PREFACE, Switch


class _Tagged(socketserver.BaseRequestHandler):
    """Answers each connection with its server's tag and everything it received first."""

    def handle(self) -> None:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.request.recv(65536)
            if not chunk:
                break
            data += chunk
        self.request.sendall(self.server.tag + b":" + data)  # type: ignore[attr-defined]


def _server(tag: bytes) -> socketserver.ThreadingTCPServer:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tagged)
    server.daemon_threads = True
    server.tag = tag  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


@pytest.fixture
def switch() -> Iterator[Switch]:
    grpc_side, http_side = _server(b"grpc"), _server(b"http")
    front = Switch(grpc_side.server_address[:2], http_side.server_address[:2])
    yield front
    front.stop()
    for server in (grpc_side, http_side):
        server.shutdown()
        server.server_close()


def _exchange(port: int, *writes: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for data in writes:
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_connection_opening_with_the_http2_preface_goes_to_grpc(switch: Switch) -> None:
    assert _exchange(switch.port, HTTP2_PREFACE + b"frames\n") == (
        b"grpc:" + HTTP2_PREFACE + b"frames\n"
    )


def test_a_preface_split_across_writes_still_goes_to_grpc(switch: Switch) -> None:
    answer = _exchange(switch.port, HTTP2_PREFACE[:5], HTTP2_PREFACE[5:] + b"x\n")
    assert answer == b"grpc:" + HTTP2_PREFACE + b"x\n"


@pytest.mark.parametrize("first", [b"GET / HTTP/1.1\n", b"POST /v1 HTTP/1.1\n", b"PUT /x\n"])
def test_any_other_connection_goes_to_http(switch: Switch, first: bytes) -> None:
    assert _exchange(switch.port, first) == b"http:" + first


def test_the_switch_listens_on_loopback_only_unless_told() -> None:
    with pytest.raises(ValueError, match=r"pass allow_remote=True \(CLI: --allow-remote\)"):
        Switch(("127.0.0.1", 1), ("127.0.0.1", 2), host="0.0.0.0")


def test_stop_frees_the_port(switch: Switch) -> None:
    port = switch.port
    switch.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
