"""Managed folders (json_api/v1/managedFolders: insert, get, list, delete) and
``includeFoldersAsPrefixes`` in object listings.

A managed folder is a name ending in ``/`` that carries IAM policies of its own; it needs
uniform bucket-level access. What GCS answers comes from the reference and from a public
Zig client that records production's answers ("[zig-folders]": search-index file
70107014776, "measured in production on 2026-10-02"; quoted, not checked against a live
answer):

- The resource: ``kind``, ``id`` (``BUCKET/NAME``), ``selfLink`` (the name
  percent-encoded, ``m1%2F``), ``name`` (with its trailing ``/``), ``bucket``,
  ``metageneration`` 1, ``createTime`` and ``updateTime``; a listing without folders has
  no ``items``.
- A bucket without uniform bucket-level access refuses every call with a 412
  ``conditionNotMet``; an existing name is 409; a child may come before its parents;
  deleting a folder that holds objects or other managed folders is 409 unless
  ``allowNonEmpty``; ``ifMetagenerationMatch`` / ``NotMatch`` apply to deletes.

The fake has no hierarchical-namespace folders, and no IAM on managed folders (their
``/iam`` calls answer 501).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _acl, _errors, _json_api, _listing
from pytest_gcpfakes.storage._backend import Bucket
from pytest_gcpfakes.storage._names import validate_object_name
from pytest_gcpfakes.storage._resources import quote_segment, rfc3339
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp


@dataclass(frozen=True)
class ManagedFolder:
    """One managed folder of a bucket."""

    name: str
    create_time: datetime
    metageneration: int = 1


def _resource(bucket: str, folder: ManagedFolder, base_url: str) -> dict[str, Any]:
    """The managedFolder resource, fields as [zig-folders] records them."""
    return {
        "kind": "storage#managedFolder",
        "id": f"{bucket}/{folder.name}",
        "selfLink": (
            f"{base_url}/storage/v1/b/{quote_segment(bucket)}/managedFolders/"
            f"{quote_segment(folder.name)}"
        ),
        "name": folder.name,
        "bucket": bucket,
        "metageneration": str(folder.metageneration),
        "createTime": rfc3339(folder.create_time),
        "updateTime": rfc3339(folder.create_time),
    }


def _uniform_bucket(app: StorageApp, bucket: str) -> Bucket:
    """The bucket, if it has uniform bucket-level access; else GCS's 412."""
    state = app.backend.get_bucket(bucket)
    if not _acl.uniform_access(state.extra):
        raise uniform_access_required()
    return state


def _folder_name(name: object) -> str:
    """A managed folder's name as GCS keeps it: with its trailing ``/``."""
    if not isinstance(name, str) or not name.strip("/"):
        raise _errors.required()
    folder = name if name.endswith("/") else name + "/"
    validate_object_name(folder)
    return folder


def _folders(state: Bucket) -> dict[str, ManagedFolder]:
    folders: dict[str, ManagedFolder] = state.managed_folders
    return folders


# -- handlers ----------------------------------------------------------------------------------


def insert_folder(app: StorageApp, request: Request, bucket: str) -> Response:
    state = _uniform_bucket(app, bucket)
    body = request.json()
    folder = ManagedFolder(_folder_name(body.get("name")), app.backend.clock.now())
    with state.lock:
        if folder.name in _folders(state):
            raise folder_exists()
        _folders(state)[folder.name] = folder
    return Response(200, _resource(bucket, folder, request.base_url))


def _not_iam(request: Request, folder: str) -> None:
    """501 for a managed folder's IAM calls, which the fake does not model."""
    if folder.endswith(("/iam", "/iam/testPermissions")):
        raise _errors.not_implemented(request.method, request.path)


def get_folder(app: StorageApp, request: Request, bucket: str, folder: str) -> Response:
    _not_iam(request, folder)
    state = _uniform_bucket(app, bucket)
    found = _folders(state).get(_folder_name(folder))
    if found is None:
        raise folder_not_found()
    return Response(200, _resource(bucket, found, request.base_url))


def list_folders(app: StorageApp, request: Request, bucket: str) -> Response:
    """managedFolders.list: by name, from ``prefix``, ``pageSize`` at a time (at most
    1000, as object listings)."""
    state = _uniform_bucket(app, bucket)
    prefix = request.query.get("prefix", "")
    with state.lock:
        folders = sorted(
            (f for f in _folders(state).values() if f.name.startswith(prefix)),
            key=lambda f: f.name.encode(),
        )
    selected, token = _listing.page_named(
        folders, lambda f: f.name, request.query.get("pageToken", ""), request.int_param("pageSize")
    )
    body: dict[str, Any] = {"kind": "storage#managedFolders"}
    if selected:
        body["items"] = [_resource(bucket, f, request.base_url) for f in selected]
    if token:
        body["nextPageToken"] = token
    return Response(200, body)


def delete_folder(app: StorageApp, request: Request, bucket: str, folder: str) -> Response:
    _not_iam(request, folder)
    state = _uniform_bucket(app, bucket)
    name = _folder_name(folder)
    match = request.int_param("ifMetagenerationMatch")
    not_match = request.int_param("ifMetagenerationNotMatch")
    with state.lock:
        found = _folders(state).get(name)
        if found is None:
            raise folder_not_found()
        if (match is not None and found.metageneration != match) or (
            not_match is not None and found.metageneration == not_match
        ):
            raise precondition_failed()
        nested = any(other != name and other.startswith(name) for other in _folders(state))
        holds = any(n.startswith(name) for n in (*state.live, *state.noncurrent))
        if (nested or holds) and not request.bool_param("allowNonEmpty"):
            raise folder_not_empty()
        del _folders(state)[name]
    return Response(204)


# -- includeFoldersAsPrefixes ------------------------------------------------------------------


def list_objects(app: StorageApp, request: Request, bucket: str) -> Response:
    """objects.list with ``includeFoldersAsPrefixes``: the managed folders at the listing's
    level join its ``prefixes`` ("If true, will also include folders and managed folders
    (besides objects) in the returned prefixes. Only applicable if delimiter is set to
    '/'", objects/list), empty ones included, within the page the objects gave."""
    response = _json_api.list_objects(app, request, bucket)
    query = request.query
    if not request.bool_param("includeFoldersAsPrefixes") or query.get("delimiter") != "/":
        return response
    state = app.backend.get_bucket(bucket)
    prefix = query.get("prefix", "")
    start, end = query.get("startOffset", "").encode(), query.get("endOffset", "").encode()
    with state.lock:
        names = list(_folders(state))
    folded = set()
    for name in names:
        raw = name.encode()
        if not name.startswith(prefix) or raw < start or (end and raw >= end):
            continue
        folded.add(name[: name.index("/", len(prefix)) + 1])
    body = json.loads(response.body)
    # Only the prefixes that fall within this page: after the token it was asked with, up
    # to the one it hands on.
    low = _listing.decode_token(query["pageToken"]) if query.get("pageToken") else None
    high = _listing.decode_token(body["nextPageToken"]) if body.get("nextPageToken") else None
    for folder in folded:
        key = (folder.encode() + b"\xff", 0)
        if (low is None or key > low) and (high is None or key <= high):
            body.setdefault("prefixes", [])
            if folder not in body["prefixes"]:
                body["prefixes"].append(folder)
    if "prefixes" in body:
        body["prefixes"].sort(key=lambda p: p.encode())
    return Response(200, body)


# -- refusals ----------------------------------------------------------------------------------


def uniform_access_required() -> _errors.GCSError:
    """412: a managed folder call on a bucket without uniform bucket-level access."""
    # [zig-folders], full body.
    return _errors.GCSError(
        412,
        "Uniform bucket-level access is required to be enabled on the bucket in order to "
        "perform this operation. Read more at "
        "https://cloud.google.com/storage/docs/uniform-bucket-level-access",
        "conditionNotMet",
        location_type="header",
        location="If-Match",
    )


def folder_exists() -> _errors.GCSError:
    """409: creating a managed folder that exists."""
    # [zig-folders], full body.
    return _errors.GCSError(409, "The specified managed folder already exists.", "conflict")


def folder_not_empty() -> _errors.GCSError:
    """409: deleting a managed folder that holds objects or managed folders."""
    # [zig-folders], full body.
    return _errors.GCSError(409, "The managed folder you tried to delete is not empty.", "conflict")


def folder_not_found() -> _errors.GCSError:
    """404: a managed folder the bucket does not have."""
    # wording: guess, in the style of the other two.
    return _errors.GCSError(404, "The specified managed folder does not exist.", "notFound")


def precondition_failed() -> _errors.GCSError:
    """412: a delete whose metageneration condition does not hold."""
    # [zig-folders]: the body has no location fields.
    return _errors.GCSError(
        412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet"
    )
