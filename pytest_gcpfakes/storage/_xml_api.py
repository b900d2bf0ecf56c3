"""The XML API's object requests: signed URLs, POST policy forms, multipart uploads.

Each handler serves two routes of :mod:`._routes`: path-style, ``/bucket/object``, and
addressed by host, ``/object`` on a host that names the bucket (:mod:`._addressing`); the
handler gets the bucket either way. Errors are XML bodies (``_errors.XmlError``). A signed
URL's signature is checked by the app before its handler runs (:mod:`._signed_urls`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import google_crc32c

from pytest_gcpfakes.storage import _csek, _errors, _schema, _signed_urls
from pytest_gcpfakes.storage._backend import Preconditions
from pytest_gcpfakes.storage._media import download, session_uri
from pytest_gcpfakes.storage._names import validate_object_name
from pytest_gcpfakes.storage._resources import etag, md5_etag, quote_segment, writable_fields
from pytest_gcpfakes.storage._wire import Request, Response, bill, header_map

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

_MAX_PARTS = 10_000  # XML API multipart uploads take part numbers 1..10000
_S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# Headers (and POST form fields) that set object metadata, and the JSON API fields they
# are: the object schema (``_schema.OBJECT``) checks them as it checks a JSON body.
_XML_HEADERS = {
    "content-type": "contentType",
    "cache-control": "cacheControl",
    "content-disposition": "contentDisposition",
    "content-encoding": "contentEncoding",
    "content-language": "contentLanguage",
    "x-goog-custom-time": "customTime",
    "x-goog-storage-class": "storageClass",
}
_PART_NUMBER = re.compile(r"[0-9]{1,5}")
# Query parameters of a signed URL that set headers of the answer.
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-disposition": "Content-Disposition",
}


def check_signature(app: StorageApp, request: Request) -> None:
    """Refuse a signed URL's request unless it passes GCS's checks (``_signed_urls``)."""
    request.signed = True  # errors from here on are XML API answers
    environ = request.environ
    _signed_urls.check(
        request.method,
        request.path,
        environ.get("QUERY_STRING", ""),
        header_map(environ),
        request.host,
        app.backend.clock.time(),
        host_bucket=request.host_bucket,
    )


# -- signed URLs -------------------------------------------------------------------------------
# A signed URL names the object in the XML API's path style; what it may do is what its
# signed method says: read (GET, HEAD), write (PUT, or POST with x-goog-resumable: start
# for a resumable session) or delete.


def signed_read(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    response = download(app, request, bucket, name)
    # Response overrides the signer asked for (xml-api/reference-headers#query).
    for param, header in _RESPONSE_OVERRIDES.items():
        value = request.query.get(param)
        if value:
            response.headers[header] = value
    return response


def signed_write(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    version = app.backend.insert_object(
        bucket,
        name,
        request.body,
        writer_thread=threading.current_thread().name,
        **fields_from_headers(request),
    )
    return Response(
        200,
        b"",
        {
            "ETag": md5_etag(version),
            "x-goog-generation": str(version.generation),
            "x-goog-metageneration": str(version.metageneration),
            "x-goog-hash": f"crc32c={version.crc32c},md5={version.md5_hash}",
        },
    )


def signed_resumable_start(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    validate_object_name(name)
    session = app.backend.start_upload(
        bucket,
        name,
        fields=fields_from_headers(request),
        preconditions=Preconditions(),
        expected_md5=None,
        expected_crc32c=None,
        total=None,
        writer_thread=threading.current_thread().name,
    )
    # 201 Created with the session URI (signed-urls#resumable-upload); the data then goes
    # there with one PUT, or in chunks with Content-Range.
    return Response(201, b"", {"Location": session_uri(request, bucket, name, session.id)})


def signed_delete(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    app.backend.delete_object(bucket, name, request.int_param("generation"))
    return Response(204)


# -- POST policy forms ---------------------------------------------------------------------------


def post_object(app: StorageApp, request: Request, bucket: str) -> Response:
    """A browser form upload under a signed V4 POST policy (``generate_signed_post_policy_v4``).

    Protocol: cloud.google.com/storage/docs/xml-api/post-object-forms. The answer is
    ``success_action_redirect`` (303), else ``success_action_status`` (200 or 201 with
    a ``PostResponse``), else 204.
    """
    from werkzeug.formparser import parse_form_data

    request.signed = True  # errors are XML API answers
    environ = {**request.environ, "wsgi.input": io.BytesIO(request.body)}
    environ["CONTENT_LENGTH"] = str(len(request.body))
    _, form_data, files = parse_form_data(environ)
    for field, extra in files.items(multi=True):
        if field != "file":  # only the file field carries data
            extra.close()
    upload = files.get("file")
    if upload is None:
        raise _errors.XmlError(
            400, "InvalidArgument", "POST object expects a file field."
        )  # wording: guess
    try:
        data = upload.read()
    finally:
        upload.close()
    form = {field.lower(): value for field, value in form_data.items()}
    _signed_urls.check_post_policy(form, bucket, len(data), app.backend.clock.time())
    key = form.get("key", "").replace("${filename}", upload.filename or "")
    # Billed after the policy holds: a refused form is refused for its policy first.
    bill(app.backend, bucket, request.header("X-Goog-User-Project"), xml=True)
    validate_object_name(key)
    fields = _object_fields(form)
    fields.setdefault("content_type", upload.mimetype or None)
    version = app.backend.insert_object(
        bucket, key, data, writer_thread=threading.current_thread().name, **fields
    )
    tag = md5_etag(version)
    redirect = form.get("success_action_redirect")
    if redirect:
        query = urlencode({"bucket": bucket, "key": key, "etag": tag})
        separator = "&" if "?" in redirect else "?"
        return Response(303, b"", {"Location": f"{redirect}{separator}{query}"})
    status = form.get("success_action_status")
    if status == "201":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><PostResponse>"
            f"<Location>{escape(_object_url(request, bucket, quote_segment(key)))}</Location>"
            f"<Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>{escape(tag)}</ETag></PostResponse>"
        )
        return Response(201, body.encode(), {"Content-Type": "application/xml", "ETag": tag})
    return Response(200 if status == "200" else 204, b"", {"ETag": tag})


# -- multipart uploads ---------------------------------------------------------------------------
# As transfer_manager.upload_chunks_concurrently uses them. Protocol:
# cloud.google.com/storage/docs/multipart-uploads (S3-compatible XML).


def is_multipart(request: Request) -> bool:
    """Tell whether a request belongs to an XML API multipart upload."""
    if request.path.startswith(("/storage/", "/upload/", "/download/", "/batch/")):
        return False
    return request.has("uploads") or "uploadId" in request.query


def start_multipart(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    validate_object_name(name)
    upload = app.backend.start_multipart(
        bucket, name, fields_from_headers(request), threading.current_thread().name
    )
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult "
        f'xmlns="{_S3_NAMESPACE}"><Bucket>{escape(bucket)}</Bucket>'
        f"<Key>{escape(name)}</Key><UploadId>{upload.id}</UploadId>"
        f"</InitiateMultipartUploadResult>"
    )
    return Response(200, body.encode(), {"Content-Type": "application/xml"})


def upload_part(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    upload = app.backend.get_multipart(request.query["uploadId"])
    number = request.int_param("partNumber")
    if number is None or not 1 <= number <= _MAX_PARTS:
        raise _errors.invalid_argument(f"Invalid partNumber: {number}")
    data = request.body
    md5 = hashlib.md5(data)
    crc = google_crc32c.Checksum(data)
    with upload.lock:
        upload.parts[number] = data
    headers = {
        "ETag": f'"{md5.hexdigest()}"',
        "x-goog-hash": f"crc32c={base64.b64encode(crc.digest()).decode()},"
        f"md5={base64.b64encode(md5.digest()).decode()}",
    }
    return Response(200, b"", headers)


def complete_multipart(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    numbers = _part_numbers(request.body)
    version = app.backend.complete_multipart(request.query["uploadId"], numbers)
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult "
        f'xmlns="{_S3_NAMESPACE}"><Location>{escape(_object_url(request, bucket, quote(name)))}'
        f"</Location><Bucket>{escape(bucket)}</Bucket>"
        f'<Key>{escape(name)}</Key><ETag>"{etag(version)}"</ETag>'
        f"</CompleteMultipartUploadResult>"
    )
    return Response(200, body.encode(), {"Content-Type": "application/xml"})


def _part_numbers(body: bytes) -> list[int]:
    """The part numbers a CompleteMultipartUpload body lists, in its order."""
    try:
        root = ElementTree.fromstring(body or b"<CompleteMultipartUpload/>")
    except ElementTree.ParseError:
        raise _errors.malformed_xml() from None
    numbers = []
    for node in root.iter("PartNumber"):
        text = (node.text or "").strip()
        if _PART_NUMBER.fullmatch(text) is None:
            raise _errors.malformed_xml()
        numbers.append(int(text))
    return numbers


def abort_multipart(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    app.backend.abort_multipart(request.query["uploadId"])
    return Response(204)


def _object_url(request: Request, bucket: str, quoted_name: str) -> str:
    """An object's XML API URL in the addressing the request used: on a host that names
    the bucket (virtual-hosted-style, bucket-bound hostname) the path is the name alone."""
    if request.host_bucket is not None:
        return f"{request.base_url}/{quoted_name}"
    return f"{request.base_url}/{bucket}/{quoted_name}"


# -- object fields from headers and form fields ---------------------------------------------------


def fields_from_headers(request: Request) -> dict[str, Any]:
    """Object metadata from XML API headers (transfer_manager's METADATA_HEADER_TRANSLATION),
    with the customer-supplied key the headers name (``_csek``)."""
    fields = _object_fields(header_map(request.environ))
    key = _csek.request_key(request)
    if key is not None:
        fields["key_sha256"] = key
    return fields


def _object_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """Object metadata from XML API headers or POST form fields, by lower-case name,
    checked as the JSON API checks the same fields."""
    resource: dict[str, Any] = {
        key: values[header] for header, key in _XML_HEADERS.items() if values.get(header)
    }
    custom = {
        name.removeprefix("x-goog-meta-"): str(value)
        for name, value in values.items()
        if name.startswith("x-goog-meta-")
    }
    if custom:
        resource["metadata"] = custom
    return writable_fields(_schema.OBJECT.check(resource))


def xml_error(error: _errors.GCSError) -> _errors.XmlError:
    """The XML API's code and wording for an error the JSON API words its own way."""
    # XML API codes and messages (cloud.google.com/storage/docs/xml-api/reference-status).
    if error.status == 404:
        if error.message.startswith("No such object"):
            return _errors.XmlError(404, "NoSuchKey", "The specified key does not exist.")
        return _errors.XmlError(404, "NoSuchBucket", "The specified bucket does not exist.")
    if error.reason == "resourceIsEncryptedWithCustomerEncryptionKey":
        # The XML API's words for it, as a Zig client's test harness answers them.
        return _errors.XmlError(
            400,
            "ResourceIsEncryptedWithCustomerEncryptionKey",
            "The resource is encrypted with a customer encryption key.",
        )
    if error.status == 412:
        return _errors.XmlError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    return _errors.XmlError(error.status, xml_code(error), error.message)


def xml_code(error: _errors.GCSError) -> str:
    """The XML API's error code for an error the JSON API gives a reason."""
    # A bad value: the XML API's InvalidArgument (verified: "<Code>InvalidArgument</Code>
    # <Message>Invalid argument.</Message>" for a refused setmeta, gsutil#512).
    return "InvalidArgument" if error.reason == "invalid" else error.reason
