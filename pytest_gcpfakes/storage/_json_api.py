"""The JSON API's metadata methods: buckets, objects and notification configurations.

Each handler serves one route of :mod:`._routes` (which names its method id and path);
it reads the request, calls the backend and renders the answer, and nothing else.
Media (uploads and downloads) are in :mod:`._media`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _csek, _errors, _listing, _schema
from pytest_gcpfakes.storage._acl_api import add_object_request
from pytest_gcpfakes.storage._backend import Bucket, ObjectVersion, Preconditions, RewriteJob
from pytest_gcpfakes.storage._contexts import ContextChange, parse_filter
from pytest_gcpfakes.storage._names import validate_bucket_name, validate_object_name
from pytest_gcpfakes.storage._notifications import parse_config
from pytest_gcpfakes.storage._resources import (
    CLEARED_BY_UPDATE,
    NOT_CLEARABLE,
    NULL_IN_PATCH,
    WRITABLE,
    bucket_etag,
    bucket_resource,
    contexts_field,
    etag,
    notification_resource,
    object_resource,
    retention_field,
    writable_fields,
)
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

_MIB = 1024 * 1024


# -- buckets ---------------------------------------------------------------------------------


def insert_bucket(app: StorageApp, request: Request) -> Response:
    body = _schema.BUCKET.check(request.json())
    name = body.get("name")
    if not name:
        raise _errors.required()
    project = request.query.get("project")
    if not project:
        raise _errors.required_parameter("project")
    validate_bucket_name(name)
    fields: dict[str, Any] = {}
    if body.get("location") is not None:
        fields["location"] = body["location"].upper()
    if body.get("storageClass") is not None:
        fields["storage_class"] = body["storageClass"]
    if request.bool_param("enableObjectRetention"):
        # Only at creation: the bucket resource's objectRetention is read-only, and the
        # feature cannot be turned off once on (object-lock).
        fields["object_retention"] = True
    bucket = app.backend.create_bucket(name, project, **fields)
    app.backend.configure_bucket(bucket, body)
    return Response(200, bucket_resource(bucket, request.base_url))


def get_bucket(app: StorageApp, request: Request, bucket: str) -> Response:
    state = app.backend.get_bucket(bucket)
    _check_bucket_preconditions(request, state)
    request.check_etag(bucket_etag(state))
    return Response(200, bucket_resource(state, request.base_url))


def patch_bucket(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.patch (PATCH) and buckets.update (PUT: what the body leaves out is reset)."""
    state = app.backend.get_bucket(bucket)
    body = _schema.BUCKET.check(request.json())
    with state.lock:
        _check_bucket_preconditions(request, state)
        app.backend.configure_bucket(state, body, replace_all=request.method == "PUT")
        state.metageneration += 1
        state.updated = app.backend.clock.now()
    return Response(200, bucket_resource(state, request.base_url))


def delete_bucket(app: StorageApp, request: Request, bucket: str) -> Response:
    state = app.backend.get_bucket(bucket)
    _check_bucket_preconditions(request, state)
    app.backend.delete_bucket(bucket)
    return Response(204)


def list_buckets(app: StorageApp, request: Request) -> Response:
    project = request.query.get("project")
    if not project:
        raise _errors.required_parameter("project")
    buckets = app.backend.list_buckets(project, request.query.get("prefix", ""))
    token_in = request.query.get("pageToken", "")
    selected, token = _listing.page_named(
        buckets, lambda b: b.name, token_in, request.int_param("maxResults")
    )
    body: dict[str, Any] = {"kind": "storage#buckets"}
    if selected:
        body["items"] = [bucket_resource(b, request.base_url) for b in selected]
    if token:
        body["nextPageToken"] = token
    return Response(200, body)


def lock_retention_policy(app: StorageApp, request: Request, bucket: str) -> Response:
    state = app.backend.get_bucket(bucket)
    _check_bucket_preconditions(request, state)
    app.backend.lock_retention_policy(state)
    return Response(200, bucket_resource(state, request.base_url))


def _check_bucket_preconditions(request: Request, bucket: Bucket) -> None:
    match = request.int_param("ifMetagenerationMatch")
    not_match = request.int_param("ifMetagenerationNotMatch")
    if match is not None and bucket.metageneration != match:
        raise _errors.precondition_failed()
    if not_match is not None and bucket.metageneration == not_match:
        raise _errors.precondition_failed()


# -- notification configurations -----------------------------------------------------------


def insert_notification(app: StorageApp, request: Request, bucket: str) -> Response:
    body = _schema.NOTIFICATION.check(request.json())
    config = app.backend.insert_notification(bucket, parse_config(body))
    return Response(200, notification_resource(bucket, config, request.base_url))


def list_notifications(app: StorageApp, request: Request, bucket: str) -> Response:
    configs = app.backend.list_notifications(bucket)
    body: dict[str, Any] = {"kind": "storage#notifications"}
    if configs:  # an empty list has no "items" ([zig-measured])
        body["items"] = [notification_resource(bucket, c, request.base_url) for c in configs]
    return Response(200, body)


def get_notification(app: StorageApp, request: Request, bucket: str, notification: str) -> Response:
    config = app.backend.get_notification(bucket, notification)
    return Response(200, notification_resource(bucket, config, request.base_url))


def delete_notification(
    app: StorageApp, request: Request, bucket: str, notification: str
) -> Response:
    app.backend.delete_notification(bucket, notification)
    return Response(204)


# -- objects ---------------------------------------------------------------------------------


def get_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    version = app.backend.get_object(bucket, name, request.int_param("generation"))
    request.preconditions().check(version, read=True)
    request.check_etag(etag(version))
    key = _csek.request_key(request)
    if key is not None:  # no key reads the metadata without the hashes; a key must fit
        _csek.check(version.key_sha256, key)
    return Response(200, object_resource(version, app.backend, request.base_url, key))


def delete_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    app.backend.delete_object(
        bucket, name, request.int_param("generation"), request.preconditions()
    )
    return Response(204)


def patch_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    """objects.patch (PATCH) and objects.update (PUT: what the body leaves out is reset)."""
    body = _schema.OBJECT.check(request.json())
    replace_all = request.method == "PUT"
    changes: dict[str, Any] = {}
    for key, attr in WRITABLE.items():
        if key in body:
            if body[key] is not None:
                changes[attr] = body[key]
            elif attr not in NOT_CLEARABLE:  # null clears the field (releases a hold)
                changes[attr] = NULL_IN_PATCH.get(attr)
        elif replace_all and attr in CLEARED_BY_UPDATE:
            # objects.update replaces the writable metadata: what is left out is cleared.
            changes[attr] = CLEARED_BY_UPDATE[attr]
    # An update (PUT) without "retention" keeps the retention: removing one takes an
    # explicit null (and the override), never an omission (assumed).
    retention_field(body, changes)
    contexts_field(body, changes)
    if replace_all and "contexts" not in changes:  # an update replaces them too (assumed)
        changes["contexts"] = ContextChange({}, clear=True)
    add_object_request(request, body, changes, "acl")
    version = app.backend.patch_object(
        bucket,
        name,
        changes,
        generation=request.int_param("generation"),
        preconditions=request.preconditions(),
        merge_metadata=not replace_all,
        override_unlocked_retention=request.bool_param("overrideUnlockedRetention"),
    )
    return Response(200, object_resource(version, app.backend, request.base_url))


def listing_options(request: Request, *, with_contexts: bool = True) -> _listing.ListOptions:
    """An objects listing's options, read from its query (``filter`` unless told not to)."""
    query = request.query
    return _listing.ListOptions(
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        include_trailing_delimiter=request.bool_param("includeTrailingDelimiter"),
        start_offset=query.get("startOffset", ""),
        end_offset=query.get("endOffset", ""),
        match_glob=query.get("matchGlob", ""),
        contexts=parse_filter(query["filter"]) if with_contexts and query.get("filter") else None,
    )


def list_objects(app: StorageApp, request: Request, bucket: str) -> Response:
    query = request.query
    options = listing_options(request)
    versions = app.backend.list_objects(
        bucket,
        versions=request.bool_param("versions"),
        prefix=options.prefix,
        start_offset=options.start_offset,
        end_offset=options.end_offset,
    )
    found = _listing.entries(versions, options)
    base_url = request.base_url
    body = _listing.objects_page(
        found,
        query.get("pageToken", ""),
        request.int_param("maxResults"),
        lambda version: object_resource(version, app.backend, base_url),
    )
    return Response(200, body)


def copy_object(
    app: StorageApp,
    request: Request,
    bucket: str,
    source: str,
    destination_bucket: str,
    destination: str,
) -> Response:
    """objects.copy: the whole copy in one call."""
    _, version = _rewrite(app, request, bucket, source, destination_bucket, destination)
    assert version is not None  # copy never stops half-way
    key = version.key_sha256  # the request gave the destination's key
    return Response(200, object_resource(version, app.backend, request.base_url, key))


def rewrite_object(
    app: StorageApp,
    request: Request,
    bucket: str,
    source: str,
    destination_bucket: str,
    destination: str,
) -> Response:
    """objects.rewrite: the same copy, possibly in steps that answer with a token."""
    job, version = _rewrite(
        app, request, bucket, source, destination_bucket, destination, steps=True
    )
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
            resource=object_resource(version, app.backend, request.base_url, version.key_sha256),
        )
    return Response(200, answer)


def _rewrite(
    app: StorageApp,
    request: Request,
    source_bucket: str,
    source: str,
    bucket: str,
    name: str,
    *,
    steps: bool = False,
) -> tuple[RewriteJob | None, ObjectVersion | None]:
    """Run a copy or rewrite; ``steps`` lets it stop after ``maxBytesRewrittenPerCall``."""
    validate_object_name(name)
    body = _schema.OBJECT.check(request.json())
    fields = writable_fields(body)
    # The destination is encrypted with the request's customer-supplied key, or with none.
    fields["key_sha256"] = _csek.request_key(request)
    retention_field(body, fields)
    contexts_field(body, fields)  # replaces the source's, as metadata does
    add_object_request(request, body, fields, parameter="destinationPredefinedAcl")
    max_bytes = request.int_param("maxBytesRewrittenPerCall") if steps else None
    if max_bytes is not None and (max_bytes <= 0 or max_bytes % _MIB):
        # Documented: "must be an integral multiple of 1 MiB (1048576)" (objects/rewrite);
        # the answer's wording is a guess.
        raise _errors.invalid_argument(
            "maxBytesRewrittenPerCall must be an integral multiple of 1048576."
        )
    q = request
    return app.backend.rewrite_object(
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
        source_key=_csek.request_key(request, source=True),
    )


def compose_object(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    validate_object_name(name)
    body = _schema.COMPOSE.check(request.json())
    destination = body.get("destination") or {}
    fields = writable_fields(destination)
    retention_field(destination, fields)
    contexts_field(destination, fields)
    add_object_request(request, destination, fields, parameter="destinationPredefinedAcl")
    sources = []
    for item in body.get("sourceObjects") or []:
        match = (item.get("objectPreconditions") or {}).get("ifGenerationMatch")
        generation = item.get("generation")
        sources.append(
            (
                item["name"],
                int(generation) if generation is not None else None,
                int(match) if match is not None else None,
            )
        )
    version = app.backend.compose_objects(
        bucket,
        name,
        sources,
        fields=fields,
        preconditions=request.preconditions(),
        writer_thread=threading.current_thread().name,
        key_sha256=_csek.request_key(request),
        delete_sources=bool(body.get("deleteSourceObjects")),
    )
    key = version.key_sha256
    return Response(200, object_resource(version, app.backend, request.base_url, key))
