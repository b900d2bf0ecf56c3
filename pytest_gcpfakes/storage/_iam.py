"""Bucket IAM policies: buckets.getIamPolicy, setIamPolicy and testIamPermissions.

Recorded, never enforced: the fake allows every call whatever a policy says, and
testIamPermissions answers that the caller holds every permission it asks about.

GCS's behaviour here comes from the JSON API reference (json_api/v1/buckets/getIamPolicy,
setIamPolicy, testIamPermissions) and from what a public Zig client records of
production's answers ("[zig-iam]": search-index file 70465200667, "Measured in production
on 2026-10-01"; quoted, not checked against a live answer):

- A new bucket's policy holds GCS's legacy bindings, derived from its ACLs:
  ``roles/storage.legacyBucketOwner`` for the project's owners and editors,
  ``legacyBucketReader`` for its viewers, members named by the project's id
  (``projectOwner:my-project``); with uniform bucket-level access also
  ``legacyObjectOwner`` and ``legacyObjectReader`` from the default object ACL.
  Roles and members in sorted order, version 1.
- The policy's etag is the bucket's metageneration (``CAE=`` for 1): any bucket update
  makes a policy read before it stale, and a policy write moves the metageneration.
- A write under a stale etag is 412 "At least one of the pre-conditions you specified did
  not hold."; a write without bindings removes every binding, the legacy ones too; only
  Cloud Storage's roles are taken; a condition needs uniform bucket-level access (412);
  ``allUsers`` / ``allAuthenticatedUsers`` under enforced public access prevention are 412.

The fake keeps the legacy bindings derived until a policy is written; from then on it
keeps the policy as written (GCS also keeps ACLs and legacy bindings in step both ways;
the fake does not write ACLs from a policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pytest_gcpfakes.storage import _acl, _errors
from pytest_gcpfakes.storage._backend import Bucket, service_agent
from pytest_gcpfakes.storage._wire import Request, Response

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._app import StorageApp

_LEGACY_BUCKET = {
    "OWNER": "roles/storage.legacyBucketOwner",
    "WRITER": "roles/storage.legacyBucketWriter",
    "READER": "roles/storage.legacyBucketReader",
}
_LEGACY_OBJECT = {
    "OWNER": "roles/storage.legacyObjectOwner",
    "READER": "roles/storage.legacyObjectReader",
}
_TEAM_MEMBER = {"owners": "projectOwner", "editors": "projectEditor", "viewers": "projectViewer"}
_MEMBER_PREFIXES = (
    "user:",
    "serviceAccount:",
    "group:",
    "domain:",
    "projectOwner:",
    "projectEditor:",
    "projectViewer:",
    "principal://",
    "principalSet://",
    "deleted:",
)
_PUBLIC = ("allUsers", "allAuthenticatedUsers")
# Permissions that belong to a project, not to a bucket ([zig-iam]).
_PROJECT_PERMISSIONS = ("storage.buckets.list", "storage.buckets.create")


# -- the policy --------------------------------------------------------------------------------


def _member(entity: str, project: str) -> str:
    """An ACL entity as an IAM member: ``project-owners-123`` → ``projectOwner:my-project``."""
    if entity in _PUBLIC:
        return entity
    kind, _, rest = entity.partition("-")
    if kind == "project":
        team, _, _ = rest.partition("-")
        return f"{_TEAM_MEMBER[team]}:{project}"
    return f"{kind}:{rest}"


def _legacy_bindings(bucket: Bucket) -> list[dict[str, Any]]:
    """The legacy bindings GCS shows for a bucket's ACLs."""
    members: dict[str, set[str]] = {}
    for grant in bucket.acl:
        members.setdefault(_LEGACY_BUCKET[grant.role], set()).add(
            _member(grant.entity, bucket.project)
        )
    if _acl.uniform_access(bucket.extra):
        for grant in bucket.default_object_acl:
            members.setdefault(_LEGACY_OBJECT[grant.role], set()).add(
                _member(grant.entity, bucket.project)
            )
    return [{"role": role, "members": sorted(m)} for role, m in sorted(members.items())]


def bindings(bucket: Bucket) -> list[dict[str, Any]]:
    """The bucket's bindings: as written by the last setIamPolicy, else the legacy ones."""
    if bucket.iam_bindings is None:
        return _legacy_bindings(bucket)
    return [dict(b) for b in bucket.iam_bindings]


def policy_resource(bucket: Bucket) -> dict[str, Any]:
    """The JSON API's policy resource (json_api/v1/buckets/getIamPolicy), fields in the
    order [zig-iam] shows them."""
    found = bindings(bucket)
    resource: dict[str, Any] = {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{bucket.name}",
        "version": 3 if any("condition" in b for b in found) else 1,
        "etag": _acl.metageneration_etag(bucket.metageneration),
    }
    if found:
        resource["bindings"] = found
    return resource


def _checked_bindings(bucket: Bucket, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bindings of a setIamPolicy body, checked as GCS checks them."""
    raw = body.get("bindings") or []
    if not isinstance(raw, list):
        raise _errors.invalid_value()
    uniform = _acl.uniform_access(bucket.extra)
    prevented = _acl.public_access_prevented(bucket.extra)
    kept: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise _errors.invalid_value()
        role, members = item.get("role"), item.get("members") or []
        if not isinstance(role, str) or not role:
            raise _errors.required()
        if not role.startswith(("roles/storage.", "projects/", "organizations/")):
            raise role_not_supported(role)
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise _errors.invalid_value()
        for member in members:
            if member not in _PUBLIC and not member.startswith(_MEMBER_PREFIXES):
                raise invalid_member(member)
            if prevented and member in _PUBLIC:
                raise public_members_prevented()
        condition = item.get("condition")
        if condition is not None and not uniform:
            raise conditions_need_uniform_access()
        unique = list(dict.fromkeys(members))
        if not unique:
            continue  # a binding with no members is no binding
        binding: dict[str, Any] = {"role": role, "members": unique}
        if condition is not None:
            binding["condition"] = condition
        kept.append(binding)
    return kept


# -- handlers ---------------------------------------------------------------------------------


def get_policy(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.getIamPolicy. ``optionsRequestedPolicyVersion`` is taken and changes nothing:
    GCS stopped refusing a version lower than the policy's in 2020 (python-storage#52,
    #53), and a policy with conditions is answered as version 3 whatever was asked."""
    request.int_param("optionsRequestedPolicyVersion")  # an ill-formed one is still 400
    state = app.backend.get_bucket(bucket)
    return Response(200, policy_resource(state))


def set_policy(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.setIamPolicy: the whole policy, under its etag when it carries one."""
    state = app.backend.get_bucket(bucket)
    body = request.json()
    with state.lock:
        etag = body.get("etag")
        if etag and etag != _acl.metageneration_etag(state.metageneration):
            raise stale_etag()
        state.iam_bindings = _checked_bindings(state, body)
        state.metageneration += 1
        state.updated = app.backend.clock.now()
        resource = policy_resource(state)
    return Response(200, resource)


def test_permissions(app: StorageApp, request: Request, bucket: str) -> Response:
    """buckets.testIamPermissions: every Cloud Storage permission asked about is held (the
    fake enforces nothing), in the order asked."""
    app.backend.get_bucket(bucket)
    query = str(request.environ.get("QUERY_STRING", ""))
    asked = [value for name, value in parse_qsl(query) if name == "permissions"]
    if not asked:
        raise _errors.required_parameter("permissions")
    if len(set(asked)) < len(asked):
        raise _errors.invalid_value()
    for permission in asked:
        if not permission.startswith("storage.") or permission in _PROJECT_PERMISSIONS:
            raise _errors.invalid_value()
    return Response(200, {"kind": "storage#testIamPermissionsResponse", "permissions": asked})


def service_account(app: StorageApp, request: Request, project: str) -> Response:
    """projects.serviceAccount.get: the project's Cloud Storage service agent, the account
    that publishes its buckets' notifications (cloud.google.com/storage/docs/projects#
    service-agents: ``service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com``).
    A project named by its number keeps that number."""
    if project.isascii() and project.isdigit():
        email = f"service-{project}@gs-project-accounts.iam.gserviceaccount.com"
    else:
        email = service_agent(project)
    return Response(200, {"email_address": email, "kind": "storage#serviceAccount"})


# -- refusals ----------------------------------------------------------------------------------


def stale_etag() -> _errors.GCSError:
    """412: a setIamPolicy under an etag the policy no longer has."""
    # [zig-iam]: the full body, without location fields (a precondition's 412 has them).
    return _errors.GCSError(
        412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet"
    )


def conditions_need_uniform_access() -> _errors.GCSError:
    """412: an IAM condition on a bucket without uniform bucket-level access."""
    # [zig-iam], full body; python-storage's system test expects PreconditionFailed
    # (python-storage#52).
    return _errors.GCSError(
        412,
        "To set IAM conditions in this bucket, enable uniform bucket-level access.",
        "conditionNotMet",
    )


def public_members_prevented() -> _errors.GCSError:
    """412: allUsers or allAuthenticatedUsers under enforced public access prevention."""
    # [zig-iam], full body (no location fields, unlike the ACL form).
    return _errors.GCSError(
        412,
        "The member bindings allUsers and allAuthenticatedUsers are not allowed since "
        "public access prevention is enforced.",
        "conditionNotMet",
    )


def role_not_supported(role: str) -> _errors.GCSError:
    """400: a role that is not Cloud Storage's (a basic role, another service's)."""
    # Wording from [zig-iam] ("Role roles/pubsub.publisher is not supported for this
    # resource."); the reason "invalid": wording: guess.
    return _errors.GCSError(400, f"Role {role} is not supported for this resource.", "invalid")


def invalid_member(member: str) -> _errors.GCSError:
    """400: a member of no known form."""
    # wording: guess.
    return _errors.GCSError(400, f"Invalid member: {member!r}.", "invalid")
