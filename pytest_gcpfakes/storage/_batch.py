"""The JSON API's batch endpoint: ``multipart/mixed`` in, ``multipart/mixed`` out.

Format from cloud.google.com/storage/docs/batch: each part is ``application/http`` and holds
one whole HTTP request (request line, headers, body); each answer part holds one whole HTTP
response and a ``Content-ID`` of ``<response-ID>`` for the request part's ``ID``.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import io
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._wire import RAW_HEADERS, STATUS_TEXT, Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

#: "You're limited to 100 calls in a single batch request" (cloud.google.com/storage/docs/
#: batch). The Python client itself allows 1000 deferred calls, so this is GCS's limit.
MAX_BATCH = 100


@dataclass(frozen=True)
class BatchPart:
    """One request inside a batch."""

    content_id: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def serve_batch(app: StorageApp, request: Request) -> Response:
    """A multipart/mixed batch: every part is one JSON API request, answered in order.

    Each part is served as a request of its own (routed, faults injected, errors answered),
    so a fault on ``storage.objects.delete`` fails a batched delete as it would GCS's.
    """
    parts = parse_batch(request.content_type, request.body)
    if len(parts) > MAX_BATCH:
        raise _errors.invalid_argument(f"A batch request may contain at most {MAX_BATCH} calls.")
    answers = []
    for part in parts:
        answer = app.serve(Request(environ_for(part, request.environ)))
        answers.append((part.content_id, answer.status, answer.headers, answer.body))
    content_type, payload = render_batch(answers, STATUS_TEXT)
    return Response(200, payload, {"Content-Type": content_type})


def parse_batch(content_type: str, body: bytes) -> list[BatchPart]:
    """Split a batch request body into its requests; 400 for one that is not a list of
    HTTP requests."""
    if not content_type.lower().startswith("multipart/mixed"):
        raise _errors.invalid_argument("Batch requests must be multipart/mixed.")
    # Header text is latin-1 (as HTTP reads it): any byte goes into the parser's header.
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + body)
    if not message.is_multipart():
        raise _errors.invalid_argument("Batch requests must be multipart/mixed.")
    parts: list[BatchPart] = []
    for index, part in enumerate(message.get_payload()):
        parts.append(_parse_part(index + 1, part))
    if not parts:
        raise _errors.malformed_batch("it holds no requests.")
    return parts


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


def _parse_part(number: int, part: email.message.Message) -> BatchPart:
    """One part of a batch: an ``application/http`` request line, headers and body."""
    if part.is_multipart():
        raise _errors.malformed_batch(f"part {number} is not an HTTP request.")
    # decode=True: the part's bytes as sent (decode=False would replace non-ASCII ones).
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        raise _errors.malformed_batch(f"part {number} is not an HTTP request.")
    head_block, _, payload = text.replace(b"\r\n", b"\n").partition(b"\n\n")
    try:
        lines = head_block.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise _errors.malformed_batch(f"part {number} is not UTF-8.") from None
    request_line = lines[0].split(" ")
    method, url = request_line[0], request_line[1] if len(request_line) > 1 else ""
    if method not in _METHODS or not urlsplit(url).path.startswith("/"):
        raise _errors.malformed_batch(f"part {number} does not start with a request line.")
    if urlsplit(url).path.startswith("/batch/"):
        raise _errors.malformed_batch(f"part {number} is a batch request itself.")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key:
            headers[key.strip()] = value.strip()
    content_id = str(part.get("Content-ID") or f"<{number}>").strip("<>")
    return BatchPart(content_id, method, url, headers, payload)


def environ_for(part: BatchPart, outer: Mapping[str, Any]) -> dict[str, Any]:
    """Return a WSGI environ for one batched request, based on the outer one."""
    url = urlsplit(part.url)
    environ = {k: v for k, v in outer.items() if not k.startswith("HTTP_")}
    # The outer request's host stays: links in the answers name the face that was asked.
    if "HTTP_HOST" in outer:
        environ["HTTP_HOST"] = outer["HTTP_HOST"]
    environ.pop("wsgi.input_terminated", None)
    environ[RAW_HEADERS] = list(part.headers.items())
    environ.update(
        {
            "REQUEST_METHOD": part.method,
            "PATH_INFO": url.path,
            "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
            "QUERY_STRING": url.query,
            "CONTENT_LENGTH": str(len(part.body)),
            "CONTENT_TYPE": "",
            "wsgi.input": io.BytesIO(part.body),
        }
    )
    for key, value in part.headers.items():
        if "_" in key:
            continue  # kept in RAW_HEADERS only, as the faces do (see _wire)
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name != "CONTENT_LENGTH":
            environ[f"HTTP_{name}"] = value
    return environ


def render_batch(
    answers: Sequence[tuple[str, int, Mapping[str, str], bytes]],
    status_text: Mapping[int, str],
) -> tuple[str, bytes]:
    """Return the Content-Type and body of the batch answer."""
    boundary = "batch_" + secrets.token_hex(12)
    out = io.BytesIO()
    for content_id, status, headers, body in answers:
        out.write(f"--{boundary}\r\n".encode())
        out.write(b"Content-Type: application/http\r\n")
        out.write(f"Content-ID: <response-{content_id}>\r\n\r\n".encode())
        out.write(f"HTTP/1.1 {status} {status_text.get(status, 'Unknown')}\r\n".encode())
        for key, value in headers.items():
            out.write(f"{key}: {value}\r\n".encode())
        out.write(b"\r\n")
        out.write(body)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", out.getvalue()
