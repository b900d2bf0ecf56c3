"""The switch in front of the Pub/Sub port: gRPC and HTTP/1.1 told apart by first bytes."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

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


def test_a_unix_socket_upstream_is_served_like_a_tcp_one(tmp_path: Any) -> None:
    """The gRPC face listens on a Unix socket too, and the switch reaches it there."""
    path = str(tmp_path / "grpc.sock")
    grpc_side = socketserver.ThreadingUnixStreamServer(path, _Tagged)
    grpc_side.daemon_threads = True
    grpc_side.tag = b"unix-grpc"  # type: ignore[attr-defined]
    threading.Thread(target=grpc_side.serve_forever, args=(0.01,), daemon=True).start()
    http_side = _server(b"http")
    front = Switch(path, http_side.server_address[:2])
    try:
        assert _exchange(front.port, HTTP2_PREFACE + b"frames\n") == (
            b"unix-grpc:" + HTTP2_PREFACE + b"frames\n"
        )
        assert _exchange(front.port, b"GET / HTTP/1.1\n") == b"http:GET / HTTP/1.1\n"
    finally:
        front.stop()
        for server in (grpc_side, http_side):
            server.shutdown()
            server.server_close()


def test_the_grpc_face_listens_on_a_unix_socket_and_removes_it_when_stopped() -> None:
    import os

    import grpc
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    from pytest_gcpfakes import GCPFakes
    from pytest_gcpfakes.server._grpc import start_grpc_server

    with GCPFakes(services=("pubsub",)) as fakes:
        fakes.pubsub.create_topic("over-unix")
        face = start_grpc_server(unix=True)
        try:
            assert face.unix_path is not None
            from google.cloud import pubsub_v1

            channel = grpc.insecure_channel(f"unix:{face.unix_path}")
            client = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))
            topic = client.get_topic(topic="projects/test-project/topics/over-unix")
            assert topic.name == "projects/test-project/topics/over-unix"
            channel.close()
        finally:
            face.stop(0)
        assert not os.path.exists(face.unix_path)
