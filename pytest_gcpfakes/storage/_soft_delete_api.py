"""The JSON API's soft-delete calls: soft-deleted objects and buckets listed, fetched and
restored (json_api/v1/objects/list and get with ``softDeleted``, objects/restore,
buckets/list and get with ``softDeleted``, buckets/restore).

The routes with ``softDeleted`` come before the plain ones, and hand a request whose
``softDeleted`` is false back to the plain handler. State: :mod:`._soft_delete`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _errors, _json_api, _listing, _schema, _soft_delete
from pytest_gcpfakes.storage._backend import COPIED_FIELDS, Bucket
from pytest_gcpfakes.storage._resources import bucket_resource, object_resource, rfc3339
from pytest_gcpfakes.storage._soft_delete import SoftDeletedBucket, SoftDeletedObject
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

Handler = Callable[..., Response]

#: What a restored object inherits beyond the copied metadata ("the same metadata as the
#: soft-deleted object", objects/restore).
_RESTORED_FIELDS = (*COPIED_FIELDS, "storage_class", "key_sha256", "component_count")


def checked_policy(handler: Handler) -> Handler:
    """buckets.insert / patch / update: refuse a soft delete policy GCS refuses, before
    ``handler`` writes anything."""

    @functools.wraps(handler)
    def serve(app: StorageApp, request: Request, **params: str) -> Response:
        _soft_delete.check_policy(_schema.BUCKET.check(request.json()))
        return handler(app, request, **params)

    return serve


# -- objects -----------------------------------------------------------------------------------


def _object_resource(app: StorageApp, entry: SoftDeletedObject, base_url: str) -> dict[str, Any]:
    resource = object_resource(entry.version, app.backend, base_url)
    resource["softDeleteTime"] = rfc3339(entry.soft_delete_time)
    resource["hardDeleteTime"] = rfc3339(entry.hard_delete_time)
    return resource


def _find_object(app: StorageApp, request: Request, bucket: str, name: str) -> SoftDeletedObject:
    generation = request.int_param("generation")
    if generation is None:
        raise _errors.required_parameter("generation")
    state = app.backend.get_bucket(bucket)
    for entry in _soft_delete.objects(state, app.backend.clock.now()):
        if entry.version.name == name and entry.version.generation == generation:
            return entry
    raise _errors.object_not_found(bucket, name)


def list_objects(app: StorageApp, request: Request, bucket: str) -> Response:
    """objects.list with ``softDeleted``: every soft-deleted generation still kept."""
    if not request.bool_param("softDeleted"):
        return _json_api.list_objects(app, request, bucket)
    if request.bool_param("versions"):
        raise soft_deleted_with_versions()
    query = request.query
    # The soft-deleted listing reads no contexts filter.
    options = _json_api.listing_options(request, with_contexts=False)
    state = app.backend.get_bucket(bucket)
    kept = _soft_delete.objects(state, app.backend.clock.now())
    by_key = {(e.version.name, e.version.generation): e for e in kept}
    found = _listing.entries([e.version for e in kept], options)
    body = _listing.objects_page(
        found,
        query.get("pageToken", ""),
        request.int_param("maxResults"),
        lambda version: _object_resource(
            app, by_key[(version.name, version.generation)], request.base_url
        ),
    )
    return Response(200, body)


def get_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    """objects.get with ``softDeleted``: one soft-deleted generation's metadata (its bytes
    cannot be read: "Soft-deleted objects cannot be read or modified")."""
    if not request.bool_param("softDeleted"):
        return _json_api.get_object(app, request, bucket, name)
    entry = _find_object(app, request, bucket, name)
    return Response(200, _object_resource(app, entry, request.base_url))


def restore_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    """objects.restore: a new live generation copied from a soft-deleted one, with new
    times, metageneration 1, the bucket's default object ACL (or the soft-deleted
    object's with ``copySourceAcl``) and Standard storage under Autoclass; a live object
    it replaces becomes noncurrent or soft-deleted, as any overwrite does. The
    soft-deleted generation stays until its hard-delete time ("a new copy of that object
    is created")."""
    entry = _find_object(app, request, bucket, name)
    source = entry.version
    fields = {key: getattr(source, key) for key in _RESTORED_FIELDS}
    state = app.backend.get_bucket(bucket)
    if (state.extra.get("autoclass") or {}).get("enabled"):
        fields["storage_class"] = "STANDARD"
    if request.bool_param("copySourceAcl"):
        fields["acl"] = source.acl
    preconditions = request.preconditions()
    if preconditions.if_generation_not_match is not None and name not in state.live:
        raise _errors.precondition_failed()  # "If no live object exists, the precondition fails"
    version = app.backend.insert_object(
        bucket,
        name,
        source.data,
        preconditions=preconditions,
        writer_thread=threading.current_thread().name,
        typed=False,
        **fields,
    )
    return Response(200, object_resource(version, app.backend, request.base_url))


# -- buckets -----------------------------------------------------------------------------------


def _bucket_resource(entry: SoftDeletedBucket, base_url: str) -> dict[str, Any]:
    resource = bucket_resource(entry.bucket, base_url)
    resource["softDeleteTime"] = rfc3339(entry.soft_delete_time)
    resource["hardDeleteTime"] = rfc3339(entry.hard_delete_time)
    return resource


def _find_bucket(app: StorageApp, request: Request, bucket: str) -> SoftDeletedBucket:
    generation = request.int_param("generation")
    if generation is None:
        raise _errors.required_parameter("generation")
    for entry in _soft_delete.buckets(app.backend, app.backend.clock.now()):
        if entry.bucket.name == bucket and entry.bucket.generation == generation:
            return entry
    raise _errors.bucket_not_found()


def list_buckets(app: StorageApp, request: Request) -> Response:
    """buckets.list with ``softDeleted``: the project's soft-deleted buckets still kept."""
    if not request.bool_param("softDeleted"):
        return _json_api.list_buckets(app, request)
    project = request.query.get("project")
    if not project:
        raise _errors.required_parameter("project")
    prefix = request.query.get("prefix", "")
    kept = [
        e
        for e in _soft_delete.buckets(app.backend, app.backend.clock.now())
        if e.bucket.project == project and e.bucket.name.startswith(prefix)
    ]
    by_key = {(e.bucket.name.encode(), e.bucket.generation): e for e in kept}
    found = [_listing.Entry(key, prefix=entry.bucket.name) for key, entry in by_key.items()]
    selected, token = _listing.page(
        found, request.query.get("pageToken", ""), request.int_param("maxResults")
    )
    body: dict[str, Any] = {"kind": "storage#buckets"}
    if selected:
        body["items"] = [_bucket_resource(by_key[e.key], request.base_url) for e in selected]
    if token:
        body["nextPageToken"] = token
    return Response(200, body)


def get_bucket(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.get with ``softDeleted``: one soft-deleted bucket, named by its generation."""
    if not request.bool_param("softDeleted"):
        return _json_api.get_bucket(app, request, bucket)
    entry = _find_bucket(app, request, bucket)
    return Response(200, _bucket_resource(entry, request.base_url))


def restore_bucket(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.restore: the soft-deleted bucket of that generation is live again, with
    its settings and its soft-deleted objects (which stay soft-deleted until restored
    one by one); refused while a live bucket has its name."""
    entry = _find_bucket(app, request, bucket)
    state: Bucket = entry.bucket
    backend = app.backend
    match = request.int_param("ifMetagenerationMatch")
    not_match = request.int_param("ifMetagenerationNotMatch")
    if match is not None and state.metageneration != match:
        raise _errors.precondition_failed()
    if not_match is not None and state.metageneration == not_match:
        raise _errors.precondition_failed()
    with backend._lock:
        if bucket in backend.buckets:
            raise bucket_name_taken(bucket)
        if entry not in backend.soft_deleted_buckets:
            raise _errors.bucket_not_found()  # restored by another request meanwhile
        backend.soft_deleted_buckets.remove(entry)
        backend.buckets[bucket] = state
    return Response(200, bucket_resource(state, request.base_url))


# -- refusals ----------------------------------------------------------------------------------


def soft_deleted_with_versions() -> _errors.GCSError:
    """400: a listing that asks for soft-deleted objects and for versions at once."""
    # The rule is documented (objects/list: softDeleted "cannot be used with versions";
    # the Python client says so too); the answer's wording: guess.
    return _errors.GCSError(
        400, "The softDeleted and versions parameters cannot be used together.", "invalid"
    )


def bucket_name_taken(bucket: str) -> _errors.GCSError:
    """409: restoring a soft-deleted bucket whose name a live bucket has taken."""
    # wording: guess (GCS refuses it; use-soft-deleted-buckets).
    return _errors.GCSError(
        409, f"A bucket named '{bucket}' already exists: it cannot be restored.", "conflict"
    )
