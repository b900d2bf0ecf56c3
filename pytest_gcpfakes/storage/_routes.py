"""Every request the Storage app serves, as data: method, path shape, API method id, handler.

Written once and read by every face (like moto's ``urls.py``): the app dispatches by it,
fault injection and latency (``fake_storage.fail(method, ...)``) name a route's
``api_method``, and a batch's parts go through it too, so the names can never drift
from the routing.

Path shapes are matched against the raw, still-percent-encoded path: ``{name}`` is one
segment, ``{name...}`` the rest of the path (object names may hold ``/``; the client sends
it as ``%2F``, other clients may not); both are percent-decoded before the handler gets
them. A shape matches with or without a trailing ``/``. Routes are tried in table order;
the first whose method, path and conditions all hold serves the request.

Every XML API route comes twice, once for each way of naming the bucket: path-style
(``/bucket/object``), and addressed by host (``/object``, the bucket named by a
virtual-hosted-style host or a bucket-bound hostname, see :mod:`._addressing`), whose
handler gets that bucket as its ``bucket`` parameter all the same.

API method ids are the JSON API's (cloud.google.com/storage/docs/json_api/v1). Requests
outside the JSON API take the id of what they do: uploads of any kind (media, resumable
sessions and their chunks, XML multipart, signed PUTs, POST forms)
``storage.objects.insert``, downloads ``storage.objects.get``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, unquote_to_bytes

from pytest_gcpfakes.storage import (
    _acl_api,
    _batch,
    _errors,
    _folders,
    _iam,
    _json_api,
    _media,
    _move,
    _signed_urls,
    _soft_delete_api,
    _xml_api,
    _xml_listing,
)
from pytest_gcpfakes.storage._wire import Request, Response

Handler = Callable[..., Response]
"""``handler(app, request, **path_params) -> Response``."""

Face = Literal["json", "media", "batch", "xml"]

_PARAM = re.compile(r"\{(\w+)(\.\.\.)?\}")


@dataclass(frozen=True)
class Route:
    """One kind of request: where it goes, what it is called, who serves it."""

    methods: tuple[str, ...]
    path: str
    api_method: str
    handler: Handler
    face: Face
    #: Query parameters it needs: ``True`` present (with a value or bare), ``False``
    #: absent, a string: that value.
    query: Mapping[str, str | bool] = field(default_factory=dict)
    #: Request headers it needs (lower-case value).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The start of the Content-Type it needs.
    content_type: str | None = None
    #: ``True``: only for a signed URL's request (its signature is checked before).
    signed: bool = False
    #: Path parameters naming buckets that bill a requester-pays project.
    billed: tuple[str, ...] = ()
    #: XML API routes: how the request names its bucket, by its ``"path"``'s first segment
    #: or by its ``"host"`` (``Request.host_bucket``). ``None``: the path says it all on
    #: any host (JSON API, uploads, downloads, batch).
    addressed_by: Literal["path", "host"] | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.path)  # literal, name, "..." or None, literal, ...
        shape = re.escape(parts[0])
        for index in range(1, len(parts), 3):
            name, rest, literal = parts[index : index + 3]
            shape += f"(?P<{name}>{'.+' if rest else '[^/]+'})" + re.escape(literal)
        object.__setattr__(self, "pattern", re.compile(shape + "/?"))

    @property
    def prefix(self) -> str | None:
        """The path's first segment when it is literal (``storage``), else ``None``."""
        first = self.path.split("/")[1]
        return None if "{" in first else first

    def match(self, request: Request) -> dict[str, str] | None:
        """The decoded path parameters if this route serves ``request``, else ``None``."""
        if request.method not in self.methods:
            return None
        if self.addressed_by is not None:
            by_host = request.host_bucket is not None
            if by_host != (self.addressed_by == "host"):
                return None
        found = self.pattern.fullmatch(request.path)
        if found is None:
            return None
        for name, wanted in self.query.items():
            if wanted is True or wanted is False:
                if request.has(name) is not wanted:
                    return None
            elif request.query.get(name) != wanted:
                return None
        for name, wanted in self.headers.items():
            if (request.header(name) or "").lower() != wanted:
                return None
        if self.content_type is not None and not request.content_type.startswith(self.content_type):
            return None
        if self.signed and not _signed_urls.is_signed(request.query):
            return None
        params = {key: decode_segment(key, value) for key, value in found.groupdict().items()}
        if self.addressed_by == "host":
            params["bucket"] = str(request.host_bucket)
        return params


def decode_segment(param: str, segment: str) -> str:
    """Percent-decode a path parameter as UTF-8, refusing bytes that are not UTF-8.

    GCS names are UTF-8 text: ``%FF``, or a raw byte over 0x7F that is not part of a
    character, is refused rather than read as U+FFFD. A server hands raw bytes of the
    path over as latin-1 text (PEP 3333), so they are encoded back before decoding.
    """
    if segment.isascii() and "%" not in segment:
        return segment
    return _decoded(param, segment)


@functools.lru_cache(maxsize=4096)
def _decoded(param: str, segment: str) -> str:
    """:func:`decode_segment` of a segment with escapes: a name with a ``/`` is read on
    every request about its object (an upload and its downloads), and decoding it took most
    of routing a download (1.1 µs of 2.1)."""
    try:
        raw = segment.encode("latin-1")
    except UnicodeEncodeError:  # text already decoded by whatever built the environ
        raw = segment.encode("utf-8", "surrogateescape")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        if param in ("bucket", "destination_bucket"):
            raise _errors.invalid_bucket_name(unquote(segment)) from None
        raise _errors.object_name_disallowed_characters() from None


def _json(method: str, path: str, api_method: str, handler: Handler, **options: Any) -> Route:
    """A JSON API route under ``/storage/v1/b``; its bucket bills a requester-pays project."""
    options.setdefault("billed", ("bucket",) if "{bucket}" in path else ())
    return Route((method,), "/storage/v1/b" + path, api_method, handler, "json", **options)


def _media_route(method: str, path: str, handler: Handler, **options: Any) -> Route:
    """An upload or download route; uploads are objects.insert, downloads objects.get."""
    api_method = "storage.objects.get" if method == "GET" else "storage.objects.insert"
    methods = ("GET", "HEAD") if method == "GET" else (method,)
    return Route(methods, path, api_method, handler, "media", **options)


def _xml(
    method: str, path: str, api_method: str, handler: Handler, **options: Any
) -> tuple[Route, Route]:
    """An XML API route path-style (``/bucket/object``) and addressed by host (``/object``
    on ``bucket.storage.googleapis.com`` or a bucket-bound hostname); billed through
    ``x-goog-user-project``."""
    options.setdefault("billed", ("bucket",))
    methods = ("GET", "HEAD") if method == "GET" else (method,)
    if not path.startswith(_BUCKET):
        raise ValueError(f"an XML API path starts with its bucket: {path!r}")
    by_host = path.removeprefix(_BUCKET) or "/"
    return (
        Route(methods, path, api_method, handler, "xml", addressed_by="path", **options),
        Route(methods, by_host, api_method, handler, "xml", addressed_by="host", **options),
    )


_BUCKET = "/{bucket}"
_NOTIFICATIONS = "/{bucket}/notificationConfigs"
_NOTIFICATION = "/{bucket}/notificationConfigs/{notification}"
_OBJECTS = "/{bucket}/o"
_OBJECT = "/{bucket}/o/{name...}"
_COPY = "/{bucket}/o/{source}/copyTo/b/{destination_bucket}/o/{destination}"
_REWRITE = "/{bucket}/o/{source}/rewriteTo/b/{destination_bucket}/o/{destination}"
_BOTH = ("bucket", "destination_bucket")
_UPLOAD = "/upload/storage/v1/b/{bucket}/o"
_DOWNLOAD = "/download/storage/v1/b/{bucket}/o/{name...}"
_SESSION = {"upload_id": True}  # a resumable session's URI
_NO_ID = {"uploadId": False}
_XML_OBJECT = "/{bucket}/{name...}"
_MULTIPART = {"uploadId": True}
_BILLED = {"billed": ("bucket",)}

J, M, X, A, P, V = _json_api, _media, _xml_api, _acl_api, _iam, _move
S, F, XL = _soft_delete_api, _folders, _xml_listing
_MANAGED = "/{bucket}/managedFolders"
_FOLDERS = {"includeFoldersAsPrefixes": True}
_SOFT = {"softDeleted": True}  # the soft-deleted forms of list and get
_RESTORE = "/{bucket}/o/{name...}/restore"
_MOVE = "/{bucket}/o/{source}/moveTo/o/{destination}"
_BUCKET_ACL = "/{bucket}/acl"
_BUCKET_ACL_ENTRY = "/{bucket}/acl/{entity}"
_DEFAULT_ACL = "/{bucket}/defaultObjectAcl"
_DEFAULT_ACL_ENTRY = "/{bucket}/defaultObjectAcl/{entity}"
_OBJECT_ACL = "/{bucket}/o/{name...}/acl"
_OBJECT_ACL_ENTRY = "/{bucket}/o/{name...}/acl/{entity}"
_BUCKET_ACLS, _DEFAULT_ACLS, _OBJECT_ACLS = (
    "storage.bucketAccessControls.",
    "storage.defaultObjectAccessControls.",
    "storage.objectAccessControls.",
)
INSERT, GET = "storage.objects.insert", "storage.objects.get"

ROUTES: tuple[Route, ...] = (
    # JSON API: buckets.
    _json("GET", "", "storage.buckets.list", A.projected(S.list_buckets), query=_SOFT),
    _json("GET", "", "storage.buckets.list", A.projected(J.list_buckets)),
    _json(
        "POST",
        "",
        "storage.buckets.insert",
        A.projected(A.bucket_acl(S.checked_policy(J.insert_bucket)), full=A.names_acls),
    ),
    _json("GET", _BUCKET, "storage.buckets.get", A.projected(S.get_bucket), query=_SOFT),
    _json("GET", _BUCKET, "storage.buckets.get", A.projected(J.get_bucket)),
    _json(
        "PATCH",
        _BUCKET,
        "storage.buckets.patch",
        A.projected(A.bucket_acl(S.checked_policy(J.patch_bucket)), full=True),
    ),
    _json(
        "PUT",
        _BUCKET,
        "storage.buckets.update",
        A.projected(A.bucket_acl(S.checked_policy(J.patch_bucket)), full=True),
    ),
    _json("DELETE", _BUCKET, "storage.buckets.delete", J.delete_bucket),
    _json("POST", "/{bucket}/restore", "storage.buckets.restore", A.projected(S.restore_bucket)),
    _json("GET", "/{bucket}/iam", "storage.buckets.getIamPolicy", P.get_policy),
    _json("PUT", "/{bucket}/iam", "storage.buckets.setIamPolicy", P.set_policy),
    _json(
        "GET",
        "/{bucket}/iam/testPermissions",
        "storage.buckets.testIamPermissions",
        P.test_permissions,
    ),
    _json(
        "POST",
        "/{bucket}/lockRetentionPolicy",
        "storage.buckets.lockRetentionPolicy",
        J.lock_retention_policy,
    ),
    # JSON API: managed folders.
    _json("POST", _MANAGED, "storage.managedFolders.insert", F.insert_folder),
    _json("GET", _MANAGED, "storage.managedFolders.list", F.list_folders),
    _json("GET", _MANAGED + "/{folder...}", "storage.managedFolders.get", F.get_folder),
    _json("DELETE", _MANAGED + "/{folder...}", "storage.managedFolders.delete", F.delete_folder),
    # JSON API: notification configurations.
    _json("POST", _NOTIFICATIONS, "storage.notifications.insert", J.insert_notification),
    _json("GET", _NOTIFICATIONS, "storage.notifications.list", J.list_notifications),
    _json("GET", _NOTIFICATION, "storage.notifications.get", J.get_notification),
    _json("DELETE", _NOTIFICATION, "storage.notifications.delete", J.delete_notification),
    # JSON API: access control lists of buckets (an object's come after copy and move,
    # whose destination may be named "acl", and before the object catch-alls).
    _json("GET", _BUCKET_ACL, _BUCKET_ACLS + "list", A.list_bucket_acl),
    _json("POST", _BUCKET_ACL, _BUCKET_ACLS + "insert", A.insert_bucket_acl),
    _json("GET", _BUCKET_ACL_ENTRY, _BUCKET_ACLS + "get", A.get_bucket_acl),
    _json("PATCH", _BUCKET_ACL_ENTRY, _BUCKET_ACLS + "patch", A.change_bucket_acl),
    _json("PUT", _BUCKET_ACL_ENTRY, _BUCKET_ACLS + "update", A.change_bucket_acl),
    _json("DELETE", _BUCKET_ACL_ENTRY, _BUCKET_ACLS + "delete", A.delete_bucket_acl),
    _json("GET", _DEFAULT_ACL, _DEFAULT_ACLS + "list", A.list_default_acl),
    _json("POST", _DEFAULT_ACL, _DEFAULT_ACLS + "insert", A.insert_default_acl),
    _json("GET", _DEFAULT_ACL_ENTRY, _DEFAULT_ACLS + "get", A.get_default_acl),
    _json("PATCH", _DEFAULT_ACL_ENTRY, _DEFAULT_ACLS + "patch", A.change_default_acl),
    _json("PUT", _DEFAULT_ACL_ENTRY, _DEFAULT_ACLS + "update", A.change_default_acl),
    _json("DELETE", _DEFAULT_ACL_ENTRY, _DEFAULT_ACLS + "delete", A.delete_default_acl),
    # JSON API: objects (the shapes with a single-segment name before the catch-all ones).
    _json("GET", _OBJECTS, "storage.objects.list", A.projected(S.list_objects), query=_SOFT),
    _json("GET", _OBJECTS, "storage.objects.list", A.projected(F.list_objects), query=_FOLDERS),
    _json("GET", _OBJECTS, "storage.objects.list", A.projected(J.list_objects)),
    # An upload sent to the metadata URL: GCS's own 400 (there is no metadata-only insert).
    _json("POST", _OBJECTS, INSERT, M.wrong_url_for_upload),
    _json("POST", _COPY, "storage.objects.copy", A.projected(J.copy_object), billed=_BOTH),
    _json("POST", _REWRITE, "storage.objects.rewrite", A.projected(J.rewrite_object), billed=_BOTH),
    _json(
        "POST",
        "/{bucket}/o/{name}/compose",
        "storage.objects.compose",
        A.projected(J.compose_object),
    ),
    _json("POST", _MOVE, "storage.objects.move", A.projected(V.move_object)),
    _json("POST", _RESTORE, "storage.objects.restore", A.projected(S.restore_object)),
    _json("GET", _OBJECT_ACL, _OBJECT_ACLS + "list", A.list_object_acl),
    _json("POST", _OBJECT_ACL, _OBJECT_ACLS + "insert", A.insert_object_acl),
    _json("GET", _OBJECT_ACL_ENTRY, _OBJECT_ACLS + "get", A.get_object_acl),
    _json("PATCH", _OBJECT_ACL_ENTRY, _OBJECT_ACLS + "patch", A.change_object_acl),
    _json("PUT", _OBJECT_ACL_ENTRY, _OBJECT_ACLS + "update", A.change_object_acl),
    _json("DELETE", _OBJECT_ACL_ENTRY, _OBJECT_ACLS + "delete", A.delete_object_acl),
    _json("GET", _OBJECT, GET, M.download, query={"alt": "media"}),
    _json("GET", _OBJECT, "storage.objects.get", A.projected(S.get_object), query=_SOFT),
    _json("GET", _OBJECT, "storage.objects.get", A.projected(J.get_object)),
    _json("PATCH", _OBJECT, "storage.objects.patch", A.projected(J.patch_object, full=True)),
    _json("PUT", _OBJECT, "storage.objects.update", A.projected(J.patch_object, full=True)),
    _json("DELETE", _OBJECT, "storage.objects.delete", J.delete_object),
    # Media: a resumable session's chunks (billed when the session started), then uploads.
    _media_route("PUT", _UPLOAD, M.upload_chunk, query=_SESSION),
    _media_route("DELETE", _UPLOAD, M.cancel_upload, query=_SESSION),
    _media_route(
        "POST",
        _UPLOAD,
        A.projected(M.multipart_upload),
        query={"uploadType": "multipart"},
        **_BILLED,
    ),
    _media_route(
        "POST", _UPLOAD, A.projected(M.media_upload), query={"uploadType": "media"}, **_BILLED
    ),
    _media_route("POST", _UPLOAD, M.start_resumable, query={"uploadType": "resumable"}, **_BILLED),
    _media_route("POST", _UPLOAD, M.wrong_url_for_upload, query={"uploadType": False}),
    _media_route("GET", _DOWNLOAD, M.download, **_BILLED),
    # JSON API: the project's service agent (outside /b).
    Route(
        ("GET",),
        "/storage/v1/projects/{project}/serviceAccount",
        "storage.projects.serviceAccount.get",
        P.service_account,
        "json",
    ),
    # Batch: each part goes through this table again, faults and all.
    Route(("POST",), "/batch/storage/v1", "storage.batch", _batch.serve_batch, "batch"),
    # XML API (each route path-style and addressed by host): multipart uploads, signed or not.
    *_xml("POST", _XML_OBJECT, INSERT, X.start_multipart, query={"uploads": True, **_NO_ID}),
    *_xml("PUT", _XML_OBJECT, INSERT, X.upload_part, query=_MULTIPART),
    *_xml("POST", _XML_OBJECT, INSERT, X.complete_multipart, query=_MULTIPART),
    *_xml("DELETE", _XML_OBJECT, INSERT, X.abort_multipart, query=_MULTIPART),
    # XML API: signed URLs (a resumable session is started by a signed POST); a bucket's
    # signed URL lists its objects.
    *_xml("GET", _BUCKET, "storage.objects.list", XL.signed_list, signed=True),
    *_xml("GET", _XML_OBJECT, GET, X.signed_read, signed=True),
    *_xml("PUT", _XML_OBJECT, INSERT, X.signed_write, signed=True),
    *_xml(
        "POST",
        _XML_OBJECT,
        INSERT,
        X.signed_resumable_start,
        signed=True,
        headers={"x-goog-resumable": "start"},
    ),
    *_xml("DELETE", _XML_OBJECT, "storage.objects.delete", X.signed_delete, signed=True),
    # XML API: POST policy forms (billed by the handler, once the policy holds).
    *_xml(
        "POST",
        _BUCKET,
        INSERT,
        X.post_object,
        content_type="multipart/form-data",
        billed=(),
    ),
)

# Candidates by the path's first segment, in table order: routes with that literal first
# segment and those whose first segment is a parameter (the XML API's paths: a bucket, or
# an object's name when the host names the bucket).
# Each is kept per method too (an upload's POST skips the session's PUT and DELETE).
_METHODS = sorted({method for r in ROUTES for method in r.methods})
_ANY_PREFIX = {m: tuple(r for r in ROUTES if r.prefix is None and m in r.methods) for m in _METHODS}
_BY_PREFIX = {
    (prefix, m): tuple(r for r in ROUTES if r.prefix in (prefix, None) and m in r.methods)
    for prefix in {r.prefix for r in ROUTES if r.prefix is not None}
    for m in _METHODS
}


def find(request: Request) -> tuple[Route, dict[str, str]] | None:
    """The route that serves ``request`` and its path parameters, or ``None``."""
    first = request.path.split("/", 2)[1] if request.path.startswith("/") else ""
    method = request.method
    candidates = _BY_PREFIX.get((first, method))
    if candidates is None:
        candidates = _ANY_PREFIX.get(method, ())
    for route in candidates:
        params = route.match(request)
        if params is not None:
            return route, params
    return None
