"""Managed folders through the real client's raw JSON calls (it has no managed-folder
methods), and includeFoldersAsPrefixes through list_blobs()."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from google.api_core import exceptions
from google.cloud import storage

BUCKET = "folders"
FOLDERS = f"/b/{BUCKET}/managedFolders"


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    bucket = client.bucket(BUCKET)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    return client.create_bucket(bucket)


def folder_path(name: str) -> str:
    return f"{FOLDERS}/{quote(name, safe='')}"


def create(client: storage.Client, name: str) -> dict[str, Any]:
    created: dict[str, Any] = client._post_resource(FOLDERS, {"name": name})
    return created


def names(client: storage.Client, **params: str) -> list[str]:
    listed = client._get_resource(FOLDERS, query_params=params)
    return [item["name"] for item in listed.get("items", [])]


def test_a_managed_folder_is_created_with_its_trailing_slash(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    created = create(client, "m1")
    assert created["kind"] == "storage#managedFolder"
    assert (created["name"], created["id"], created["bucket"]) == ("m1/", f"{BUCKET}/m1/", BUCKET)
    assert created["metageneration"] == "1"
    assert created["selfLink"].endswith(f"/storage/v1/b/{BUCKET}/managedFolders/m1%2F")


def test_a_managed_folder_is_read_back(client: storage.Client, bucket: storage.Bucket) -> None:
    created = create(client, "reports/2024/")
    assert client._get_resource(folder_path("reports/2024/")) == created


def test_a_missing_managed_folder_is_not_found(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    with pytest.raises(exceptions.NotFound):
        client._get_resource(folder_path("nowhere/"))


def test_managed_folders_need_uniform_bucket_level_access(client: storage.Client) -> None:
    client.create_bucket(BUCKET)
    with pytest.raises(
        exceptions.PreconditionFailed,
        match="Uniform bucket-level access is required to be enabled on the bucket",
    ):
        create(client, "m1/")


def test_listing_managed_folders_needs_uniform_bucket_level_access(
    client: storage.Client,
) -> None:
    client.create_bucket(BUCKET)
    with pytest.raises(exceptions.PreconditionFailed):
        names(client)


def test_an_existing_managed_folder_is_a_conflict(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "m1/")
    with pytest.raises(
        exceptions.Conflict, match=re.escape("The specified managed folder already exists.")
    ):
        create(client, "m1/")


def test_a_child_may_come_before_its_parents(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "child/of/missing/")
    assert names(client) == ["child/of/missing/"]


def test_managed_folders_are_listed_by_name_from_a_prefix(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    for name in ("b/", "a/", "a/inner/", "c/"):
        create(client, name)
    assert names(client) == ["a/", "a/inner/", "b/", "c/"]
    assert names(client, prefix="a/") == ["a/", "a/inner/"]


def test_managed_folders_are_listed_a_page_at_a_time(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    for name in ("a/", "b/", "c/"):
        create(client, name)
    first = client._get_resource(FOLDERS, query_params={"pageSize": 2})
    rest = client._get_resource(
        FOLDERS, query_params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    )
    assert [i["name"] for i in first["items"]] + [i["name"] for i in rest["items"]] == [
        "a/",
        "b/",
        "c/",
    ]
    assert "nextPageToken" not in rest


def test_a_bucket_without_managed_folders_lists_no_items(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    assert client._get_resource(FOLDERS) == {"kind": "storage#managedFolders"}


def test_a_managed_folder_is_deleted(client: storage.Client, bucket: storage.Bucket) -> None:
    create(client, "m1/")
    client._delete_resource(folder_path("m1/"))
    assert names(client) == []


def test_a_managed_folder_holding_objects_is_kept_without_allow_non_empty(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "m1/")
    bucket.blob("m1/inside.txt").upload_from_string("x")
    with pytest.raises(
        exceptions.Conflict, match=re.escape("The managed folder you tried to delete is not empty.")
    ):
        client._delete_resource(folder_path("m1/"))


def test_allow_non_empty_deletes_the_folder_and_keeps_its_objects(
    client: storage.Client, bucket: storage.Bucket, fake_storage: Any
) -> None:
    create(client, "m1/")
    bucket.blob("m1/inside.txt").upload_from_string("x")
    client._delete_resource(folder_path("m1/"), query_params={"allowNonEmpty": True})
    assert names(client) == []
    assert fake_storage.objects(BUCKET) == ["m1/inside.txt"]


def test_a_managed_folder_holding_managed_folders_is_not_empty(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "child/")
    create(client, "child/deeper/")
    with pytest.raises(exceptions.Conflict):
        client._delete_resource(folder_path("child/"))


def test_a_delete_under_another_metageneration_fails(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "m1/")
    with pytest.raises(exceptions.PreconditionFailed):
        client._delete_resource(folder_path("m1/"), query_params={"ifMetagenerationMatch": 2})


# -- includeFoldersAsPrefixes --------------------------------------------------------------------


def prefixes(client: storage.Client, **options: Any) -> set[str]:
    blobs = client.list_blobs(BUCKET, delimiter="/", **options)
    list(blobs)
    return set(blobs.prefixes)


def test_include_folders_as_prefixes_lists_empty_managed_folders(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "empty/")
    bucket.blob("full/a.txt").upload_from_string("x")
    assert prefixes(client, include_folders_as_prefixes=True) == {"empty/", "full/"}


def test_without_include_folders_as_prefixes_only_objects_make_prefixes(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "empty/")
    bucket.blob("full/a.txt").upload_from_string("x")
    assert prefixes(client) == {"full/"}


def test_a_nested_managed_folder_shows_as_its_prefix_at_the_listing_level(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    create(client, "a/b/")
    assert prefixes(client, include_folders_as_prefixes=True) == {"a/"}
    assert prefixes(client, include_folders_as_prefixes=True, prefix="a/") == {"a/b/"}
