"""The Storage fake's HTTP face fed malformed requests over a real socket.

Each gets a 4xx with GCS's JSON body (or the HTTP server's own answer, for what never
reaches the app: a header line or request line too long), nothing is stored, and the
server keeps serving. The server keeps any exception that escaped the app (its last
resort answers 500) and each test checks that none did.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_gcpfakes.server._http import HttpServer, serve_wsgi, storage_server_app

WAIT = 30  # seconds: a bound on a socket read, never a sleep
NOT_UTF8 = (400, "Disallowed unicode characters present in object name", "invalid")


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    served = serve_wsgi(storage_server_app)
    yield served
    served.stop()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def error(self) -> dict[str, Any]:
        """The JSON API error, as (code, message, reason)."""
        error: dict[str, Any] = json.loads(self.body)["error"]
        return error

    @property
    def refusal(self) -> tuple[int, str, str]:
        return self.error["code"], self.error["message"], self.error["errors"][0]["reason"]


@dataclass
class Wire:
    """Raw requests to the server: bytes out, one parsed answer back."""

    server: HttpServer

    def send(self, head: bytes, body: bytes = b"") -> Answer:
        with socket.create_connection((self.server.host, self.server.port), WAIT) as sock:
            sock.sendall(head + b"\r\n" + body)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer(response.status, response.headers, response.read())

    def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        fields = {"Content-Length": str(len(body)), **(headers or {})}
        lines += [f"{name}: {value}" for name, value in fields.items()]
        return self.send(("\r\n".join(lines) + "\r\n").encode("latin-1"), body)


@pytest.fixture
def wire(fake_storage: Any, server: HttpServer) -> Iterator[Wire]:
    yield Wire(server)
    try:
        server.check()  # no exception reached the server's last resort
    finally:
        server.errors.clear()  # one test's failure is not the next one's


@pytest.fixture
def bucket(fake_storage: Any) -> str:
    fake_storage.put("bkt", "data.bin", b"0123456789")
    return "bkt"


# -- bodies and content types ---------------------------------------------------------------


def test_a_body_that_is_not_json_is_refused(wire: Wire, fake_storage: Any) -> None:
    answer = wire.request("POST", "/storage/v1/b?project=p", b'{"name": "new-bucket"')
    assert answer.refusal == (400, "Parse Error", "invalid")
    assert fake_storage.buckets == []


def test_a_body_nested_too_deep_is_refused(wire: Wire, fake_storage: Any) -> None:
    answer = wire.request("POST", "/storage/v1/b?project=p", b"[" * 50_000 + b"]" * 50_000)
    assert answer.refusal == (400, "Parse Error", "invalid")


def test_a_body_with_a_field_of_the_wrong_type_is_refused(wire: Wire, fake_storage: Any) -> None:
    body = b'{"name": "new-bucket", "versioning": "yes"}'
    answer = wire.request("POST", "/storage/v1/b?project=p", body)
    assert answer.refusal == (400, "Invalid argument.", "invalid")
    assert fake_storage.buckets == []


def test_a_multipart_upload_sent_as_json_is_refused(
    wire: Wire, fake_storage: Any, bucket: str
) -> None:
    answer = wire.request(
        "POST",
        "/upload/storage/v1/b/bkt/o?uploadType=multipart",
        b'{"name": "new.txt"}',
        {"Content-Type": "application/json"},
    )
    assert answer.refusal == (400, "Missing multipart boundary.", "invalid")
    assert fake_storage.objects("bkt") == ["data.bin"]


def test_a_batch_that_is_not_multipart_is_refused(wire: Wire) -> None:
    answer = wire.request("POST", "/batch/storage/v1", b"GET /storage/v1/b/bkt HTTP/1.1")
    assert answer.refusal == (400, "Batch requests must be multipart/mixed.", "invalid")


# -- parameters -----------------------------------------------------------------------------


def test_a_bucket_insert_without_a_project_is_refused(wire: Wire, fake_storage: Any) -> None:
    answer = wire.request("POST", "/storage/v1/b", b'{"name": "new-bucket"}')
    assert answer.refusal == (400, "Required parameter: project", "required")
    assert fake_storage.buckets == []


def test_an_upload_without_an_upload_type_is_refused(
    wire: Wire, fake_storage: Any, bucket: str
) -> None:
    answer = wire.request("POST", "/upload/storage/v1/b/bkt/o?name=new.txt", b"data")
    assert answer.refusal[::2] == (400, "wrongUrlForUpload")
    assert fake_storage.objects("bkt") == ["data.bin"]


def test_a_parameter_given_twice_is_refused(wire: Wire, fake_storage: Any) -> None:
    answer = wire.request("POST", "/storage/v1/b?project=p&project=q", b'{"name": "new-bucket"}')
    assert answer.refusal[::2] == (400, "invalidParameter")
    assert fake_storage.buckets == []


def test_an_unknown_projection_is_refused(wire: Wire, bucket: str) -> None:
    answer = wire.request("GET", "/storage/v1/b/bkt?projection=everything")
    assert answer.refusal == (
        400,
        "Invalid string value: 'everything'. Allowed values: [full, noAcl]",
        "invalidParameter",
    )


# -- Content-Length and headers ---------------------------------------------------------------


def test_an_absurd_content_length_is_refused_before_the_body_is_read(
    wire: Wire, fake_storage: Any
) -> None:
    head = (
        b"POST /storage/v1/b?project=p HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: 1000000000000000\r\n"
    )
    answer = wire.send(head, b'{"name": "new-bucket"}')
    assert (answer.status, answer.error["errors"][0]["reason"]) == (413, "uploadTooLarge")
    assert answer.headers["Connection"] == "close"
    assert fake_storage.buckets == []


@pytest.mark.parametrize("length", ["many", "-1", "1e3"])
def test_a_content_length_that_is_not_a_number_of_bytes_is_refused(
    wire: Wire, fake_storage: Any, length: str
) -> None:
    head = (
        b"POST /storage/v1/b?project=p HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: " + length.encode() + b"\r\n"
    )
    answer = wire.send(head, b'{"name": "new-bucket"}')
    assert answer.refusal == (400, f"Invalid Content-Length header: {length!r}.", "invalid")
    assert fake_storage.buckets == []


def test_a_header_line_too_long_for_the_server_is_refused_before_the_fake(
    wire: Wire, bucket: str
) -> None:
    answer = wire.request("GET", "/storage/v1/b/bkt", headers={"X-Big": "a" * 70_000})
    assert answer.status == 431


def test_more_headers_than_the_server_takes_are_refused_before_the_fake(
    wire: Wire, bucket: str
) -> None:
    many = {f"X-Header-{n}": "a" for n in range(150)}
    assert wire.request("GET", "/storage/v1/b/bkt", headers=many).status == 431


def test_a_request_line_too_long_for_the_server_is_refused_before_the_fake(wire: Wire) -> None:
    assert wire.request("GET", "/storage/v1/b/" + "a" * 70_000).status == 414


def test_a_large_header_the_server_takes_reaches_the_fake(wire: Wire, bucket: str) -> None:
    answer = wire.request("GET", "/storage/v1/b/bkt", headers={"X-Big": "a" * 30_000})
    assert (answer.status, json.loads(answer.body)["name"]) == (200, "bkt")


def test_the_server_keeps_serving_after_refusing_a_request(wire: Wire, bucket: str) -> None:
    wire.request("GET", "/storage/v1/b/bkt", headers={"X-Big": "a" * 70_000})
    wire.send(b"POST /storage/v1/b?project=p HTTP/1.1\r\nContent-Length: many\r\n")
    assert wire.request("GET", "/storage/v1/b/bkt").status == 200


# -- names ------------------------------------------------------------------------------------


def test_an_object_name_of_raw_bytes_that_are_not_utf8_is_refused(wire: Wire, bucket: str) -> None:
    answer = wire.send(b"GET /storage/v1/b/bkt/o/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert answer.refusal == NOT_UTF8


def test_an_object_name_of_raw_utf8_bytes_is_read_as_utf8(
    wire: Wire, fake_storage: Any, bucket: str
) -> None:
    fake_storage.put("bkt", "café", b"accent")
    raw = "GET /download/storage/v1/b/bkt/o/café HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    answer = wire.send(raw)
    assert (answer.status, answer.body) == (200, b"accent")


def test_an_upload_named_with_bytes_that_are_not_utf8_is_refused(
    wire: Wire, fake_storage: Any, bucket: str
) -> None:
    answer = wire.request("POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=%FF", b"x")
    assert answer.refusal == NOT_UTF8
    assert fake_storage.objects("bkt") == ["data.bin"]


@pytest.mark.parametrize(
    "target",
    [
        "/download/storage/v1/b/public/o/../../private/o/secret",
        "/download/storage/v1/b/public/o/..%2F..%2Fprivate%2Fo%2Fsecret",
        "/storage/v1/b/public/o/..%2F..%2Fprivate%2Fo%2Fsecret?alt=media",
    ],
    ids=["raw", "encoded", "json-api"],
)
def test_dot_segments_name_an_object_and_never_reach_another_bucket(
    wire: Wire, fake_storage: Any, target: str
) -> None:
    fake_storage.put("private", "secret", b"secret")
    fake_storage.create_bucket("public")
    answer = wire.request("GET", target)
    assert (answer.status, answer.body) == (404, b"No such object: public/../../private/o/secret")


def test_an_object_name_of_dot_dot_is_refused_at_upload(
    wire: Wire, fake_storage: Any, bucket: str
) -> None:
    answer = wire.request("POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=..", b"x")
    assert answer.refusal == (400, "Invalid object name: '..'", "invalid")
    assert fake_storage.objects("bkt") == ["data.bin"]
