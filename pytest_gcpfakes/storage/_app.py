"""The Cloud Storage JSON API as a WSGI app over a :class:`StorageBackend`.

It translates the wire (paths, query parameters, multipart bodies, ``Range`` headers) into
backend calls and back, and nothing else. In-process it is reached through a ``requests``
adapter with no socket; server mode serves the same app over loopback HTTP.

Routing uses the raw, still-percent-encoded path (``RAW_URI``): object names may contain
``/``, which the client sends as ``%2F`` inside one path segment.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlencode
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import google_crc32c
from google.api_core.exceptions import GoogleAPICallError

from pytest_gcpfakes._faults import FaultPlan
from pytest_gcpfakes.storage import _batch, _errors, _listing, _signed_urls
from pytest_gcpfakes.storage._backend import (
    Bucket,
    ObjectVersion,
    Preconditions,
    Retention,
    StorageBackend,
    project_number,
)
from pytest_gcpfakes.storage._names import validate_bucket_name, validate_object_name
from pytest_gcpfakes.storage._notifications import NotificationConfig, parse_config

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_STATUS_TEXT = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    308: "Permanent Redirect",
    499: "Client Closed Request",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    416: "Requested Range Not Satisfiable",
    501: "Not Implemented",
}
_MIB = 1024 * 1024
_MAX_PARTS = 10_000  # XML API multipart uploads take part numbers 1..10000
_S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML_HEADERS = {
    "Cache-Control": "cache_control",
    "Content-Disposition": "content_disposition",
    "Content-Encoding": "content_encoding",
    "Content-Language": "content_language",
    "X-Goog-Custom-Time": "custom_time",
    "X-Goog-Storage-Class": "storage_class",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
# Query parameters of a signed URL that set headers of the answer.
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-disposition": "Content-Disposition",
}
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")

# Object fields the JSON API lets a client write, and the dataclass fields they map to.
_WRITABLE = {
    "contentType": "content_type",
    "contentEncoding": "content_encoding",
    "contentDisposition": "content_disposition",
    "contentLanguage": "content_language",
    "cacheControl": "cache_control",
    "customTime": "custom_time",
    "storageClass": "storage_class",
    "metadata": "metadata",
    "temporaryHold": "temporary_hold",
    "eventBasedHold": "event_based_hold",
}

# The writable fields an object resource shows only when set (the others are always there).
_OPTIONAL_FIELDS = tuple(
    (key, attr) for key, attr in _WRITABLE.items() if key not in ("contentType", "storageClass")
)

# What objects.update (PUT) resets a writable field to when the body leaves it out.
_CLEARED_BY_UPDATE: dict[str, Any] = {
    "content_encoding": None,
    "content_disposition": None,
    "content_language": None,
    "cache_control": None,
    "metadata": {},
}


class Request:
    """The parts of a WSGI request the JSON API needs."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.method: str = environ["REQUEST_METHOD"]
        raw = (
            environ.get("RAW_URI")
            or environ.get("REQUEST_URI")
            or quote(environ.get("PATH_INFO", ""))
        )
        self.path = raw.split("?", 1)[0]
        self.query = _parse_query(environ.get("QUERY_STRING", ""))
        self.content_type: str = environ.get("CONTENT_TYPE", "")
        self.environ = environ
        self.signed = False  # a signed URL's request: answered as the XML API answers
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body: bytes = environ["wsgi.input"].read(length) if length else b""

    def header(self, name: str) -> str | None:
        value: str | None = self.environ.get("HTTP_" + name.upper().replace("-", "_"))
        return value

    def int_param(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise _errors.invalid_argument(f"Invalid value for {name}: {value}") from None

    def bool_param(self, name: str) -> bool:
        # The Python client sends booleans as "True"; the API documents "true".
        value: str = self.query.get(name, "")
        return value.lower() == "true"

    def preconditions(self) -> Preconditions:
        return Preconditions(
            if_generation_match=self.int_param("ifGenerationMatch"),
            if_generation_not_match=self.int_param("ifGenerationNotMatch"),
            if_metageneration_match=self.int_param("ifMetagenerationMatch"),
            if_metageneration_not_match=self.int_param("ifMetagenerationNotMatch"),
        )

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            loaded = json.loads(self.body)
        except ValueError:
            raise _errors.invalid_argument("Parse Error") from None
        if not isinstance(loaded, dict):
            raise _errors.invalid_argument("Parse Error")
        return loaded


class Response:
    """A status, headers and a body of one or more byte strings."""

    def __init__(
        self,
        status: int = 200,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, dict):
            self.body = json.dumps(body).encode()
            self.headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        else:
            self.body = body or b""
        self.headers["Content-Length"] = str(len(self.body))


class StorageApp:
    """WSGI callable serving the JSON API (and its upload/download endpoints)."""

    def __init__(self, backend: StorageBackend, base_url: str) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.faults = FaultPlan("storage")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        # Notifications are published when the request is done, after every lock it took.
        with self.backend.notifying():
            try:
                if self.faults.active:
                    self._inject(request)
                response = self.dispatch(request)
            except _errors.GCSError as error:
                response = _error_response(request, error)
        status = f"{response.status} {_STATUS_TEXT.get(response.status, 'Unknown')}"
        start_response(status, list(response.headers.items()))
        return [response.body]

    def _inject(self, request: Request) -> None:
        """Apply injected latency and faults; a fault answers as GCS would with its status."""
        try:
            self.faults.before(api_method(request))
        except GoogleAPICallError as error:
            status = int(error.code or 500)
            reason = _REASONS.get(status, "backendError")
            raise _errors.GCSError(status, str(error.message), reason) from None

    # -- routing -------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        parts = request.path.split("/")
        # ["", "storage", "v1", "b", bucket, "o", object...]
        if parts[1:3] == ["storage", "v1"] and len(parts) >= 4 and parts[3] == "b":
            return self._json_api(request, parts[4:])
        if (
            parts[1:4] == ["upload", "storage", "v1"]
            and parts[4:5] == ["b"]
            and parts[6:7] == ["o"]
        ):
            return self._upload(request, unquote(parts[5]))
        if parts[1:] == ["batch", "storage", "v1"] and request.method == "POST":
            return self.batch(request)
        if (
            parts[1:4] == ["download", "storage", "v1"]
            and parts[4:5] == ["b"]
            and parts[6:7] == ["o"]
        ):
            bucket = unquote(parts[5])
            self._bill(bucket, request.query.get("userProject"))
            return self._download(request, bucket, unquote("/".join(parts[7:])))
        if _signed_urls.is_signed(request.query):
            return self._signed_url(request, parts)
        if (
            request.method == "POST"
            and request.content_type.startswith("multipart/form-data")
            and parts[1:2] != [""]
            and parts[2:] in ([], [""])
        ):
            return self._post_object(request, unquote(parts[1]))
        if len(parts) >= 3 and _is_xml_multipart(request):
            bucket = unquote(parts[1])
            # The XML API names the billing project in a header (using-requester-pays).
            self._bill(bucket, request.header("X-Goog-User-Project"), xml=True)
            return self._xml_multipart(request, bucket, unquote("/".join(parts[2:])))
        raise _errors.not_implemented(request.method, request.path)

    # -- signed URLs (XML API object requests) -------------------------------------------------

    def _signed_url(self, request: Request, parts: list[str]) -> Response:
        """Serve a signed URL's request once it passes GCS's checks (``_signed_urls``).

        A signed URL names the object in the XML API's path style (``/bucket/object``);
        what it may do is what its signed method says: read (GET, HEAD), write (PUT, or
        POST with ``x-goog-resumable: start`` for a resumable session) or delete.
        """
        request.signed = True  # errors from here on are XML API answers
        environ = request.environ
        _signed_urls.check(
            request.method,
            request.path,
            environ.get("QUERY_STRING", ""),
            _header_map(environ),
            environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""),
            self.backend.clock.time(),
        )
        if len(parts) < 3 or not parts[2]:
            raise _errors.not_implemented(request.method, request.path)
        bucket, name = unquote(parts[1]), unquote("/".join(parts[2:]))
        self._bill(bucket, request.header("X-Goog-User-Project"), xml=True)
        if _is_xml_multipart(request):
            return self._xml_multipart(request, bucket, name)
        method = request.method
        if method in ("GET", "HEAD"):
            response = self._download(request, bucket, name)
            # Response overrides the signer asked for (xml-api/reference-headers#query).
            for param, header in _RESPONSE_OVERRIDES.items():
                value = request.query.get(param)
                if value:
                    response.headers[header] = value
            if method == "HEAD":
                response.body = b""  # Content-Length still tells the object's size
            return response
        if method == "PUT":
            fields = _fields_from_xml_headers(request)
            version = self.backend.insert_object(
                bucket,
                name,
                request.body,
                writer_thread=threading.current_thread().name,
                **fields,
            )
            return Response(
                200,
                b"",
                {
                    "ETag": _md5_etag(version),
                    "x-goog-generation": str(version.generation),
                    "x-goog-metageneration": str(version.metageneration),
                    "x-goog-hash": f"crc32c={version.crc32c},md5={version.md5_hash}",
                },
            )
        if method == "POST" and (request.header("X-Goog-Resumable") or "").lower() == "start":
            validate_object_name(name)
            session = self.backend.start_upload(
                bucket,
                name,
                fields=_fields_from_xml_headers(request),
                preconditions=Preconditions(),
                expected_md5=None,
                expected_crc32c=None,
                total=None,
                writer_thread=threading.current_thread().name,
            )
            # 201 Created with the session URI (signed-urls#resumable-upload); the data then
            # goes there with one PUT, or in chunks with Content-Range.
            return Response(201, b"", {"Location": self._session_uri(bucket, name, session.id)})
        if method == "DELETE":
            self.backend.delete_object(bucket, name, request.int_param("generation"))
            return Response(204)
        raise _errors.not_implemented(method, request.path)

    def _post_object(self, request: Request, bucket: str) -> Response:
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
        for name, extra in files.items(multi=True):
            if name != "file":  # only the file field carries data
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
        form = {name.lower(): value for name, value in form_data.items()}
        _signed_urls.check_post_policy(form, bucket, len(data), self.backend.clock.time())
        key = form.get("key", "").replace("${filename}", upload.filename or "")
        self._bill(bucket, request.header("X-Goog-User-Project"), xml=True)
        validate_object_name(key)
        fields = _object_fields(form)
        fields.setdefault("content_type", upload.mimetype or None)
        version = self.backend.insert_object(
            bucket, key, data, writer_thread=threading.current_thread().name, **fields
        )
        etag = _md5_etag(version)
        redirect = form.get("success_action_redirect")
        if redirect:
            query = urlencode({"bucket": bucket, "key": key, "etag": etag})
            separator = "&" if "?" in redirect else "?"
            return Response(303, b"", {"Location": f"{redirect}{separator}{query}"})
        status = form.get("success_action_status")
        if status == "201":
            body = (
                "<?xml version='1.0' encoding='UTF-8'?><PostResponse>"
                f"<Location>{escape(self.base_url)}/{escape(bucket)}/{escape(_quote_segment(key))}"
                f"</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                f"<ETag>{escape(etag)}</ETag></PostResponse>"
            )
            return Response(201, body.encode(), {"Content-Type": "application/xml", "ETag": etag})
        return Response(200 if status == "200" else 204, b"", {"ETag": etag})

    # -- XML API multipart uploads ---------------------------------------------------------

    def _xml_multipart(self, request: Request, bucket: str, name: str) -> Response:
        """The XML API's multipart upload, as transfer_manager.upload_chunks_concurrently uses it.

        Protocol: cloud.google.com/storage/docs/multipart-uploads (S3-compatible XML).
        """
        upload_id = request.query.get("uploadId")
        if upload_id is None and request.method == "POST":
            validate_object_name(name)
            upload = self.backend.start_multipart(
                bucket, name, _fields_from_xml_headers(request), threading.current_thread().name
            )
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult "
                f'xmlns="{_S3_NAMESPACE}"><Bucket>{escape(bucket)}</Bucket>'
                f"<Key>{escape(name)}</Key><UploadId>{upload.id}</UploadId>"
                f"</InitiateMultipartUploadResult>"
            )
            return Response(200, body.encode(), {"Content-Type": "application/xml"})
        if upload_id is None:
            raise _errors.not_implemented(request.method, request.path)
        if request.method == "PUT":
            upload = self.backend.get_multipart(upload_id)
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
        if request.method == "POST":
            root = ElementTree.fromstring(request.body or b"<CompleteMultipartUpload/>")
            numbers = [int(node.text or 0) for node in root.iter("PartNumber")]
            version = self.backend.complete_multipart(upload_id, numbers)
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult "
                f'xmlns="{_S3_NAMESPACE}"><Location>{self.base_url}/{escape(bucket)}/'
                f"{escape(quote(name))}</Location><Bucket>{escape(bucket)}</Bucket>"
                f'<Key>{escape(name)}</Key><ETag>"{_etag(version)}"</ETag>'
                f"</CompleteMultipartUploadResult>"
            )
            return Response(200, body.encode(), {"Content-Type": "application/xml"})
        if request.method == "DELETE":
            self.backend.abort_multipart(upload_id)
            return Response(204)
        raise _errors.not_implemented(request.method, request.path)

    def _bill(self, bucket_name: str, user_project: str | None, *, xml: bool = False) -> None:
        """Refuse a request on a requester-pays bucket that names no billing project.

        Every call on such a bucket or its objects needs one, the bucket's own metadata
        included (a GET of the bucket fails in google-cloud-python#4674 and
        python-storage#479; GET, PATCH and DELETE in a Crossplane report). Only creating a
        bucket and listing a project's buckets name no bucket to bill. GCS also lets a
        caller with resourcemanager.projects.createBillingAssignment on the bucket's project
        go without (requester-pays#requirements); the fake has no IAM, and treats every
        caller as one without it.
        """
        bucket = self.backend.buckets.get(bucket_name)
        if bucket is not None and bucket.requester_pays and not user_project:
            raise _errors.user_project_missing(xml=xml)

    def _json_api(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if rest and rest[0]:
            self._bill(unquote(rest[0]), request.query.get("userProject"))
        if not rest or rest == [""]:
            if method == "GET":
                return self.list_buckets(request)
            if method == "POST":
                return self.insert_bucket(request)
        elif len(rest) == 2 and rest[1] == "lockRetentionPolicy" and method == "POST":
            bucket_state = self.backend.get_bucket(unquote(rest[0]))
            self._check_bucket_preconditions(request, bucket_state)
            self.backend.lock_retention_policy(bucket_state)
            return Response(200, self.bucket_resource(bucket_state))
        elif len(rest) in (2, 3) and rest[1] == "notificationConfigs":
            return self._notification_configs(request, unquote(rest[0]), rest[2:])
        elif len(rest) == 1:
            bucket = unquote(rest[0])
            handler = {
                "GET": self.get_bucket,
                "DELETE": self.delete_bucket,
                "PATCH": self.patch_bucket,
                "PUT": self.patch_bucket,
            }.get(method)
            if handler is not None:
                return handler(request, bucket)
        elif rest[1] == "o":
            bucket = unquote(rest[0])
            if len(rest) == 2 or rest[2:] == [""]:
                if method == "GET":
                    return self.list_objects(request, bucket)
            elif method == "POST" and len(rest) == 8 and rest[3] in ("copyTo", "rewriteTo"):
                if rest[4] == "b" and rest[6] == "o":
                    self._bill(unquote(rest[5]), request.query.get("userProject"))
                    return self.rewrite_object(
                        request, bucket, unquote(rest[2]), unquote(rest[5]), unquote(rest[7])
                    )
            elif method == "POST" and len(rest) == 4 and rest[3] == "compose":
                return self.compose_object(request, bucket, unquote(rest[2]))
            else:
                name = unquote("/".join(rest[2:]))
                if method == "GET" and request.query.get("alt") == "media":
                    return self._download(request, bucket, name)
                object_handler = {
                    "GET": self.get_object,
                    "DELETE": self.delete_object,
                    "PATCH": self.patch_object,
                    "PUT": self.patch_object,
                }.get(method)
                if object_handler is not None:
                    return object_handler(request, bucket, name)
        raise _errors.not_implemented(request.method, request.path)

    # -- buckets -------------------------------------------------------------------------

    def insert_bucket(self, request: Request) -> Response:
        body = request.json()
        name = body.get("name")
        if not name:
            raise _errors.required()
        project = request.query.get("project")
        if not project:
            raise _errors.required_parameter("project")
        validate_bucket_name(name)
        fields: dict[str, Any] = {}
        if "location" in body:
            fields["location"] = str(body["location"]).upper()
        if "storageClass" in body:
            fields["storage_class"] = body["storageClass"]
        if request.bool_param("enableObjectRetention"):
            # Only at creation: the bucket resource's objectRetention is read-only, and the
            # feature cannot be turned off once on (object-lock).
            fields["object_retention"] = True
        bucket = self.backend.create_bucket(name, project, **fields)
        self.backend.configure_bucket(bucket, body)
        return Response(200, self.bucket_resource(bucket))

    def get_bucket(self, request: Request, name: str) -> Response:
        bucket = self.backend.get_bucket(name)
        self._check_bucket_preconditions(request, bucket)
        return Response(200, self.bucket_resource(bucket))

    def patch_bucket(self, request: Request, name: str) -> Response:
        bucket = self.backend.get_bucket(name)
        body = request.json()
        with bucket.lock:
            self._check_bucket_preconditions(request, bucket)
            self.backend.configure_bucket(bucket, body, replace_all=request.method == "PUT")
            bucket.metageneration += 1
            bucket.updated = self.backend.clock.now()
        return Response(200, self.bucket_resource(bucket))

    def delete_bucket(self, request: Request, name: str) -> Response:
        bucket = self.backend.get_bucket(name)
        self._check_bucket_preconditions(request, bucket)
        self.backend.delete_bucket(name)
        return Response(204)

    def list_buckets(self, request: Request) -> Response:
        project = request.query.get("project")
        if not project:
            raise _errors.required_parameter("project")
        buckets = self.backend.list_buckets(project, request.query.get("prefix", ""))
        found = [_listing.Entry((b.name.encode(), 0), prefix=b.name) for b in buckets]
        selected, token = _listing.page(
            found, request.query.get("pageToken", ""), request.int_param("maxResults")
        )
        by_name = {b.name: b for b in buckets}
        body: dict[str, Any] = {"kind": "storage#buckets"}
        if selected:
            body["items"] = [self.bucket_resource(by_name[str(e.prefix)]) for e in selected]
        if token:
            body["nextPageToken"] = token
        return Response(200, body)

    @staticmethod
    def _check_bucket_preconditions(request: Request, bucket: Bucket) -> None:
        match = request.int_param("ifMetagenerationMatch")
        not_match = request.int_param("ifMetagenerationNotMatch")
        if match is not None and bucket.metageneration != match:
            raise _errors.precondition_failed()
        if not_match is not None and bucket.metageneration == not_match:
            raise _errors.precondition_failed()

    def bucket_resource(self, bucket: Bucket) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "storage#bucket",
            "id": bucket.name,
            "selfLink": f"{self.base_url}/storage/v1/b/{quote(bucket.name, safe='')}",
            "projectNumber": str(project_number(bucket.project)),
            "name": bucket.name,
            "timeCreated": _rfc3339(bucket.time_created),
            "updated": _rfc3339(bucket.updated),
            "metageneration": str(bucket.metageneration),
            "location": bucket.location,
            "locationType": "multi-region",
            "storageClass": bucket.storage_class,
            "etag": "CAE=",
        }
        if bucket.labels:
            resource["labels"] = dict(bucket.labels)
        if bucket.versioning:
            resource["versioning"] = {"enabled": True}
        if bucket.object_retention:
            resource["objectRetention"] = {"mode": "Enabled"}
        resource.update(bucket.extra)
        return resource

    # -- notification configurations -------------------------------------------------------

    def _notification_configs(self, request: Request, bucket: str, rest: list[str]) -> Response:
        """notifications.insert / list (no id) and get / delete (an id)."""
        if not rest or rest == [""]:
            if request.method == "POST":
                fields = parse_config(request.json())
                config = self.backend.insert_notification(bucket, fields)
                return Response(200, self.notification_resource(bucket, config))
            if request.method == "GET":
                configs = self.backend.list_notifications(bucket)
                body: dict[str, Any] = {"kind": "storage#notifications"}
                if configs:  # an empty list has no "items" ([zig-measured])
                    body["items"] = [self.notification_resource(bucket, c) for c in configs]
                return Response(200, body)
        else:
            notification_id = unquote(rest[0])
            if request.method == "GET":
                config = self.backend.get_notification(bucket, notification_id)
                return Response(200, self.notification_resource(bucket, config))
            if request.method == "DELETE":
                self.backend.delete_notification(bucket, notification_id)
                return Response(204)
        raise _errors.not_implemented(request.method, request.path)

    def notification_resource(self, bucket: str, config: NotificationConfig) -> dict[str, Any]:
        """The JSON API's notification resource, fields in GCS's order ([zig-measured])."""
        resource: dict[str, Any] = {
            "kind": "storage#notification",
            "selfLink": (
                f"{self.base_url}/storage/v1/b/{quote(bucket, safe='')}"
                f"/notificationConfigs/{config.id}"
            ),
            "id": config.id,
            "topic": config.topic,
        }
        if config.event_types:
            resource["event_types"] = list(config.event_types)
        if config.custom_attributes:
            resource["custom_attributes"] = dict(config.custom_attributes)
        resource["etag"] = config.id
        if config.object_name_prefix is not None:
            resource["object_name_prefix"] = config.object_name_prefix
        resource["payload_format"] = config.payload_format
        return resource

    # -- objects -------------------------------------------------------------------------

    def get_object(self, request: Request, bucket: str, name: str) -> Response:
        version = self.backend.get_object(bucket, name, request.int_param("generation"))
        request.preconditions().check(version, read=True)
        return Response(200, self.object_resource(version))

    def delete_object(self, request: Request, bucket: str, name: str) -> Response:
        self.backend.delete_object(
            bucket, name, request.int_param("generation"), request.preconditions()
        )
        return Response(204)

    def patch_object(self, request: Request, bucket: str, name: str) -> Response:
        body = request.json()
        replace_all = request.method == "PUT"
        changes: dict[str, Any] = {}
        for key, attr in _WRITABLE.items():
            if key in body:
                changes[attr] = body[key]
            elif replace_all and attr in _CLEARED_BY_UPDATE:
                # objects.update replaces the writable metadata: what is left out is cleared.
                changes[attr] = _CLEARED_BY_UPDATE[attr]
        # An update (PUT) without "retention" keeps the retention: removing one takes an
        # explicit null (and the override), never an omission (assumed).
        _retention_field(body, changes)
        version = self.backend.patch_object(
            bucket,
            name,
            changes,
            generation=request.int_param("generation"),
            preconditions=request.preconditions(),
            merge_metadata=not replace_all,
            override_unlocked_retention=request.bool_param("overrideUnlockedRetention"),
        )
        return Response(200, self.object_resource(version))

    def list_objects(self, request: Request, bucket: str) -> Response:
        query = request.query
        options = _listing.ListOptions(
            prefix=query.get("prefix", ""),
            delimiter=query.get("delimiter", ""),
            include_trailing_delimiter=request.bool_param("includeTrailingDelimiter"),
            start_offset=query.get("startOffset", ""),
            end_offset=query.get("endOffset", ""),
            match_glob=query.get("matchGlob", ""),
        )
        versions = self.backend.list_objects(bucket, versions=request.bool_param("versions"))
        found = _listing.entries(versions, options)
        selected, token = _listing.page(
            found, query.get("pageToken", ""), request.int_param("maxResults")
        )
        body: dict[str, Any] = {"kind": "storage#objects"}
        if token:
            body["nextPageToken"] = token
        prefixes = [e.prefix for e in selected if e.prefix is not None]
        if prefixes:
            body["prefixes"] = prefixes
        items = [self.object_resource(e.version) for e in selected if e.version is not None]
        if items:
            body["items"] = items
        return Response(200, body)

    def rewrite_object(
        self, request: Request, source_bucket: str, source: str, bucket: str, name: str
    ) -> Response:
        """objects.copy and objects.rewrite: the same copy, rewrite possibly in steps."""
        validate_object_name(name)
        body = request.json()
        fields = {attr: body[key] for key, attr in _WRITABLE.items() if key in body}
        _retention_field(body, fields)
        rewrite = "/rewriteTo/" in request.path
        max_bytes = request.int_param("maxBytesRewrittenPerCall") if rewrite else None
        if max_bytes is not None and (max_bytes <= 0 or max_bytes % _MIB):
            # Documented: "must be an integral multiple of 1 MiB (1048576)" (objects/rewrite);
            # the answer's wording is a guess.
            raise _errors.invalid_argument(
                "maxBytesRewrittenPerCall must be an integral multiple of 1048576."
            )
        q = request
        job, version = self.backend.rewrite_object(
            source_bucket,
            source,
            bucket,
            name,
            fields=fields,
            source_generation=q.int_param("sourceGeneration"),
            source_preconditions=Preconditions(
                if_generation_match=q.int_param("ifSourceGenerationMatch"),
                if_generation_not_match=q.int_param("ifSourceGenerationNotMatch"),
                if_metageneration_match=q.int_param("ifSourceMetagenerationMatch"),
                if_metageneration_not_match=q.int_param("ifSourceMetagenerationNotMatch"),
            ),
            preconditions=q.preconditions(),
            token=q.query.get("rewriteToken") or None,
            max_bytes=max_bytes,
            writer_thread=threading.current_thread().name,
        )
        if not rewrite:
            assert version is not None  # copy never stops half-way
            return Response(200, self.object_resource(version))
        answer: dict[str, Any] = {"kind": "storage#rewriteResponse"}
        if job is not None:
            answer.update(
                totalBytesRewritten=str(job.done),
                objectSize=str(job.source.size),
                done=False,
                rewriteToken=job.token,
            )
        else:
            assert version is not None
            answer.update(
                totalBytesRewritten=str(version.size),
                objectSize=str(version.size),
                done=True,
                resource=self.object_resource(version),
            )
        return Response(200, answer)

    def compose_object(self, request: Request, bucket: str, name: str) -> Response:
        validate_object_name(name)
        body = request.json()
        destination = body.get("destination") or {}
        fields = {attr: destination[k] for k, attr in _WRITABLE.items() if k in destination}
        _retention_field(destination, fields)
        sources = []
        for item in body.get("sourceObjects") or []:
            match = (item.get("objectPreconditions") or {}).get("ifGenerationMatch")
            generation = item.get("generation")
            sources.append(
                (
                    str(item.get("name") or ""),
                    int(generation) if generation is not None else None,
                    int(match) if match is not None else None,
                )
            )
        version = self.backend.compose_objects(
            bucket,
            name,
            sources,
            fields=fields,
            preconditions=request.preconditions(),
            writer_thread=threading.current_thread().name,
        )
        return Response(200, self.object_resource(version))

    def batch(self, request: Request) -> Response:
        """A multipart/mixed batch: every part is one JSON API request, answered in order."""
        parts = _batch.parse_batch(request.content_type, request.body)
        if len(parts) > _batch.MAX_BATCH:
            raise _errors.invalid_argument(
                f"A batch request may contain at most {_batch.MAX_BATCH} calls."
            )
        answers = []
        for part in parts:
            sub = Request(_batch.environ_for(part, request.environ))
            try:
                answer = self.dispatch(sub)
            except _errors.GCSError as error:
                answer = _error_response(sub, error)
            answers.append((part.content_id, answer.status, answer.headers, answer.body))
        content_type, payload = _batch.render_batch(answers, _STATUS_TEXT)
        return Response(200, payload, {"Content-Type": content_type})

    def object_resource(self, version: ObjectVersion) -> dict[str, Any]:
        quoted = _quote_segment(version.name)
        bucket = _quote_segment(version.bucket)
        resource: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{version.bucket}/{version.name}/{version.generation}",
            "selfLink": f"{self.base_url}/storage/v1/b/{bucket}/o/{quoted}",
            "mediaLink": (
                f"{self.base_url}/download/storage/v1/b/{bucket}/o/{quoted}"
                f"?generation={version.generation}&alt=media"
            ),
            "name": version.name,
            "bucket": version.bucket,
            "generation": str(version.generation),
            "metageneration": str(version.metageneration),
            "contentType": version.content_type,
            "storageClass": version.storage_class,
            "size": str(version.size),
            "crc32c": version.crc32c,
            "etag": _etag(version),
            "timeCreated": _rfc3339(version.time_created),
            "updated": _rfc3339(version.updated),
            "timeStorageClassUpdated": _rfc3339(version.time_created),
        }
        for key, attr in _OPTIONAL_FIELDS:
            value = getattr(version, attr)
            if value:
                resource[key] = dict(value) if isinstance(value, dict) else value
        if version.md5_hash:
            resource["md5Hash"] = version.md5_hash
        if version.component_count:
            resource["componentCount"] = version.component_count
        if version.time_deleted is not None:
            resource["timeDeleted"] = _rfc3339(version.time_deleted)
        retention = version.retention
        if retention is not None:
            resource["retention"] = {
                "mode": retention.mode,
                "retainUntilTime": _rfc3339_micros(retention.retain_until),
            }
        owner = self.backend.buckets.get(version.bucket)
        until = owner.retained_until(version) if owner is not None else None
        if until is not None:
            resource["retentionExpirationTime"] = _rfc3339(until)
        return resource

    # -- media ---------------------------------------------------------------------------

    def _upload(self, request: Request, bucket: str) -> Response:
        upload_type = request.query.get("uploadType", "")
        upload_id = request.query.get("upload_id")
        if upload_id is not None:
            if request.method == "PUT":
                return self._upload_chunk(request, upload_id)
            if request.method == "DELETE":
                self.backend.cancel_upload(upload_id)
                # Cancelling answers 499 (cloud.google.com/storage/docs/performing-resumable-
                # uploads#cancel-upload).
                return Response(499)
            raise _errors.not_implemented(request.method, request.path)
        if request.method != "POST":
            raise _errors.not_implemented(request.method, request.path)
        # A resumable session is billed when it starts; its chunks go to the session URI.
        self._bill(bucket, request.query.get("userProject"))
        if upload_type == "multipart":
            metadata, data = _parse_multipart(request)
        elif upload_type == "media":
            metadata, data = {"name": request.query.get("name")}, request.body
            if request.content_type:
                metadata["contentType"] = request.content_type
        elif upload_type == "resumable":
            return self._start_resumable(request, bucket)
        else:
            raise _errors.not_implemented(
                request.method, f"{request.path}?uploadType={upload_type}"
            )
        name, fields = self._upload_fields(request, metadata)
        version = self.backend.insert_object(
            bucket,
            name,
            data,
            preconditions=request.preconditions(),
            expected_md5=metadata.get("md5Hash"),
            expected_crc32c=metadata.get("crc32c"),
            writer_thread=threading.current_thread().name,
            **fields,
        )
        return Response(200, self.object_resource(version))

    @staticmethod
    def _upload_fields(request: Request, metadata: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Return the object name and the writable fields of an upload's metadata."""
        name = metadata.get("name") or request.query.get("name")
        if not name:
            raise _errors.required()
        validate_object_name(name)
        fields = {attr: metadata[key] for key, attr in _WRITABLE.items() if key in metadata}
        if "metadata" in fields:
            fields["metadata"] = {k: str(v) for k, v in (fields["metadata"] or {}).items()}
        _retention_field(metadata, fields)
        return name, fields

    def _start_resumable(self, request: Request, bucket: str) -> Response:
        metadata = request.json()
        content_type = request.header("X-Upload-Content-Type")
        if content_type and "contentType" not in metadata:
            metadata["contentType"] = content_type
        name, fields = self._upload_fields(request, metadata)
        length = request.header("X-Upload-Content-Length")
        session = self.backend.start_upload(
            bucket,
            name,
            fields=fields,
            preconditions=request.preconditions(),
            expected_md5=metadata.get("md5Hash"),
            expected_crc32c=metadata.get("crc32c"),
            total=int(length) if length and length.isdigit() else None,
            writer_thread=threading.current_thread().name,
        )
        return Response(200, b"", {"Location": self._session_uri(bucket, name, session.id)})

    def _session_uri(self, bucket: str, name: str, upload_id: str) -> str:
        """A resumable session's URI: clients PUT every chunk to it verbatim, so it must
        point at the fake."""
        return (
            f"{self.base_url}/upload/storage/v1/b/{_quote_segment(bucket)}/o"
            f"?uploadType=resumable&name={_quote_segment(name)}&upload_id={upload_id}"
        )

    def _upload_chunk(self, request: Request, upload_id: str) -> Response:
        session = self.backend.get_upload(upload_id)
        content_range = request.header("Content-Range")
        if content_range is None:
            # No Content-Range: the body is the whole upload, sent in one request
            # (performing-resumable-uploads#single-chunk-upload).
            size = len(request.body)
            content_range = f"bytes 0-{size - 1}/{size}" if size else "bytes */0"
        match = _CONTENT_RANGE.match(content_range.strip())
        if match is None:
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
            version = self.backend.append_upload(
                session, start, request.body, total, client_md5=md5, client_crc32c=crc32c
            )
        if version is not None:
            return Response(200, self.object_resource(version))
        headers = {}
        persisted = len(session.buffer)
        if persisted:
            # No Range header at all means nothing is persisted yet ("performing resumable
            # uploads#status-check"; java-storage#2182).
            headers["Range"] = f"bytes=0-{persisted - 1}"
        return Response(308, b"", headers)

    def _download(self, request: Request, bucket: str, name: str) -> Response:
        version = self.backend.get_object(bucket, name, request.int_param("generation"))
        request.preconditions().check(version, read=True)
        headers = {
            "Content-Type": version.content_type,
            "ETag": _etag(version),
            "x-goog-generation": str(version.generation),
            "x-goog-metageneration": str(version.metageneration),
            "x-goog-hash": f"crc32c={version.crc32c}"
            + (f",md5={version.md5_hash}" if version.md5_hash else ""),
            "x-goog-stored-content-length": str(version.size),
            "x-goog-stored-content-encoding": version.content_encoding or "identity",
            "Accept-Ranges": "bytes",
        }
        if version.content_encoding:
            if version.content_encoding == "gzip" and _transcodes(request, version):
                transcoded = _gunzip(version.data)
                if transcoded is not None:
                    return _transcoded_response(transcoded, headers)
            headers["Content-Encoding"] = version.content_encoding
        range_header = request.header("Range")
        if not range_header:
            return Response(200, version.data, headers)
        start, end = _parse_range(range_header, version.size)
        headers["Content-Range"] = f"bytes {start}-{end}/{version.size}"
        # Slicing copies only the range asked for, never the whole object.
        return Response(206, version.data[start : end + 1], headers)


# -- helpers -------------------------------------------------------------------------------

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


def _error_response(request: Request, error: _errors.GCSError) -> Response:
    """Answer an error the way GCS does on the endpoint the request used."""
    if error.status == 304:
        return Response(304)  # a 304 carries no body on the wire
    xml_error: _errors.XmlError | None = None
    if isinstance(error, _errors.XmlError):
        xml_error = error
    elif request.signed:
        xml_error = _xml_api_error(error)
    elif _is_xml_multipart(request):
        xml_error = _errors.XmlError(error.status, error.reason, error.message)
    if xml_error is not None:
        return Response(xml_error.status, xml_error.to_xml(), {"Content-Type": "application/xml"})
    if request.path.startswith("/download/") or request.query.get("alt") == "media":
        # Media downloads answer errors as plain text, not JSON: "No such object: b/o" with
        # content-type text/html (curl against GCS in firebase-tools#3647). The client puts
        # this text verbatim into the exception message (blob._raise_from_invalid_response).
        body = error.message.encode()
        return Response(error.status, body, {"Content-Type": "text/html; charset=UTF-8"})
    # Uploads (/upload/...) and the JSON API answer the JSON error body (an upload's 412
    # carries reason conditionNotMet, location If-Match: google-cloud-cpp#11530).
    return Response(error.status, error.to_json())


def _xml_api_error(error: _errors.GCSError) -> _errors.XmlError:
    """The XML API's code and wording for an error the JSON API words its own way."""
    # XML API codes and messages (cloud.google.com/storage/docs/xml-api/reference-status).
    if error.status == 404:
        if error.message.startswith("No such object"):
            return _errors.XmlError(404, "NoSuchKey", "The specified key does not exist.")
        return _errors.XmlError(404, "NoSuchBucket", "The specified bucket does not exist.")
    if error.status == 412:
        return _errors.XmlError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    return _errors.XmlError(error.status, error.reason, error.message)


def _header_map(environ: dict[str, Any]) -> dict[str, str]:
    """A WSGI request's headers by lower-case name, as signatures name them."""
    headers = {
        key[5:].lower().replace("_", "-"): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = str(environ[key])
    return headers


def _parse_query(query: str) -> dict[str, str]:
    """Parse a query string as ``parse_qs`` would (blank values dropped), last value wins.

    Written out because ``parse_qs`` costs more than the rest of routing a request, and the
    client's queries are short: most fields need no unquoting at all.
    """
    parsed: dict[str, str] = {}
    if not query:
        return parsed
    for field in query.split("&"):
        key, _, value = field.partition("=")
        if not value:
            continue
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        parsed[key] = unquote_plus(value) if "%" in value or "+" in value else value
    return parsed


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
    metadata = json.loads(meta_json or b"{}")
    if "contentType" not in metadata:
        for line in header_block.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-type":
                metadata["contentType"] = value.strip().decode()
    return metadata, data


def _is_xml_multipart(request: Request) -> bool:
    """Tell whether a request belongs to an XML API multipart upload."""
    if request.path.startswith(("/storage/", "/upload/", "/download/", "/batch/")):
        return False
    fields = request.environ.get("QUERY_STRING", "").split("&")
    return "uploads" in fields or "uploadId" in request.query


def _fields_from_xml_headers(request: Request) -> dict[str, Any]:
    """Object metadata from XML API headers (transfer_manager's METADATA_HEADER_TRANSLATION)."""
    return _object_fields(_header_map(request.environ))


def _object_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """Object metadata from XML API headers or POST form fields, by lower-case name."""
    fields: dict[str, Any] = {}
    if values.get("content-type"):
        fields["content_type"] = values["content-type"]
    for header, attr in _XML_HEADERS.items():
        value = values.get(header.lower())
        if value is not None:
            fields[attr] = value
    custom = {
        name.removeprefix("x-goog-meta-"): str(value)
        for name, value in values.items()
        if name.startswith("x-goog-meta-")
    }
    if custom:
        fields["metadata"] = custom
    return fields


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


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """Resolve a ``Range: bytes=a-b`` header against an object of ``size`` bytes."""
    match = _RANGE.match(header.strip())
    if match is None:
        raise _errors.range_not_satisfiable()
    first, last = match.groups()
    if first == "" and last == "":
        raise _errors.range_not_satisfiable()
    if first == "":
        length = int(last)
        start, end = max(size - length, 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        if size == 0 and start == 0:
            return 0, -1
        raise _errors.range_not_satisfiable()
    return start, end


@functools.lru_cache(maxsize=1024)  # an object's timestamps repeat in every resource built
def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _rfc3339_micros(moment: datetime) -> str:
    # Guess: GCS's precision for retainUntilTime is not on record; microseconds keep what
    # the Python client sent (it formats retain_until_time with them) exact.
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_RETENTION_MODES = ("Unlocked", "Locked")
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE
)


def _retention_field(body: dict[str, Any], fields: dict[str, Any]) -> None:
    """Put a resource's ``retention`` into ``fields``: a ``Retention``, or ``None`` to remove.

    ``null`` and ``{"mode": null, "retainUntilTime": null}`` (what the Python client sends
    after clearing both) remove it; ``{}`` changes nothing ([zig-fake]).
    """
    if "retention" not in body:
        return
    value = body["retention"]
    if value is None:
        fields["retention"] = None
        return
    if not isinstance(value, dict):
        raise _errors.invalid_argument("Invalid value for: retention")
    mode, until = value.get("mode"), value.get("retainUntilTime")
    if mode is None and until is None:
        if "mode" in value or "retainUntilTime" in value:
            fields["retention"] = None
        return
    if mode is None:
        raise _errors.retention_field_missing("mode")
    if until is None:
        raise _errors.retention_field_missing("retain until time")
    if mode not in _RETENTION_MODES:
        raise _errors.invalid_retention_mode(mode)
    fields["retention"] = Retention(str(mode), _parse_rfc3339(until))


def _parse_rfc3339(text: object) -> datetime:
    """An RFC 3339 time with a zone, as an aware UTC datetime (nanoseconds cut to micros)."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise _errors.invalid_retain_until_time()
    whole, fraction, zone = match.groups()
    zone = "+00:00" if zone.upper() == "Z" else zone
    try:
        moment = datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}{zone}")
    except ValueError:
        raise _errors.invalid_retain_until_time() from None
    return moment.astimezone(timezone.utc)


@functools.lru_cache(maxsize=4096)  # bucket names repeat in every resource built
def _quote_segment(segment: str) -> str:
    """Percent-encode one path segment (``/`` included), as GCS's links spell names."""
    return quote(segment, safe="")


def _md5_etag(version: ObjectVersion) -> str:
    """The XML API's ETag for an object it wrote: the MD5 in quoted hex."""
    return f'"{base64.b64decode(version.md5_hash).hex()}"'


def _etag(version: ObjectVersion) -> str:
    return f"gcpfakes-{version.generation}-{version.metageneration}"


_REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}

_BUCKET_METHODS = {"GET": "get", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}


def api_method(request: Request) -> str:
    """The JSON API's id for a request (``storage.objects.insert``…), for faults and latency."""
    parts = request.path.split("/")
    method = request.method
    if parts[1:2] == ["upload"]:
        return "storage.objects.insert"
    if parts[1:2] == ["download"]:
        return "storage.objects.get"
    if parts[1:2] == ["batch"]:
        return "storage.batch"
    if parts[1:4] != ["storage", "v1", "b"]:
        return "storage.objects.insert" if method in ("POST", "PUT") else "storage.objects.get"
    rest = parts[4:]
    if not rest or rest == [""]:
        return "storage.buckets.list" if method == "GET" else "storage.buckets.insert"
    if len(rest) == 1:
        return f"storage.buckets.{_BUCKET_METHODS.get(method, 'get')}"
    if rest[1] == "lockRetentionPolicy":
        return "storage.buckets.lockRetentionPolicy"
    if rest[1] == "notificationConfigs":
        verb = {"GET": "get" if len(rest) > 2 else "list", "POST": "insert", "DELETE": "delete"}
        return f"storage.notifications.{verb.get(method, 'get')}"
    if rest[1] == "o":
        if len(rest) == 2 or rest[2:] == [""]:
            return "storage.objects.list"
        if len(rest) >= 4 and rest[3] in ("copyTo", "rewriteTo"):
            return "storage.objects.copy" if rest[3] == "copyTo" else "storage.objects.rewrite"
        if len(rest) == 4 and rest[3] == "compose":
            return "storage.objects.compose"
        return f"storage.objects.{_BUCKET_METHODS.get(method, 'get')}"
    return f"storage.buckets.{_BUCKET_METHODS.get(method, 'get')}"
