"""IAM policies on Pub/Sub resources: the IAMPolicy mixin on topics, subscriptions,
snapshots and schemas (GetIamPolicy, SetIamPolicy, TestIamPermissions).

Stored and returned, never enforced: every call is allowed whatever a policy says, and
TestIamPermissions answers that the caller holds every permission it asks about. What is
GCP's, and where it comes from:

- A resource that never had a policy set answers an empty one at etag ``ACAB`` (bytes
  ``00 20 01``), without a version: ``{"etag": "ACAB"}`` is what ``gcloud pubsub topics
  get-iam-policy`` prints for a new topic.
- A write that carries an etag other than the current one is ``ABORTED``, "There were
  concurrent policy changes. Please retry the whole read-modify-write with exponential
  backoff." (IAM's sentence: google-cloud-cpp#7166, GoogleCloudPlatform/django-cloud-deploy
  #268); a write without an etag overwrites whatever is there. Each write gets a new etag.
- Versions (``google.iam.v1.Policy.version``): 0, 1 and 3 are valid, any other is refused,
  on writes and as ``requested_policy_version``. Pub/Sub resources do not accept
  conditional role bindings (IAM's list of resource types that do has no Pub/Sub entry),
  so a binding with a condition is refused, and every policy stored is version 1.
- A write replaces what its ``update_mask`` names, ``bindings`` and ``etag`` without one
  (``SetIamPolicyRequest.update_mask``). Bindings come back as IAM keeps them: one per
  role, members once each, both sorted, and none without members (as Cloud Storage's IAM
  answers, recorded in ``storage/_iam.py``).
- TestIamPermissions on a resource that does not exist answers no permissions, not
  ``NOT_FOUND`` (its reference says so); permissions with wildcards are refused.

The wordings of the refusals other than ``ABORTED`` are not on record: they are guesses,
listed in docs/fidelity.md.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions
from google.iam.v1 import iam_policy_pb2, policy_pb2

from pytest_gcpfakes.pubsub import _validation

EMPTY_ETAG = b"\x00\x20\x01"  # "ACAB" in JSON
_VERSIONS = (0, 1, 3)
_VERSIONS_LINK = (
    "For more information, please refer to https://cloud.google.com/iam/docs/policies#versions."
)
_MASKABLE = ("bindings", "etag", "audit_configs")

# How each collection's names are checked.
_PARSERS: dict[str, Callable[..., Any]] = {
    "topics": _validation.parse_topic_path,
    "subscriptions": _validation.parse_subscription_path,
    "snapshots": _validation.parse_snapshot_path,
    "schemas": _validation.parse_schema_path,
}


class IamPolicies:
    """The policies of one fake's resources, each tied to the resource it was set on.

    ``find(name)`` returns the live resource object called ``name``, or ``None``. A policy
    belongs to the object it was set on: a topic deleted and created again under the same
    name starts with an empty policy, as a new resource does.
    """

    def __init__(self, find: Callable[[str], object | None]) -> None:
        self._find = find
        self._lock = threading.Lock()
        self._policies: dict[str, tuple[object, policy_pb2.Policy]] = {}
        self._etags = itertools.count(1)

    def get(self, request: iam_policy_pb2.GetIamPolicyRequest) -> policy_pb2.Policy:
        _check_version(request.options.requested_policy_version, "Requested policy version")
        resource = self._existing(request.resource)
        with self._lock:
            return _copy(self._current(request.resource, resource))

    def set(self, request: iam_policy_pb2.SetIamPolicyRequest) -> policy_pb2.Policy:
        given = request.policy
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
        for path in paths:
            if path not in _MASKABLE:
                raise exceptions.InvalidArgument(
                    f"Invalid update_mask provided in the SetIamPolicyRequest: {path} is not "
                    "a field of the policy that can be set."
                )
        paths = paths or ["bindings", "etag"]
        _check_version(given.version, "Policy version")
        if "bindings" in paths and any(b.HasField("condition") for b in given.bindings):
            raise exceptions.InvalidArgument(
                "Conditional role bindings are not supported for this resource type. For "
                "more information, please refer to "
                "https://cloud.google.com/iam/docs/resource-types-with-conditional-roles."
            )
        resource = self._existing(request.resource)
        with self._lock:
            current = self._current(request.resource, resource)
            if given.etag and given.etag != current.etag:
                raise exceptions.Aborted(
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff."
                )
            stored = _copy(current)
            if "bindings" in paths:
                del stored.bindings[:]
                stored.bindings.extend(_normalized(given.bindings))
            if "audit_configs" in paths:
                del stored.audit_configs[:]
                stored.audit_configs.extend(given.audit_configs)
            stored.version = 1
            stored.etag = b"\x07" + next(self._etags).to_bytes(7, "big")
            self._policies[request.resource] = (resource, stored)
            return _copy(stored)

    def test(
        self, request: iam_policy_pb2.TestIamPermissionsRequest
    ) -> iam_policy_pb2.TestIamPermissionsResponse:
        _parse(request.resource)
        for permission in request.permissions:
            if "*" in permission:
                raise exceptions.InvalidArgument(
                    f"Permission {permission} is not valid: permissions with wildcards (such "
                    "as * or pubsub.*) are not allowed."
                )
        if self._find(request.resource) is None:
            return iam_policy_pb2.TestIamPermissionsResponse()
        held = list(dict.fromkeys(request.permissions))
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=held)

    # -- helpers ---------------------------------------------------------------------------

    def _existing(self, name: str) -> object:
        _parse(name)
        resource = self._find(name)
        if resource is None:
            raise exceptions.NotFound(f"Resource not found (resource={name.rsplit('/', 1)[-1]}).")
        return resource

    def _current(self, name: str, resource: object) -> policy_pb2.Policy:
        """The policy of ``resource`` (call with the lock held); one set on an earlier
        resource of the same name is not its."""
        entry = self._policies.get(name)
        if entry is None or entry[0] is not resource:
            return policy_pb2.Policy(etag=EMPTY_ETAG)
        return entry[1]


def _parse(name: str) -> None:
    """Refuse a name that is not one of a topic, subscription, snapshot or schema."""
    parts = name.split("/")
    parser = _PARSERS.get(parts[2]) if len(parts) == 4 else None
    (parser or _validation.parse_topic_path)(name, field="resource")


def _check_version(version: int, what: str) -> None:
    if version not in _VERSIONS:
        raise exceptions.InvalidArgument(
            f"{what} ({version}) is not valid: the valid versions are 0, 1 and 3. {_VERSIONS_LINK}"
        )


def _normalized(bindings: Any) -> list[policy_pb2.Binding]:
    """One binding per role, each member once, both sorted; none without members."""
    members: dict[str, set[str]] = {}
    for binding in bindings:
        members.setdefault(binding.role, set()).update(binding.members)
    return [
        policy_pb2.Binding(role=role, members=sorted(found))
        for role, found in sorted(members.items())
        if found
    ]


def _copy(policy: policy_pb2.Policy) -> policy_pb2.Policy:
    copy = policy_pb2.Policy()
    copy.CopyFrom(policy)
    return copy
