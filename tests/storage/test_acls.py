"""Access control lists through the real client: bucket, default object and object ACLs,
predefined ACLs, projection=full, and uniform bucket-level access."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

CALLER = "user-gcpfakes-signer@gcpfakes.iam.gserviceaccount.com"
UNIFORM = "uniform bucket-level access"


def entries(acl: Any) -> list[tuple[str, str]]:
    """An ACL object's entries as (entity, role), in the order the answer gave them."""
    acl.reload()
    return [(entry["entity"], entry["role"]) for entry in acl]


def teams(bucket: storage.Bucket) -> tuple[str, str, str]:
    number = bucket.project_number
    return f"project-owners-{number}", f"project-editors-{number}", f"project-viewers-{number}"


def uniform_bucket(client: storage.Client, name: str) -> storage.Bucket:
    bucket = client.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    return client.create_bucket(bucket)


# -- the lists a bucket and an object start with -------------------------------------------------


def test_a_new_bucket_acl_is_project_private(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    owners, editors, viewers = teams(bucket)
    assert entries(bucket.acl) == [(owners, "OWNER"), (editors, "OWNER"), (viewers, "READER")]


def test_a_new_bucket_default_object_acl_is_project_private(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    owners, editors, viewers = teams(bucket)
    assert entries(bucket.default_object_acl) == [
        (owners, "OWNER"),
        (editors, "OWNER"),
        (viewers, "READER"),
    ]


def test_a_new_object_gets_the_default_object_acl_then_its_writer_as_owner(
    client: storage.Client,
) -> None:
    bucket = client.create_bucket("fresh")
    blob = bucket.blob("o.txt")
    blob.upload_from_string("x")
    owners, editors, viewers = teams(bucket)
    assert entries(blob.acl) == [
        (owners, "OWNER"),
        (editors, "OWNER"),
        (viewers, "READER"),
        (CALLER, "OWNER"),
    ]


def test_a_new_object_follows_the_default_object_acl_as_changed(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.default_object_acl.all().grant_read()
    bucket.default_object_acl.save()
    blob = bucket.blob("o.txt")
    blob.upload_from_string("x")
    assert ("allUsers", "READER") in entries(blob.acl)


# -- predefined ACLs -----------------------------------------------------------------------------


def test_create_bucket_applies_its_predefined_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("public", predefined_acl="publicRead")
    owners, _, _ = teams(bucket)
    assert entries(bucket.acl) == [(owners, "OWNER"), ("allUsers", "READER")]


def test_create_bucket_applies_its_predefined_default_object_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("public", predefined_default_object_acl="publicRead")
    assert entries(bucket.default_object_acl) == [("allUsers", "READER")]


def test_an_upload_with_a_predefined_acl_has_its_writer_first(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x", predefined_acl="publicRead")
    assert entries(blob.acl) == [(CALLER, "OWNER"), ("allUsers", "READER")]


def test_a_resumable_upload_with_a_predefined_acl_gets_it(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("big.bin", chunk_size=256 * 1024)
    blob.upload_from_string(b"b" * (600 * 1024), predefined_acl="bucketOwnerRead")
    owners, _, _ = teams(client.get_bucket("fresh"))
    assert entries(blob.acl) == [(CALLER, "OWNER"), (owners, "READER")]


def test_save_predefined_replaces_an_objects_acl(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    blob.acl.save_predefined("private")
    assert entries(blob.acl) == [(CALLER, "OWNER")]


def test_save_predefined_replaces_a_buckets_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.acl.save_predefined("authenticatedRead")
    owners, _, _ = teams(bucket)
    assert entries(bucket.acl) == [(owners, "OWNER"), ("allAuthenticatedUsers", "READER")]


def test_a_copy_takes_its_destination_predefined_acl(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.blob("src.txt").upload_from_string("x")
    client._post_resource(
        "/b/fresh/o/src.txt/copyTo/b/fresh/o/dst.txt",
        {},
        query_params={"destinationPredefinedAcl": "publicRead"},
    )
    assert entries(bucket.blob("dst.txt").acl) == [(CALLER, "OWNER"), ("allUsers", "READER")]


def test_a_predefined_acl_beside_entries_is_a_conflict(client: storage.Client) -> None:
    client.create_bucket("fresh").blob("o.txt").upload_from_string("x")
    with pytest.raises(
        exceptions.Conflict,
        match=re.escape("Cannot provide both a predefinedAcl and access controls."),
    ):
        client._patch_resource(
            "/b/fresh/o/o.txt",
            {"acl": [{"entity": "allUsers", "role": "READER"}]},
            query_params={"predefinedAcl": "private"},
        )


# -- changing lists ------------------------------------------------------------------------------


def test_make_public_grants_all_users_read(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    blob.make_public()
    assert ("allUsers", "READER") in entries(blob.acl)


def test_bucket_make_public_future_grants_new_objects_read(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.make_public(future=True)
    blob = bucket.blob("later.txt")
    blob.upload_from_string("x")
    assert ("allUsers", "READER") in entries(bucket.acl)
    assert ("allUsers", "READER") in entries(blob.acl)


def test_a_saved_list_keeps_its_owner_at_the_end(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    blob.acl.save(acl=[{"entity": "user-Ada@Example.com", "role": "READER"}])
    assert entries(blob.acl) == [("user-ada@example.com", "READER"), (CALLER, "OWNER")]


def test_an_empty_list_changes_nothing(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x", predefined_acl="publicRead")
    blob.acl.clear()
    assert entries(blob.acl) == [(CALLER, "OWNER"), ("allUsers", "READER")]


def test_an_acl_change_moves_the_metageneration(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    blob.make_public()
    blob.reload()
    assert blob.metageneration == 2


def test_the_owner_cannot_be_given_less_than_owner(client: storage.Client) -> None:
    client.create_bucket("fresh").blob("o.txt").upload_from_string("x")
    with pytest.raises(
        exceptions.Forbidden,
        match=re.escape("The owner of the resource is required to have OWNER access."),
    ):
        client._patch_resource(f"/b/fresh/o/o.txt/acl/{CALLER}", {"role": "READER"})


def test_a_writer_role_on_an_object_is_refused(client: storage.Client) -> None:
    client.create_bucket("fresh").blob("o.txt").upload_from_string("x")
    with pytest.raises(exceptions.BadRequest, match="Invalid value for: WRITER is not a valid"):
        client._post_resource("/b/fresh/o/o.txt/acl", {"entity": "allUsers", "role": "WRITER"})


def test_an_entity_of_no_known_form_is_refused(client: storage.Client) -> None:
    client.create_bucket("fresh")
    with pytest.raises(
        exceptions.BadRequest, match=re.escape('Scope text "someone" is not valid.')
    ):
        client._post_resource("/b/fresh/acl", {"entity": "someone", "role": "READER"})


def test_public_entities_are_refused_under_public_access_prevention(
    client: storage.Client,
) -> None:
    bucket = client.bucket("prevented")
    bucket.iam_configuration.public_access_prevention = "enforced"
    client.create_bucket(bucket)
    bucket.acl.all().grant_read()
    with pytest.raises(exceptions.PreconditionFailed, match="public access prevention"):
        bucket.acl.save()


# -- the access-control methods, through the client's raw JSON calls ----------------------------


def test_an_object_acl_entry_is_read_by_its_entity(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    entry = client._get_resource(f"/b/fresh/o/o.txt/acl/{CALLER}")
    assert entry["kind"] == "storage#objectAccessControl"
    assert (entry["entity"], entry["role"]) == (CALLER, "OWNER")
    assert entry["email"] == "gcpfakes-signer@gcpfakes.iam.gserviceaccount.com"
    assert entry["generation"] == str(blob.generation)


def test_an_object_acl_entry_is_inserted_changed_and_deleted(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    path = "/b/fresh/o/o.txt/acl"
    client._post_resource(path, {"entity": "group-Team@example.com", "role": "READER"})
    client._patch_resource(f"{path}/group-team@example.com", {"role": "OWNER"})
    assert ("group-team@example.com", "OWNER") in entries(blob.acl)
    client._delete_resource(f"{path}/group-team@example.com")
    assert "group-team@example.com" not in [entity for entity, _ in entries(blob.acl)]


def test_an_entity_the_list_does_not_hold_is_not_found(client: storage.Client) -> None:
    client.create_bucket("fresh")
    with pytest.raises(exceptions.NotFound, match=re.escape("The specified key does not exist.")):
        client._get_resource("/b/fresh/acl/allUsers")


def test_a_project_team_is_named_by_the_project_or_its_number(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    entry = client._get_resource("/b/fresh/acl/project-viewers-test-project")
    assert entry["entity"] == f"project-viewers-{bucket.project_number}"
    assert entry["projectTeam"] == {"projectNumber": str(bucket.project_number), "team": "viewers"}


def test_a_default_object_acl_entry_is_inserted_and_listed(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    client._post_resource(
        "/b/fresh/defaultObjectAcl", {"entity": "domain-Example.com", "role": "READER"}
    )
    listed = client._get_resource("/b/fresh/defaultObjectAcl")
    assert listed["kind"] == "storage#objectAccessControls"
    assert ("domain-example.com", "READER") in entries(bucket.default_object_acl)


def test_a_bucket_acl_entry_is_updated_in_place(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    owners, editors, viewers = teams(bucket)
    client._put_resource(f"/b/fresh/acl/{viewers}", {"role": "WRITER"})
    assert entries(bucket.acl) == [(owners, "OWNER"), (editors, "OWNER"), (viewers, "WRITER")]


def test_the_bucket_owner_entry_cannot_be_deleted(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    owners, _, _ = teams(bucket)
    with pytest.raises(exceptions.Forbidden, match="required to have OWNER access"):
        client._delete_resource(f"/b/fresh/acl/{owners}")


# -- projection ----------------------------------------------------------------------------------


def test_a_bucket_read_without_projection_has_no_acl(client: storage.Client) -> None:
    client.create_bucket("fresh")
    resource = client._get_resource("/b/fresh")
    assert "acl" not in resource
    assert "owner" not in resource


def test_a_bucket_read_with_projection_full_has_its_acls_and_owner(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.reload(projection="full")
    owners, _, _ = teams(bucket)
    assert bucket.owner == {"entity": owners}
    assert bucket._properties["acl"][0]["entity"] == owners
    assert bucket._properties["defaultObjectAcl"][0]["kind"] == "storage#objectAccessControl"


def test_an_object_patch_answers_in_projection_full(client: storage.Client) -> None:
    blob = client.create_bucket("fresh").blob("o.txt")
    blob.upload_from_string("x")
    blob.metadata = {"k": "v"}
    blob.patch()
    assert blob.owner == {"entity": CALLER}
    assert blob._properties["acl"][-1]["entity"] == CALLER


def test_a_listing_with_projection_full_has_each_objects_acl(client: storage.Client) -> None:
    client.create_bucket("fresh").blob("o.txt").upload_from_string("x", predefined_acl="private")
    (blob,) = client.list_blobs("fresh", projection="full")
    assert [entry["entity"] for entry in blob._properties["acl"]] == [CALLER]


# -- uniform bucket-level access -----------------------------------------------------------------


def test_a_uniform_buckets_acl_cannot_be_read(client: storage.Client) -> None:
    bucket = uniform_bucket(client, "uniform")
    with pytest.raises(
        exceptions.BadRequest,
        match=re.escape("Cannot get legacy ACL for a bucket that has uniform bucket-level access."),
    ):
        bucket.acl.reload()


def test_a_uniform_buckets_acl_cannot_be_written(client: storage.Client) -> None:
    bucket = uniform_bucket(client, "uniform")
    with pytest.raises(exceptions.BadRequest, match="Cannot use ACL API to update bucket policy"):
        bucket.acl.save_predefined("publicRead")


def test_an_objects_acl_in_a_uniform_bucket_cannot_be_read(client: storage.Client) -> None:
    blob = uniform_bucket(client, "uniform").blob("o.txt")
    blob.upload_from_string("x")
    with pytest.raises(exceptions.BadRequest, match="Cannot get legacy ACL for an object"):
        blob.make_public()


def test_an_upload_with_a_predefined_acl_into_a_uniform_bucket_is_refused(
    client: storage.Client, fake_storage: Any
) -> None:
    blob = uniform_bucket(client, "uniform").blob("o.txt")
    with pytest.raises(
        exceptions.BadRequest,
        match=re.escape(
            "Cannot insert legacy ACL for an object when uniform bucket-level access is "
            "enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access"
        ),
    ):
        blob.upload_from_string("x", predefined_acl="publicRead")
    assert fake_storage.objects("uniform") == []


def test_a_uniform_bucket_in_projection_full_shows_its_owner_but_no_acl(
    client: storage.Client,
) -> None:
    bucket = uniform_bucket(client, "uniform")
    bucket.reload(projection="full")
    assert "acl" not in bucket._properties
    assert bucket.owner is not None


def test_turning_uniform_access_off_keeps_the_acls(client: storage.Client) -> None:
    bucket = client.create_bucket("toggled")
    bucket.acl.user("ada@example.com").grant_read()
    bucket.acl.save()
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.patch()
    with pytest.raises(exceptions.BadRequest, match=UNIFORM):
        bucket.acl.reload()
    bucket.iam_configuration.uniform_bucket_level_access_enabled = False
    bucket.patch()
    assert ("user-ada@example.com", "READER") in entries(bucket.acl)
