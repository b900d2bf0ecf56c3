"""The JSON API's access-control methods and ``projection=full``.

Three resources of the same shape, each with list / get / insert / patch / update /
delete (cloud.google.com/storage/docs/json_api/v1/bucketAccessControls,
.../defaultObjectAccessControls, .../objectAccessControls), served from the lists
:mod:`._acl` keeps on buckets and object generations. Every write moves the metageneration
of what it changes, as any metadata change does.

Two wrappers put ACLs into the bucket and object methods without those handlers knowing:
:func:`bucket_acl` applies a bucket resource's ``acl`` / ``defaultObjectAcl`` and the
``predefinedAcl`` / ``predefinedDefaultObjectAcl`` parameters of buckets.insert, patch and
update, and :func:`projected` adds ``acl``, ``defaultObjectAcl`` and ``owner`` to the
resources an answer carries when its projection is ``full``. Objects take their ACL on the
way in (:func:`object_request`, resolved by the backend under the bucket's lock).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_gcpfakes.storage import _acl, _errors, _schema
from pytest_gcpfakes.storage._acl import AclRequest, Grant
from pytest_gcpfakes.storage._backend import Bucket, ObjectVersion, project_number
from pytest_gcpfakes.storage._resources import quote_segment
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

Handler = Callable[..., Response]

_BUCKET_OWNER_TEAM = "owners"


# -- what a request asks of an object's ACL ---------------------------------------------------


def add_object_request(
    request: Request,
    body: Mapping[str, Any],
    fields: dict[str, Any],
    key: str = "acl_request",
    parameter: str = "predefinedAcl",
) -> None:
    """Put the ACL an object write asks for (:func:`object_request`) into ``fields`` under
    ``key``: ``acl_request`` for a new object, ``acl`` for a patch."""
    acl = object_request(request, body, parameter)
    if acl is not None:
        fields[key] = acl


def object_request(
    request: Request, body: Mapping[str, Any], parameter: str = "predefinedAcl"
) -> AclRequest | None:
    """The ACL an object write asks for: its ``parameter`` (``predefinedAcl``, or
    ``destinationPredefinedAcl`` on copies) and its resource's ``acl``; ``None`` if
    neither is given."""
    predefined = request.query.get(parameter) or None
    entries = body.get("acl")
    if predefined is None and entries is None:
        return None
    return AclRequest(predefined, entries, parameter)


# -- rendering ---------------------------------------------------------------------------------


def _entry_fields(grant: Grant) -> dict[str, Any]:
    """The fields every kind of entry shows for its entity."""
    entry: dict[str, Any] = {"entity": grant.entity, "role": grant.role}
    kind, _, rest = grant.entity.partition("-")
    if kind in ("user", "group") and "@" in rest:
        entry["email"] = rest
    elif kind == "domain":
        entry["domain"] = rest
    elif kind == "project":
        name, _, number = rest.partition("-")
        entry["projectTeam"] = {"projectNumber": number, "team": name}
    return entry


def bucket_entry(bucket: Bucket, grant: Grant, base_url: str) -> dict[str, Any]:
    """A bucketAccessControls resource."""
    name = quote_segment(bucket.name)
    return {
        "kind": "storage#bucketAccessControl",
        "id": f"{bucket.name}/{grant.entity}",
        "selfLink": f"{base_url}/storage/v1/b/{name}/acl/{quote_segment(grant.entity)}",
        "bucket": bucket.name,
        **_entry_fields(grant),
        "etag": _acl.metageneration_etag(bucket.metageneration),
    }


def default_entry(bucket: Bucket, grant: Grant) -> dict[str, Any]:
    """A defaultObjectAccessControls resource: an objectAccessControl of no object."""
    return {
        "kind": "storage#objectAccessControl",
        **_entry_fields(grant),
        "etag": _acl.metageneration_etag(bucket.metageneration),
    }


def object_entry(version: ObjectVersion, grant: Grant, base_url: str) -> dict[str, Any]:
    """An objectAccessControls resource."""
    bucket, name = quote_segment(version.bucket), quote_segment(version.name)
    return {
        "kind": "storage#objectAccessControl",
        "id": f"{version.bucket}/{version.name}/{version.generation}/{grant.entity}",
        "selfLink": (
            f"{base_url}/storage/v1/b/{bucket}/o/{name}/acl/{quote_segment(grant.entity)}"
        ),
        "bucket": version.bucket,
        "object": version.name,
        "generation": str(version.generation),
        **_entry_fields(grant),
        "etag": _acl.metageneration_etag(version.metageneration),
    }


def _listing(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    # An empty list has no "items" ([zig-acl]).
    return {"kind": kind, "items": items} if items else {"kind": kind}


def _full_bucket(app: StorageApp, resource: dict[str, Any], base_url: str) -> None:
    bucket = app.backend.buckets.get(str(resource.get("name")))
    if bucket is None:
        return
    if not _acl.uniform_access(bucket.extra):
        resource["acl"] = [bucket_entry(bucket, g, base_url) for g in bucket.acl]
        resource["defaultObjectAcl"] = [default_entry(bucket, g) for g in bucket.default_object_acl]
    resource["owner"] = {"entity": _acl.team(_BUCKET_OWNER_TEAM, project_number(bucket.project))}


def _full_object(app: StorageApp, resource: dict[str, Any], base_url: str) -> None:
    bucket = app.backend.buckets.get(str(resource.get("bucket")))
    if bucket is None:
        return
    resource["owner"] = {"entity": _acl.CALLER}
    if _acl.uniform_access(bucket.extra):
        return
    try:
        version = app.backend.get_object(
            bucket.name, str(resource["name"]), int(resource["generation"])
        )
    except _errors.GCSError:  # gone since the answer was built: nothing to add
        return
    resource["acl"] = [object_entry(version, g, base_url) for g in version.acl]


def _add_acls(app: StorageApp, body: dict[str, Any], base_url: str) -> None:
    """Add the ACL fields to every resource in an answer's body."""
    kind = body.get("kind")
    if kind == "storage#bucket":
        _full_bucket(app, body, base_url)
    elif kind == "storage#object":
        _full_object(app, body, base_url)
    elif kind in ("storage#buckets", "storage#objects"):
        for item in body.get("items", ()):
            _add_acls(app, item, base_url)
    elif kind == "storage#rewriteResponse" and isinstance(body.get("resource"), dict):
        _add_acls(app, body["resource"], base_url)


def projected(handler: Handler, *, full: bool | Callable[[Request], bool] = False) -> Handler:
    """Serve ``handler``'s answer in the request's projection: ``full`` adds ``acl``,
    ``defaultObjectAcl`` and ``owner`` to the resources it carries.

    ``full``: the method's default projection (patch and update default to ``full``;
    an insert whose body names ACLs does too: json_api/v1 buckets.insert, objects.insert).
    """

    @functools.wraps(handler)
    def serve(app: StorageApp, request: Request, **params: str) -> Response:
        response = handler(app, request, **params)
        asked = request.query.get("projection")
        wanted = asked == "full" if asked else (full(request) if callable(full) else full)
        if not wanted or response.status != 200 or not response.body:
            return response
        body = json.loads(response.body)
        _add_acls(app, body, request.base_url)
        return Response(200, body, dict(response.headers))  # Content-Length set anew

    return serve


def names_acls(request: Request) -> bool:
    """Whether an insert's body names an ACL (its default projection is then ``full``)."""
    try:
        body = request.json()
    except _errors.GCSError:
        return False
    return "acl" in body or "defaultObjectAcl" in body


# -- a bucket resource's ACLs ------------------------------------------------------------------


def bucket_acl(handler: Handler) -> Handler:
    """Apply buckets.insert / patch / update's ACLs around ``handler``: checked before it
    runs (nothing is written if they are refused), stored once it succeeds."""

    @functools.wraps(handler)
    def serve(app: StorageApp, request: Request, **params: str) -> Response:
        body = request.json()
        existing = app.backend.buckets.get(params["bucket"]) if "bucket" in params else None
        project = existing.project if existing is not None else request.query.get("project", "")
        number = project_number(project)
        acl, default = _bucket_changes(request, body, project, number)
        if acl is not None or default is not None:
            settings = dict(existing.extra) if existing is not None else {}
            if isinstance(body.get("iamConfiguration"), dict):
                settings["iamConfiguration"] = body["iamConfiguration"]
            if _acl.uniform_access(settings):
                raise _acl.uniform_refusal("write_bucket")
            prevented = _acl.public_access_prevented(settings)
            _acl.check_public(acl or (), prevented)
            _acl.check_public(default or (), prevented)
        response = handler(app, request, **params)
        if response.status == 200 and (acl is not None or default is not None):
            bucket = app.backend.buckets.get(params.get("bucket") or str(body.get("name")))
            if bucket is not None:
                with bucket.lock:
                    if acl is not None:
                        bucket.acl = acl
                    if default is not None:
                        bucket.default_object_acl = default
        return response

    return serve


def _bucket_changes(
    request: Request, body: Mapping[str, Any], project: str, number: int
) -> tuple[tuple[Grant, ...] | None, tuple[Grant, ...] | None]:
    """The bucket ACL and default object ACL a bucket write asks for (``None``: keep)."""
    owner = _acl.team(_BUCKET_OWNER_TEAM, number)
    acl = default = None
    predefined = request.query.get("predefinedAcl")
    entries = body.get("acl")
    if predefined:
        if entries:
            raise _acl.predefined_and_entries()
        acl = _acl.bucket_predefined(predefined, number)
    elif entries:  # an empty list is ignored ([zig-acl])
        acl = _acl.with_owner(_acl.parse_entries(entries, "bucket", project, number), owner)
    predefined = request.query.get("predefinedDefaultObjectAcl")
    entries = body.get("defaultObjectAcl")
    if predefined:
        if entries:
            raise _acl.predefined_and_entries()
        default = _acl.object_predefined(predefined, number, "predefinedDefaultObjectAcl")
    elif entries:
        default = _acl.parse_entries(entries, "default_object", project, number)
    return acl, default


# -- bucketAccessControls and defaultObjectAccessControls -------------------------------------


def _bucket_for_acl(app: StorageApp, bucket: str, *, write: bool) -> Bucket:
    state = app.backend.get_bucket(bucket)
    if _acl.uniform_access(state.extra):
        raise _acl.uniform_refusal("write_bucket" if write else "read_bucket")
    return state


def _entity(state: Bucket, entity: str) -> str:
    return _acl.normalized_entity(entity, state.project, project_number(state.project))


def _entry_body(request: Request) -> tuple[Any, Any]:
    """The entity and role of an insert, patch or update's body."""
    body = _schema.ACCESS_CONTROL.check(request.json())
    return body.get("entity"), body.get("role")


def _check_metageneration(request: Request, state: Bucket) -> None:
    match = request.int_param("ifMetagenerationMatch")
    not_match = request.int_param("ifMetagenerationNotMatch")
    if match is not None and state.metageneration != match:
        raise _errors.precondition_failed()
    if not_match is not None and state.metageneration == not_match:
        raise _errors.not_modified()


class _BucketList:
    """The two lists a bucket holds, read and written the same way."""

    def __init__(self, kind: _acl.Kind) -> None:
        self.kind = kind
        self.attr = "acl" if kind == "bucket" else "default_object_acl"

    def owner(self, state: Bucket) -> str | None:
        if self.kind != "bucket":
            return None  # a default object ACL has no owner: the writer is added per object
        return _acl.team(_BUCKET_OWNER_TEAM, project_number(state.project))

    def entries(self, state: Bucket) -> tuple[Grant, ...]:
        entries: tuple[Grant, ...] = getattr(state, self.attr)
        return entries

    def render(self, state: Bucket, grant: Grant, base_url: str) -> dict[str, Any]:
        if self.kind == "bucket":
            return bucket_entry(state, grant, base_url)
        return default_entry(state, grant)

    def store(self, app: StorageApp, state: Bucket, entries: tuple[Grant, ...]) -> None:
        """Replace the list (the caller holds the bucket's lock); moves the metageneration."""
        setattr(state, self.attr, entries)
        state.metageneration += 1
        state.updated = app.backend.clock.now()


_BUCKET_LIST = _BucketList("bucket")
_DEFAULT_LIST = _BucketList("default_object")


def _list_entries(which: _BucketList) -> Handler:
    def serve(app: StorageApp, request: Request, bucket: str) -> Response:
        state = _bucket_for_acl(app, bucket, write=False)
        if which.kind == "default_object":
            _check_metageneration(request, state)
        items = [which.render(state, g, request.base_url) for g in which.entries(state)]
        kind = (
            "storage#bucketAccessControls"
            if which.kind == "bucket"
            else "storage#objectAccessControls"
        )
        return Response(200, _listing(kind, items))

    return serve


def _get_entry(which: _BucketList) -> Handler:
    def serve(app: StorageApp, request: Request, bucket: str, entity: str) -> Response:
        state = _bucket_for_acl(app, bucket, write=False)
        grant = _acl.find(which.entries(state), _entity(state, entity))
        return Response(200, which.render(state, grant, request.base_url))

    return serve


def _insert_entry(which: _BucketList) -> Handler:
    def serve(app: StorageApp, request: Request, bucket: str) -> Response:
        state = _bucket_for_acl(app, bucket, write=True)
        entity, role = _entry_body(request)
        if entity is None:
            raise _acl.entity_required()
        if role is None:
            raise _acl.role_required()
        grant = Grant(_entity(state, str(entity)), _acl.check_role(role, which.kind))
        _acl.check_public((grant,), _acl.public_access_prevented(state.extra))
        with state.lock:
            which.store(app, state, _acl.upsert(which.entries(state), grant, which.owner(state)))
        return Response(200, which.render(state, grant, request.base_url))

    return serve


def _change_entry(which: _BucketList) -> Handler:
    """patch and update: the role of an entity the list holds (the path names it)."""

    def serve(app: StorageApp, request: Request, bucket: str, entity: str) -> Response:
        state = _bucket_for_acl(app, bucket, write=True)
        _, role = _entry_body(request)
        if role is None:
            raise _acl.role_required()
        with state.lock:
            current = _acl.find(which.entries(state), _entity(state, entity))
            grant = Grant(current.entity, _acl.check_role(role, which.kind))
            _acl.check_public((grant,), _acl.public_access_prevented(state.extra))
            which.store(app, state, _acl.upsert(which.entries(state), grant, which.owner(state)))
        return Response(200, which.render(state, grant, request.base_url))

    return serve


def _delete_entry(which: _BucketList) -> Handler:
    def serve(app: StorageApp, request: Request, bucket: str, entity: str) -> Response:
        state = _bucket_for_acl(app, bucket, write=True)
        with state.lock:
            grant = _acl.find(which.entries(state), _entity(state, entity))
            if grant.entity == which.owner(state):
                raise _acl.owner_required()
            which.store(app, state, tuple(g for g in which.entries(state) if g != grant))
        return Response(204)

    return serve


list_bucket_acl = _list_entries(_BUCKET_LIST)
get_bucket_acl = _get_entry(_BUCKET_LIST)
insert_bucket_acl = _insert_entry(_BUCKET_LIST)
change_bucket_acl = _change_entry(_BUCKET_LIST)
delete_bucket_acl = _delete_entry(_BUCKET_LIST)

list_default_acl = _list_entries(_DEFAULT_LIST)
get_default_acl = _get_entry(_DEFAULT_LIST)
insert_default_acl = _insert_entry(_DEFAULT_LIST)
change_default_acl = _change_entry(_DEFAULT_LIST)
delete_default_acl = _delete_entry(_DEFAULT_LIST)


# -- objectAccessControls ----------------------------------------------------------------------


def _object_for_acl(
    app: StorageApp, request: Request, bucket: str, name: str, refusal: _acl.UniformRefusal
) -> tuple[Bucket, ObjectVersion]:
    state = app.backend.get_bucket(bucket)
    if _acl.uniform_access(state.extra):
        raise _acl.uniform_refusal(refusal)
    return state, app.backend.get_object(bucket, name, request.int_param("generation"))


def _write_object_acl(
    app: StorageApp, request: Request, version: ObjectVersion, acl: tuple[Grant, ...]
) -> ObjectVersion:
    """Store an object generation's new ACL: a metadata change (metageneration, update
    notification), through the backend's patch."""
    return app.backend.patch_object(
        version.bucket, version.name, {"acl": acl}, generation=version.generation
    )


def list_object_acl(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    _, version = _object_for_acl(app, request, bucket, name, "read_object")
    items = [object_entry(version, g, request.base_url) for g in version.acl]
    return Response(200, _listing("storage#objectAccessControls", items))


def get_object_acl(
    app: StorageApp, request: Request, bucket: str, name: str, entity: str
) -> Response:
    state, version = _object_for_acl(app, request, bucket, name, "read_object")
    grant = _acl.find(version.acl, _entity(state, entity))
    return Response(200, object_entry(version, grant, request.base_url))


def insert_object_acl(app: StorageApp, request: Request, bucket: str, name: str) -> Response:
    state, version = _object_for_acl(app, request, bucket, name, "insert_object")
    entity, role = _entry_body(request)
    if entity is None:
        raise _acl.entity_required()
    if role is None:
        raise _acl.role_required()
    grant = Grant(_entity(state, str(entity)), _acl.check_role(role, "object"))
    _acl.check_public((grant,), _acl.public_access_prevented(state.extra))
    with state.lock:
        version = app.backend.get_object(bucket, name, version.generation)
        version = _write_object_acl(
            app, request, version, _acl.upsert(version.acl, grant, _acl.CALLER)
        )
    return Response(200, object_entry(version, grant, request.base_url))


def change_object_acl(
    app: StorageApp, request: Request, bucket: str, name: str, entity: str
) -> Response:
    """patch and update: the role of an entity the object's ACL holds."""
    state, version = _object_for_acl(app, request, bucket, name, "write_object")
    _, role = _entry_body(request)
    if role is None:
        raise _acl.role_required()
    with state.lock:
        version = app.backend.get_object(bucket, name, version.generation)
        current = _acl.find(version.acl, _entity(state, entity))
        grant = Grant(current.entity, _acl.check_role(role, "object"))
        _acl.check_public((grant,), _acl.public_access_prevented(state.extra))
        version = _write_object_acl(
            app, request, version, _acl.upsert(version.acl, grant, _acl.CALLER)
        )
    return Response(200, object_entry(version, grant, request.base_url))


def delete_object_acl(
    app: StorageApp, request: Request, bucket: str, name: str, entity: str
) -> Response:
    state, version = _object_for_acl(app, request, bucket, name, "write_object")
    with state.lock:
        version = app.backend.get_object(bucket, name, version.generation)
        grant = _acl.find(version.acl, _entity(state, entity))
        if grant.entity == _acl.CALLER:
            raise _acl.owner_required()
        _write_object_acl(app, request, version, tuple(g for g in version.acl if g != grant))
    return Response(204)
