"""Access control lists as GCS keeps them: entries, predefined lists, the owner's rights,
uniform bucket-level access, and their refusals.

State only, no HTTP: the backend keeps a bucket's ACL and default object ACL on the
:class:`~._backend.Bucket` and each object generation's ACL on its
:class:`~._backend.ObjectVersion`; :mod:`._acl_api` serves the three access-control
APIs and ``projection=full`` from them.

The rules follow what GCS answered when measured, as a public Zig client's fake records
them ("[zig-acl]": search-index file 70216562198, "as Cloud Storage kept them when measured
on 2026-10-05"; quoted, not checked against a live answer):

- A new bucket's ACL and default object ACL are ``projectPrivate``: the project's owners
  and editors OWNER, its viewers READER.
- An object written without an ACL gets its bucket's default object ACL, then its writer
  as OWNER; one written with a predefined ACL gets its writer first, then that list.
- A whole list (a resource's ``acl``) holds at most 100 entries; roles are OWNER and
  READER, and WRITER on a bucket's own list only; entities come in six forms; e-mails and
  domains are kept in lower case; an entity named twice keeps its last role.
- The owner keeps OWNER: left out of a list, it is added back at the end; given less,
  the write is refused.
- An empty list is ignored; a predefined ACL beside a list that is not empty is refused.
- Uniform bucket-level access hides every list and refuses every write to one; turning
  it off again shows them as they were (the fake keeps them all along).

The fake has one caller: the identity its credentials sign as
(:data:`._signing.SIGNER_EMAIL`), so the writer of every object is that service account.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._memo import remember_last
from pytest_gcpfakes.storage._signing import SIGNER_EMAIL

if TYPE_CHECKING:
    from pytest_gcpfakes.storage._backend import Bucket

Kind = Literal["bucket", "default_object", "object"]

#: The entity of the one caller the fake knows: the writer, hence owner, of every object.
CALLER = f"user-{SIGNER_EMAIL}"

_TEAMS = ("owners", "editors", "viewers")
_MORE = " Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access"

#: The most entries one list may hold ([zig-acl]).
MAX_ENTRIES = 100


@dataclass(frozen=True)
class Grant:
    """One entry of an access control list: an entity and its role."""

    entity: str
    role: str


@dataclass(frozen=True)
class AclRequest:
    """What one request asks of an object's ACL: a predefined list, entries, or both.

    Read off the request by the JSON API and resolved against the bucket under its lock
    (:func:`acl_on_insert`, :func:`acl_on_patch`), where the project and the bucket's
    settings are known.
    """

    predefined: str | None = None
    entries: Any = None
    """The body's ``acl`` as sent; ``None``: the request names no list; ``[]``: an empty
    one, which is ignored."""
    parameter: str = "predefinedAcl"
    """The query parameter ``predefined`` came from (``destinationPredefinedAcl``)."""

    @property
    def asks(self) -> bool:
        """Whether the request sets an ACL at all (an empty list sets nothing)."""
        return self.predefined is not None or bool(self.entries)


# -- predefined lists ----------------------------------------------------------------------


def team(name: str, number: int) -> str:
    """The entity of a project team: ``project-owners-123``."""
    return f"project-{name}-{number}"


def project_private(number: int) -> tuple[Grant, ...]:
    """``projectPrivate``: a new bucket's ACL and default object ACL ([zig-acl])."""
    return (
        Grant(team("owners", number), "OWNER"),
        Grant(team("editors", number), "OWNER"),
        Grant(team("viewers", number), "READER"),
    )


BUCKET_PREDEFINED = (
    "authenticatedRead",
    "private",
    "projectPrivate",
    "publicRead",
    "publicReadWrite",
)
OBJECT_PREDEFINED = (
    "authenticatedRead",
    "bucketOwnerFullControl",
    "bucketOwnerRead",
    "private",
    "projectPrivate",
    "publicRead",
)


def bucket_predefined(
    name: str, number: int, parameter: str = "predefinedAcl"
) -> tuple[Grant, ...]:
    """A bucket's predefined ACL by its JSON name (cloud.google.com/storage/docs/
    access-control/lists#predefined-acl); 400 for a name buckets do not take."""
    owners = Grant(team("owners", number), "OWNER")
    lists = {
        "projectPrivate": project_private(number),
        "private": (owners,),
        "publicRead": (owners, Grant("allUsers", "READER")),
        "publicReadWrite": (owners, Grant("allUsers", "WRITER")),
        "authenticatedRead": (owners, Grant("allAuthenticatedUsers", "READER")),
    }
    if name not in lists:
        raise _errors.invalid_parameter_value(parameter, name, BUCKET_PREDEFINED)
    return lists[name]


def object_predefined(
    name: str, number: int, parameter: str = "predefinedAcl"
) -> tuple[Grant, ...]:
    """An object's predefined ACL by its JSON name, without its owner: what a default
    object ACL holds, and what follows the owner on an object; 400 for a name objects do
    not take (``publicReadWrite``)."""
    lists = {
        "projectPrivate": project_private(number),
        "private": (),
        "bucketOwnerFullControl": (Grant(team("owners", number), "OWNER"),),
        "bucketOwnerRead": (Grant(team("owners", number), "READER"),),
        "publicRead": (Grant("allUsers", "READER"),),
        "authenticatedRead": (Grant("allAuthenticatedUsers", "READER"),),
    }
    if name not in lists:
        raise _errors.invalid_parameter_value(parameter, name, OBJECT_PREDEFINED)
    return lists[name]


# -- entries ---------------------------------------------------------------------------------


def normalized_entity(text: str, project: str, number: int) -> str:
    """``text`` as GCS keeps it: e-mails and domains in lower case, a project team by the
    project's number; 400 for text that is no entity."""
    if text in ("allUsers", "allAuthenticatedUsers"):
        return text
    for prefix in ("user-", "group-", "domain-"):
        if text.startswith(prefix) and len(text) > len(prefix):
            return text.lower()
    for name in _TEAMS:
        prefix = f"project-{name}-"
        if text.startswith(prefix) and len(text) > len(prefix):
            rest = text[len(prefix) :]
            return team(name, number) if rest in (project, str(number)) else text
    raise invalid_entity(text)


def check_role(role: object, kind: Kind) -> str:
    """``role`` if a list of ``kind`` takes it: OWNER and READER, and WRITER on a bucket's
    own list."""
    if role in ("OWNER", "READER") or (role == "WRITER" and kind == "bucket"):
        return str(role)
    raise _errors.invalid_enum_value(role)


def parse_entries(value: Any, kind: Kind, project: str, number: int) -> tuple[Grant, ...]:
    """A resource's ``acl`` (checked by ``_schema.ACCESS_CONTROL`` already) as entries;
    an entity named twice keeps its last role."""
    if not isinstance(value, list):
        raise _errors.invalid_value()
    if len(value) > MAX_ENTRIES:
        raise too_many_entries()
    found: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise _errors.invalid_value()
        entity, role = item.get("entity"), item.get("role")
        if entity is None:
            raise entity_required()
        if role is None:
            raise role_required()
        found[normalized_entity(str(entity), project, number)] = check_role(role, kind)
    return tuple(Grant(e, r) for e, r in found.items())


def with_owner(entries: Sequence[Grant], owner: str) -> tuple[Grant, ...]:
    """``entries`` with ``owner`` as OWNER: added at the end when left out, refused when
    given less ([zig-acl])."""
    for grant in entries:
        if grant.entity == owner:
            if grant.role != "OWNER":
                raise owner_required()
            return tuple(entries)
    return (*entries, Grant(owner, "OWNER"))


def upsert(entries: Sequence[Grant], grant: Grant, owner: str | None) -> tuple[Grant, ...]:
    """``entries`` with ``grant`` in the place of the entity's entry, or appended."""
    if owner is not None and grant.entity == owner and grant.role != "OWNER":
        raise owner_required()
    kept = [grant if g.entity == grant.entity else g for g in entries]
    if grant not in kept:
        kept.append(grant)
    return tuple(kept)


def find(entries: Iterable[Grant], entity: str) -> Grant:
    """The entry of ``entity``, or GCS's 404."""
    for grant in entries:
        if grant.entity == entity:
            return grant
    raise entry_not_found()


def new_object_acl(
    request: AclRequest | None, default: Sequence[Grant], project: str, number: int
) -> tuple[Grant, ...]:
    """The ACL of a new object: its writer and a predefined list, the entries it was
    written with, or its bucket's default object ACL and then its writer ([zig-acl])."""
    if request is not None and request.predefined is not None:
        if request.entries:
            raise predefined_and_entries()
        canned = object_predefined(request.predefined, number, request.parameter)
        return with_owner((Grant(CALLER, "OWNER"), *canned), CALLER)
    if request is not None and request.entries:
        return with_owner(parse_entries(request.entries, "object", project, number), CALLER)
    return _default_with_writer(tuple(default))


_WRITER = Grant(CALLER, "OWNER")


@remember_last  # uploads to one bucket ask again and again (1.1 µs an insert before)
def _default_with_writer(default: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """A bucket's default object ACL with the writer as OWNER, whatever the list gives it
    (the lists are tuples, so the same list is the same object)."""
    return (*(g for g in default if g.entity != CALLER), _WRITER)


def acl_on_insert(bucket: Bucket, number: int, metadata: dict[str, Any]) -> None:
    """Give a new object its ACL (``metadata["acl"]``) from the ``acl_request`` an insert
    carries, under the bucket's lock; refused under uniform bucket-level access."""
    request: AclRequest | None = metadata.pop("acl_request", None)
    if "acl" in metadata:  # given whole: a move keeps its source's
        return
    if request is not None and request.asks and uniform_access(bucket.extra):
        raise uniform_refusal("insert_object")
    acl = new_object_acl(request, bucket.default_object_acl, bucket.project, number)
    check_public(acl, public_access_prevented(bucket.extra))
    metadata["acl"] = acl


def acl_on_patch(bucket: Bucket, number: int, changes: dict[str, Any]) -> None:
    """Turn a patch's ``acl`` (an :class:`AclRequest`) into the object's new ACL: a
    predefined list after its owner, or the entries with the owner kept; an empty list
    changes nothing."""
    request = changes.get("acl")
    if not isinstance(request, AclRequest):
        return
    if not request.asks:
        del changes["acl"]
        return
    if uniform_access(bucket.extra):
        raise uniform_refusal("write_object")
    acl = new_object_acl(request, (), bucket.project, number)
    check_public(acl, public_access_prevented(bucket.extra))
    changes["acl"] = acl


def check_public(entries: Iterable[Grant], prevented: bool) -> None:
    """412 for a public entity under enforced public access prevention."""
    if prevented and any(g.entity in ("allUsers", "allAuthenticatedUsers") for g in entries):
        raise public_access_prevented()


# -- bucket settings read here --------------------------------------------------------------


def uniform_access(extra: Mapping[str, Any]) -> bool:
    """Whether a bucket's settings (``Bucket.extra``) turn on uniform bucket-level access
    (or Bucket Policy Only, its former name)."""
    config = extra.get("iamConfiguration") or {}
    for key in ("uniformBucketLevelAccess", "bucketPolicyOnly"):
        if (config.get(key) or {}).get("enabled"):
            return True
    return False


def public_access_prevented(extra: Mapping[str, Any] | None = None) -> Any:
    """With settings: whether they enforce public access prevention. Without: GCS's 412
    for a public entity under it."""
    if extra is not None:
        config = extra.get("iamConfiguration") or {}
        return config.get("publicAccessPrevention") == "enforced"
    # [zig-acl] and the Zig client's IAM notes (search-index file 70465200667), the same
    # words for ACL and IAM writes; the ACL form carries location If-Match.
    return _errors.GCSError(
        412,
        "The member bindings allUsers and allAuthenticatedUsers are not allowed since "
        "public access prevention is enforced.",
        "conditionNotMet",
        location_type="header",
        location="If-Match",
    )


def metageneration_etag(metageneration: int) -> str:
    """The etag GCS derives from a metageneration: base64 of the protobuf varint field 1
    (``CAE=`` for 1), as an ACL entry's and an IAM policy's etags read."""
    raw = bytearray(b"\x08")
    value = metageneration
    while True:
        byte = value & 0x7F
        value >>= 7
        raw.append(byte | (0x80 if value else 0))
        if not value:
            break
    return base64.b64encode(bytes(raw)).decode()


# -- refusals ----------------------------------------------------------------------------------
# Wordings: [zig-acl] unless said otherwise. The uniform-access ones are also verified in
# public reports: "Cannot get legacy ACL for a bucket that has uniform bucket-level access."
# (forseti-security#3649, googledatastudio/tooling#114), "Cannot insert legacy ACL for an
# object when uniform bucket-level access is enabled." (full body, reason invalid:
# Superbalist/flysystem-google-cloud-storage#118), "Cannot use ACL API to update bucket
# policy when uniform bucket-level access is enabled." (terraform-large-data-sharing-
# golang-webapp#61, Go client output), "Cannot get legacy ACL for an object when uniform
# bucket-level access is enabled." (a Python client's make_public() traceback).

UniformRefusal = Literal[
    "read_bucket", "write_bucket", "read_object", "write_object", "insert_object"
]

_UNIFORM = {
    "read_bucket": "Cannot get legacy ACL for a bucket that has uniform bucket-level access.",
    "write_bucket": "Cannot use ACL API to update bucket policy when uniform bucket-level "
    "access is enabled.",
    "read_object": "Cannot get legacy ACL for an object when uniform bucket-level access is "
    "enabled.",
    "write_object": "Cannot update access control for an object when uniform bucket-level "
    "access is enabled.",
    "insert_object": "Cannot insert legacy ACL for an object when uniform bucket-level access "
    "is enabled.",
}


def uniform_refusal(what: UniformRefusal) -> _errors.GCSError:
    """400: an ACL read or write on a bucket with uniform bucket-level access."""
    # Which wording goes with which call: read_bucket for bucket and default object ACL
    # reads, write_bucket for their writes, read_object / write_object for an object's ACL
    # calls, insert_object for an object written with an ACL ([zig-acl]); the default
    # object ACL reads and writes through a bucket patch: wording: guess.
    return _errors.GCSError(400, _UNIFORM[what] + _MORE, "invalid")


def too_many_entries() -> _errors.GCSError:
    """400: a list of more than 100 entries."""
    return _errors.GCSError(
        400,
        "An access control list can contain at most 100 entries.",
        "tooManyAccessControlEntries",
    )


def invalid_entity(text: str) -> _errors.GCSError:
    """400: an entity in none of the six forms."""
    return _errors.GCSError(400, f'Scope text "{text}" is not valid.', "invalid")


def entity_required() -> _errors.GCSError:
    """400: an entry without its entity."""
    return _errors.GCSError(400, "Required: entity", "required")


def role_required() -> _errors.GCSError:
    """400: an entry without its role."""
    return _errors.GCSError(400, "Access control must contain a role", "required")


def owner_required() -> _errors.GCSError:
    """403: a write that would take OWNER from the resource's owner."""
    # [zig-acl] measured for a single entry's write, assumed for a whole list; the same
    # answer to deleting the owner's entry: wording: guess.
    return _errors.GCSError(
        403, "The owner of the resource is required to have OWNER access.", "forbidden"
    )


def predefined_and_entries() -> _errors.GCSError:
    """409: a predefined ACL beside a list that is not empty."""
    return _errors.GCSError(
        409, "Cannot provide both a predefinedAcl and access controls.", "conflict"
    )


def entry_not_found() -> _errors.GCSError:
    """404: an entity the list has no entry for."""
    return _errors.GCSError(404, "The specified key does not exist.", "notFound")
