"""Bucket IAM policies and the project's service agent, through the real client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core.iam import Policy
from google.cloud import storage

PROJECT = "test-project"
VIEWER = "roles/storage.objectViewer"
AGENT_EMAIL = re.compile(r"service-[0-9]+@gs-project-accounts\.iam\.gserviceaccount\.com")


def uniform_bucket(client: storage.Client, name: str, **settings: Any) -> storage.Bucket:
    bucket = client.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    for key, value in settings.items():
        setattr(bucket.iam_configuration, key, value)
    return client.create_bucket(bucket)


def roles(policy: Policy) -> dict[str, set[str]]:
    return {binding["role"]: set(binding["members"]) for binding in policy.bindings}


# -- getIamPolicy -----------------------------------------------------------------------------


def test_a_new_bucket_policy_holds_the_legacy_bucket_bindings(client: storage.Client) -> None:
    policy = client.create_bucket("fresh").get_iam_policy()
    assert roles(policy) == {
        "roles/storage.legacyBucketOwner": {f"projectEditor:{PROJECT}", f"projectOwner:{PROJECT}"},
        "roles/storage.legacyBucketReader": {f"projectViewer:{PROJECT}"},
    }
    assert (policy.version, policy.etag) == (1, "CAE=")


def test_a_uniform_bucket_policy_also_holds_the_legacy_object_bindings(
    client: storage.Client,
) -> None:
    policy = uniform_bucket(client, "uniform").get_iam_policy(requested_policy_version=3)
    assert roles(policy)["roles/storage.legacyObjectOwner"] == {
        f"projectEditor:{PROJECT}",
        f"projectOwner:{PROJECT}",
    }
    assert roles(policy)["roles/storage.legacyObjectReader"] == {f"projectViewer:{PROJECT}"}


def test_a_bucket_made_public_shows_all_users_as_legacy_reader(client: storage.Client) -> None:
    bucket = client.create_bucket("public", predefined_acl="publicRead")
    assert "allUsers" in roles(bucket.get_iam_policy())["roles/storage.legacyBucketReader"]


def test_a_missing_buckets_policy_is_not_found(client: storage.Client) -> None:
    with pytest.raises(exceptions.NotFound):
        client.bucket("nowhere").get_iam_policy()


# -- setIamPolicy -----------------------------------------------------------------------------


def test_a_binding_set_is_read_back(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": VIEWER, "members": {"user:ada@example.com"}})
    bucket.set_iam_policy(policy)
    assert roles(bucket.get_iam_policy())[VIEWER] == {"user:ada@example.com"}


def test_a_policy_write_moves_the_bucket_metageneration(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    written = bucket.set_iam_policy(bucket.get_iam_policy())
    bucket.reload()
    assert bucket.metageneration == 2
    assert written.etag == "CAI="


def test_a_policy_read_before_a_bucket_update_is_stale(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    policy = bucket.get_iam_policy()
    bucket.labels = {"team": "data"}
    bucket.patch()
    with pytest.raises(
        exceptions.PreconditionFailed,
        match=re.escape("At least one of the pre-conditions you specified did not hold."),
    ):
        bucket.set_iam_policy(policy)


def test_a_policy_without_an_etag_is_written_whatever_changed(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.labels = {"team": "data"}
    bucket.patch()
    policy = Policy()
    policy.bindings = [{"role": VIEWER, "members": {"group:team@example.com"}}]
    bucket.set_iam_policy(policy)
    assert roles(bucket.get_iam_policy()) == {VIEWER: {"group:team@example.com"}}


def test_a_policy_without_bindings_removes_the_legacy_ones_too(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.set_iam_policy(Policy())
    assert bucket.get_iam_policy().bindings == []


def test_a_condition_needs_uniform_bucket_level_access(client: storage.Client) -> None:
    bucket = client.create_bucket("fine-grained")
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.version = 3
    policy.bindings.append(
        {
            "role": VIEWER,
            "members": {"user:ada@example.com"},
            "condition": {"title": "always", "expression": "true"},
        }
    )
    with pytest.raises(
        exceptions.PreconditionFailed,
        match=re.escape(
            "To set IAM conditions in this bucket, enable uniform bucket-level access."
        ),
    ):
        bucket.set_iam_policy(policy)


def test_a_policy_with_a_condition_is_version_3(client: storage.Client) -> None:
    bucket = uniform_bucket(client, "uniform")
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.version = 3
    condition = {
        "title": "until 2030",
        "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")',
    }
    policy.bindings.append(
        {"role": VIEWER, "members": {"user:ada@example.com"}, "condition": condition}
    )
    bucket.set_iam_policy(policy)
    read = bucket.get_iam_policy(requested_policy_version=3)
    assert read.version == 3
    assert [b["condition"] for b in read.bindings if b["role"] == VIEWER] == [condition]


def test_a_role_of_another_service_is_refused(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": "roles/pubsub.viewer", "members": {"user:ada@example.com"}})
    with pytest.raises(
        exceptions.BadRequest,
        match=re.escape("Role roles/pubsub.viewer is not supported for this resource."),
    ):
        bucket.set_iam_policy(policy)


def test_public_members_are_refused_under_public_access_prevention(
    client: storage.Client,
) -> None:
    bucket = uniform_bucket(client, "prevented", public_access_prevention="enforced")
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": VIEWER, "members": {"allUsers"}})
    with pytest.raises(exceptions.PreconditionFailed, match="public access prevention"):
        bucket.set_iam_policy(policy)


def test_a_policy_is_not_enforced(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    bucket.set_iam_policy(Policy())
    blob = bucket.blob("still.txt")
    blob.upload_from_string("allowed")
    assert blob.download_as_bytes() == b"allowed"


# -- testIamPermissions -------------------------------------------------------------------------


def test_every_permission_asked_about_is_held(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    asked = ["storage.buckets.get", "storage.objects.list", "storage.objects.create"]
    assert bucket.test_iam_permissions(asked) == asked


def test_a_project_permission_is_refused_by_a_bucket(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    with pytest.raises(exceptions.BadRequest):
        bucket.test_iam_permissions(["storage.buckets.list"])


def test_a_permission_of_another_service_is_refused(client: storage.Client) -> None:
    bucket = client.create_bucket("fresh")
    with pytest.raises(exceptions.BadRequest):
        bucket.test_iam_permissions(["pubsub.topics.publish"])


# -- the project's service agent --------------------------------------------------------------


def test_the_service_account_is_the_projects_storage_service_agent(
    client: storage.Client,
) -> None:
    number = client.create_bucket("any").project_number
    email = client.get_service_account_email()
    assert AGENT_EMAIL.fullmatch(email)
    assert email == f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"


def test_the_service_account_does_not_change_between_calls(client: storage.Client) -> None:
    assert client.get_service_account_email() == client.get_service_account_email()


def test_a_project_named_by_its_number_keeps_that_number(client: storage.Client) -> None:
    email = client.get_service_account_email(project="123456789012")
    assert email == "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
