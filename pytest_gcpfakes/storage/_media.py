"""Media: uploads (multipart, media, resumable sessions), downloads, Range, transcoding.

Each handler serves one route of :mod:`._routes`. Formats: cloud.google.com/storage/docs/
uploads-downloads, .../performing-resumable-uploads, .../transcoding.
"""

from __future__ import annotations

import gzip
import re
import threading
import zlib
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _csek, _errors, _schema
from pytest_gcpfakes.storage._acl_api import add_object_request
from pytest_gcpfakes.storage._backend import ObjectVersion
from pytest_gcpfakes.storage._names import validate_object_name
from pytest_gcpfakes.storage._resources import (
    contexts_field,
    etag,
    object_resource,
    quote_segment,
    retention_field,
    writable_fields,
)
from pytest_gcpfakes.storage._wire import Request, Response, load_json

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

# ASCII digits only ([0-9], never \d): "٣" is a digit to \d and int(), not to HTTP.
# The range unit is case-insensitive (RFC 9110 §14.1).
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_CONTENT_RANGE = re.compile(r"bytes (?:([0-9]+)-([0-9]+)|\*)/([0-9]+|\*)")
_DIGITS = re.compile(r"[0-9]+")


# -- uploads ---------------------------------------------------------------------------------


def multipart_upload(app: StorageApp, request: Request, bucket: str) -> Response:
    """``uploadType=multipart``: JSON metadata and the media in one ``multipart/related``."""
    metadata, data = _parse_multipart(request)
    return _insert(app, request, bucket, metadata, data)


def media_upload(app: StorageApp, request: Request, bucket: str) -> Response:
    """``uploadType=media``: the body is the object, the query names it."""
    metadata: dict[str, Any] = {}  # the name is the query's (_upload_fields)
    if request.content_type:
        metadata["contentType"] = request.content_type
    return _insert(app, request, bucket, metadata, request.body)


def wrong_url_for_upload(app: StorageApp, request: Request, bucket: str) -> Response:
    """An upload without ``uploadType``, or sent to the metadata URL: refused."""
    raise _errors.wrong_url_for_upload()


def _with_query_fields(request: Request, metadata: dict[str, Any]) -> dict[str, Any]:
    """objects.insert's ``contentEncoding`` query parameter: "equivalent to setting the
    contentEncoding metadata property", for ``uploadType=media`` above all (the JSON API
    reference of objects.insert; gcloud-aio-storage's ``upload(zipped=True)`` sends it)."""
    encoding = request.query.get("contentEncoding")
    if encoding and "contentEncoding" not in metadata:
        return {**metadata, "contentEncoding": encoding}
    return metadata


def _insert(
    app: StorageApp, request: Request, bucket: str, metadata: dict[str, Any], data: bytes
) -> Response:
    metadata = _schema.OBJECT.check(_with_query_fields(request, metadata))
    name, fields = _upload_fields(request, metadata)
    version = app.backend.insert_object(
        bucket,
        name,
        data,
        preconditions=request.preconditions(),
        expected_md5=metadata.get("md5Hash"),
        expected_crc32c=metadata.get("crc32c"),
        writer_thread=threading.current_thread().name,
        **fields,
    )
    # The writer gave the object's key (if any): its answer shows the hashes.
    key = version.key_sha256
    return Response(200, object_resource(version, app.backend, request.base_url, key))


def _upload_fields(request: Request, metadata: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the object name and the writable fields of an upload's metadata (checked
    against the object schema already)."""
    name = metadata.get("name")
    if not name:
        if "name" in request.undecodable:  # ?name=%FF: read with U+FFFD, never stored so
            raise _errors.object_name_disallowed_characters()
        name = request.query.get("name")
    if not name:
        raise _errors.required()
    validate_object_name(name)
    fields = writable_fields(metadata)
    key = _csek.request_key(request)  # a customer-supplied key encrypts the new object
    if key is not None:
        fields["key_sha256"] = key
    if "metadata" in fields:
        # A new object has no key for a null to remove.
        fields["metadata"] = {k: v for k, v in fields["metadata"].items() if v is not None}
    retention_field(metadata, fields)
    contexts_field(metadata, fields)
    add_object_request(request, metadata, fields)
    return name, fields


def start_resumable(app: StorageApp, request: Request, bucket: str) -> Response:
    """``uploadType=resumable``: open a session; its URI is in ``Location``."""
    metadata = _schema.OBJECT.check(_with_query_fields(request, request.json()))
    content_type = request.header("X-Upload-Content-Type")
    if content_type and "contentType" not in metadata:
        metadata["contentType"] = content_type
    name, fields = _upload_fields(request, metadata)
    length = request.header("X-Upload-Content-Length") or ""
    session = app.backend.start_upload(
        bucket,
        name,
        fields=fields,
        preconditions=request.preconditions(),
        expected_md5=metadata.get("md5Hash"),
        expected_crc32c=metadata.get("crc32c"),
        total=int(length) if _DIGITS.fullmatch(length) and len(length) <= 18 else None,
        writer_thread=threading.current_thread().name,
    )
    return Response(200, b"", {"Location": session_uri(request, bucket, name, session.id)})


def session_uri(request: Request, bucket: str, name: str, upload_id: str) -> str:
    """A resumable session's URI: clients PUT every chunk to it verbatim, so it must point
    at the face that opened the session."""
    return (
        f"{request.base_url}/upload/storage/v1/b/{quote_segment(bucket)}/o"
        f"?uploadType=resumable&name={quote_segment(name)}&upload_id={upload_id}"
    )


def cancel_upload(app: StorageApp, request: Request, bucket: str) -> Response:
    app.backend.cancel_upload(request.query["upload_id"])
    # Cancelling answers 499 (cloud.google.com/storage/docs/performing-resumable-
    # uploads#cancel-upload).
    return Response(499)


def upload_chunk(app: StorageApp, request: Request, bucket: str) -> Response:
    """A PUT to a session URI: one chunk, the whole upload, or a status check."""
    session = app.backend.get_upload(request.query["upload_id"])
    content_range = request.header("Content-Range")
    if content_range is None:
        # No Content-Range: the body is the whole upload, sent in one request
        # (performing-resumable-uploads#single-chunk-upload).
        size = len(request.body)
        content_range = f"bytes 0-{size - 1}/{size}" if size else "bytes */0"
    match = _CONTENT_RANGE.fullmatch(content_range.strip())
    if match is None or any(len(n or "") > 18 for n in match.groups()):
        raise _errors.bad_content_range(content_range)
    first, last, total_text = match.groups()
    total = None if total_text == "*" else int(total_text)
    if first is None:
        # "bytes */*" asks for the status; "bytes */N" finishes an upload of N bytes
        # whose data has all been sent (the client's last, empty chunk).
        if request.body:
            raise _errors.bad_content_range(content_range)
        start = len(session.buffer)
    else:
        start = int(first)
        if int(last) - start + 1 != len(request.body):
            raise _errors.bad_content_range(content_range)
    if first is None and total is None:
        version = session.result
    else:
        md5, crc32c = _parse_goog_hash(request.header("X-Goog-Hash"))
        version = app.backend.append_upload(
            session, start, request.body, total, client_md5=md5, client_crc32c=crc32c
        )
    if version is not None:
        key = version.key_sha256  # the session's writer gave it
        return Response(200, object_resource(version, app.backend, request.base_url, key))
    headers = {}
    persisted = len(session.buffer)
    if persisted:
        # No Range header at all means nothing is persisted yet ("performing resumable
        # uploads#status-check"; java-storage#2182).
        headers["Range"] = f"bytes=0-{persisted - 1}"
    return Response(308, b"", headers)


def _parse_multipart(request: Request) -> tuple[dict[str, Any], bytes]:
    """Split a ``multipart/related`` upload into its JSON metadata and its media."""
    match = _BOUNDARY.search(request.content_type)
    if match is None:
        raise _errors.invalid_argument("Missing multipart boundary.")
    delimiter = b"--" + match.group(1).encode()
    body = request.body
    first = body.find(delimiter)
    second = body.find(b"\r\n" + delimiter, first + len(delimiter))
    closing = body.rfind(b"\r\n" + delimiter + b"--")
    if first < 0 or second < 0 or closing < second:
        raise _errors.invalid_argument("Malformed multipart body.")
    # Offsets into the body rather than slices of slices: the media is copied once.
    meta_start = first + len(delimiter)
    meta_end = body.find(b"\r\n\r\n", meta_start, second)
    meta_json = body[meta_end + 4 : second] if meta_end >= 0 else b""
    media_start = second + 2 + len(delimiter)
    media_end = body.find(b"\r\n\r\n", media_start, closing)
    if media_end < 0:
        header_block, data = body[media_start:closing], b""
    else:
        header_block, data = body[media_start:media_end], body[media_end + 4 : closing]
    try:
        metadata = load_json(meta_json or b"{}")
    except (ValueError, RecursionError):
        raise _errors.invalid_argument("Parse Error") from None
    if not isinstance(metadata, dict):
        raise _errors.invalid_argument("Parse Error")
    if "contentType" not in metadata:
        for line in header_block.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-type":
                # Header bytes beyond ASCII are latin-1, as HTTP reads them.
                metadata["contentType"] = value.strip().decode("latin-1")
    return metadata, data


def _parse_goog_hash(header: str | None) -> tuple[str | None, str | None]:
    """Return the (md5, crc32c) base64 digests of an ``x-goog-hash`` header."""
    md5 = crc32c = None
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "md5":
            md5 = value
        elif key == "crc32c":
            crc32c = value
    return md5, crc32c


# -- downloads -------------------------------------------------------------------------------


def download(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    """An object's bytes (``/download/...``, ``alt=media``, a signed URL's GET): whole,
    a ``Range`` of them, or decompressed (transcoding)."""
    version = app.backend.get_object(bucket, name, request.int_param("generation"))
    request.preconditions().check(version, read=True)
    tag = etag(version)  # once: it is checked and then sent
    request.check_etag(tag)
    _csek.check(version.key_sha256, _csek.request_key(request))  # the data needs its key
    headers = {
        # GCS serves an object without a content type as application/octet-stream.
        "Content-Type": version.content_type or "application/octet-stream",
        "ETag": tag,
        "x-goog-generation": str(version.generation),
        "x-goog-metageneration": str(version.metageneration),
        "x-goog-hash": f"crc32c={version.crc32c}"
        + (f",md5={version.md5_hash}" if version.md5_hash else ""),
        "x-goog-stored-content-length": str(version.size),
        "x-goog-stored-content-encoding": version.content_encoding or "identity",
        "Accept-Ranges": "bytes",
    }
    transcoded = None
    if version.content_encoding:
        if version.content_encoding == "gzip" and _transcodes(request, version):
            transcoded = _gunzip(version.data)
        if transcoded is None:
            headers["Content-Encoding"] = version.content_encoding
    wanted = _parse_range(request.header("Range"), version.size)
    if transcoded is not None:
        response = _transcoded_response(transcoded, headers)
    elif wanted is None:
        response = Response(200, version.data, headers)
    else:
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{version.size}"
        # Slicing copies only the range asked for, never the whole object.
        response = Response(206, version.data[start : end + 1], headers)
    if request.method == "HEAD":
        response.body = b""  # Content-Length still tells the size of what a GET gets
    return response


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Resolve a ``Range`` header against an object of ``size`` bytes: the first and last
    byte to send, or ``None`` to send the whole object.

    RFC 9110 §14.2: a Range a server cannot parse is ignored (200, the whole object): a
    unit other than bytes, a spec that is not numbers, a last byte before the first
    (§14.1.1: invalid), and several ranges, which GCS does not serve ("Multiple byte
    ranges in a single request are not accepted", json_api/v1/parameters; the header is
    then ignored). Only a valid range that selects no byte is 416 (§14.1.1:
    unsatisfiable: it starts at or past the end, or is a suffix of length 0).
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None  # "bytes=-": not a range spec at all
    if first == "":
        length = _position(last)
        if length == 0:
            raise _errors.range_not_satisfiable(size)
        start, end = max(size - length, 0), size - 1
    else:
        start = _position(first)
        if last and _position(last) < start:
            return None
        end = min(_position(last), size - 1) if last else size - 1
    if start >= size or start > end:
        if size == 0 and start == 0:
            return 0, -1
        raise _errors.range_not_satisfiable(size)
    return start, end


def _position(digits: str) -> int:
    """A byte position; one past any object's size when it has more digits than any size
    (int() refuses over 4,300 digits)."""
    return int(digits) if len(digits) <= 18 else 10**18


# Decompressive transcoding (cloud.google.com/storage/docs/transcoding): an object stored
# gzip-compressed with Content-Encoding: gzip is served decompressed unless the request
# accepts gzip or the object's Cache-Control says no-transform. Then the answer has no
# Content-Encoding or Content-Length, the Range header is ignored (the whole object, 200:
# "transcoding#range"), and x-goog-hash still describes the stored, compressed bytes
# (google-cloud-dotnet#1641, "the hash is still of the gzipped data"; google-cloud-cpp#8830).
# GCS marks such answers with "Warning: 214 UploadServer gunzipped" (dotnet#1641) and
# "x-guploader-response-body-transformations: gunzipped" (google-cloud-cpp#8830).
_GUNZIPPED = {
    "Warning": "214 UploadServer gunzipped",
    "x-guploader-response-body-transformations": "gunzipped",
}
_NO_TRANSFORM = re.compile(r"(?:^|,)\s*no-transform\s*(?:,|$)", re.IGNORECASE)


def _transcodes(request: Request, version: ObjectVersion) -> bool:
    """Tell whether GCS would serve this gzip-encoded object decompressed."""
    if version.cache_control and _NO_TRANSFORM.search(version.cache_control):
        return False
    return not _accepts_gzip(request.header("Accept-Encoding"))


def _accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3, q-values included).

    GCS documents only "Accept-Encoding: gzip"; honouring q=0 and "*" is the HTTP rule,
    assumed to be GCS's too.
    """
    if not header:
        return False
    wildcard = None
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        accepted = _q_value(params) > 0
        if coding in ("gzip", "x-gzip"):
            return accepted
        if coding == "*":
            wildcard = accepted
    return bool(wildcard)


def _q_value(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _gunzip(data: bytes) -> bytes | None:
    """The decompressed bytes of a gzip stream, or ``None`` if they are not gzip."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        # Guess: no recorded GCS answer for an object labelled gzip whose bytes are not.
        # The fake serves it as stored, with its Content-Encoding, rather than invent an error.
        return None


def _transcoded_response(data: bytes, headers: dict[str, str]) -> Response:
    """The whole object, decompressed, as GCS answers a transcoded download."""
    response = Response(200, data, {**headers, **_GUNZIPPED})
    # GCS sends neither Content-Encoding nor Content-Length with a transcoded object.
    del response.headers["Content-Length"]
    return response
