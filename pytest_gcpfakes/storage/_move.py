"""objects.move: an object renamed within its bucket in one atomic step.

cloud.google.com/storage/docs/json_api/v1/objects/move: the destination is created with
the source's data and metadata and a new name, generation, metageneration (1) and
create and update times; the source is deleted without soft delete; notifications are
sent for both. The source must exist and differ from the destination; ``ifGeneration*`` /
``ifMetageneration*`` apply to the destination ("If no live destination object exists,
[ifGenerationNotMatch] fails"), ``ifSource*`` to the source.

The first version of that reference allowed moves only in buckets with hierarchical
namespace; the current one does not say so, and the fake moves in any bucket.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import TYPE_CHECKING

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._backend import (
    ObjectVersion,
    Preconditions,
    StorageBackend,
    _check_not_protected,
)
from pytest_gcpfakes.storage._names import validate_object_name
from pytest_gcpfakes.storage._notifications import OBJECT_DELETE, ObjectEvent
from pytest_gcpfakes.storage._resources import object_resource
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

#: What the destination keeps of its source beyond the bytes: its metadata, its ACL, the
#: key that encrypts it. Generations, times, hashes (recomputed from the same bytes) and
#: holds (a held source cannot be moved) are the new object's own.
_KEPT = (
    "content_type",
    "content_encoding",
    "content_disposition",
    "content_language",
    "cache_control",
    "custom_time",
    "metadata",
    "storage_class",
    "key_sha256",
    "component_count",
    "acl",
)


def move_object(
    app: StorageApp, request: Request, bucket: str, source: str, destination: str
) -> Response:
    validate_object_name(destination)
    if source == destination:
        raise same_name()
    q = request
    source_preconditions = Preconditions(
        if_generation_match=q.int_param("ifSourceGenerationMatch"),
        if_generation_not_match=q.int_param("ifSourceGenerationNotMatch"),
        if_metageneration_match=q.int_param("ifSourceMetagenerationMatch"),
        if_metageneration_not_match=q.int_param("ifSourceMetagenerationNotMatch"),
    )
    version = move(
        app.backend,
        bucket,
        source,
        destination,
        source_preconditions=source_preconditions,
        preconditions=request.preconditions(),
    )
    return Response(200, object_resource(version, app.backend, request.base_url))


def move(
    backend: StorageBackend,
    bucket_name: str,
    source: str,
    destination: str,
    *,
    source_preconditions: Preconditions,
    preconditions: Preconditions,
) -> ObjectVersion:
    """Rename the live ``source`` to ``destination`` under the bucket's lock: either both
    happen or neither."""
    with backend.notifying():
        bucket = backend.get_bucket(bucket_name)
        with bucket.lock:
            current = bucket.live.get(source)
            if current is None:
                raise _errors.object_not_found(bucket_name, source)
            source_preconditions.check(current)
            if preconditions.if_generation_not_match is not None and destination not in bucket.live:
                raise _errors.precondition_failed()
            now = backend.clock.now()
            # The source goes for good: what would refuse its deletion refuses the move.
            _check_not_protected(bucket, current, now)
            kept = {f.name: getattr(current, f.name) for f in fields(current) if f.name in _KEPT}
            moved = backend.insert_object(
                bucket_name,
                destination,
                current.data,
                preconditions=preconditions,
                writer_thread=threading.current_thread().name,
                typed=False,  # the source's content type, or none, as it was
                **kept,
            )
            del bucket.live[source]
            backend._emit(bucket, [ObjectEvent(OBJECT_DELETE, current, now)])
    return moved


def same_name() -> _errors.GCSError:
    """400: a move whose destination is its source."""
    # The rule is documented ("The source and destination must have different object
    # names"); the answer's wording: guess.
    return _errors.GCSError(
        400, "Source and destination object names must be different.", "invalid"
    )
