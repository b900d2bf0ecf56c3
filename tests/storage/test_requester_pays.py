"""Requester-pays buckets through the real client.

GCS lets a caller holding createBillingAssignment on the bucket's project go without a
billing project; everyone else names one. The fake's caller holds it on the fakes' project
unless ``fake_storage.outside_caller`` is set, which most tests here do to check the 400.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage
from google.cloud.storage import transfer_manager

try:
    from google.cloud.storage.exceptions import InvalidResponse
except ImportError:  # google-cloud-storage < 3.0 raises google-resumable-media's
    from google.resumable_media.common import InvalidResponse  # type: ignore[no-redef]

MISSING = "Bucket is a requester pays bucket but no user project provided."
MIB = 1024 * 1024


@pytest.fixture
def client(fake_storage: Any) -> Any:
    """A client of a caller from outside the project: requester pays bills it."""
    fake_storage.outside_caller = True
    with closing(storage.Client()) as gcs:
        bucket = gcs.bucket("shared-data")
        bucket.requester_pays = True
        gcs.create_bucket(bucket)  # creating one bills no one: there is no bucket yet
        yield gcs


@pytest.fixture
def paid(client: Any) -> Any:
    """The requester-pays bucket, as a caller who names a billing project sees it."""
    return client.bucket("shared-data", user_project="reader-project")


def test_upload_without_a_user_project_is_refused_with_gcs_400(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        client.bucket("shared-data").blob("a.txt").upload_from_string("x")


def test_download_without_a_user_project_is_refused_in_plain_text(paid: Any, client: Any) -> None:
    paid.blob("a.txt").upload_from_string("x")
    # Media errors come as plain text; the client quotes it in the exception message.
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        client.bucket("shared-data").blob("a.txt").download_as_bytes()


def test_getting_the_bucket_itself_needs_a_user_project(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        client.get_bucket("shared-data")
    assert caught.value.message.endswith(MISSING)
    assert caught.value.errors[0]["reason"] == "required"
    assert client.get_bucket(client.bucket("shared-data", user_project="p")).requester_pays


def test_listing_objects_without_a_user_project_is_refused(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        list(client.list_blobs("shared-data"))


def test_listing_the_projects_buckets_needs_no_user_project(client: Any) -> None:
    assert [b.name for b in client.list_buckets()] == ["shared-data"]


def test_every_object_call_works_with_a_user_project(paid: Any, fake_storage: Any) -> None:
    blob = paid.blob("report.csv")
    blob.upload_from_string("a,b\n1,2\n", content_type="text/csv")
    assert blob.download_as_bytes() == b"a,b\n1,2\n"
    assert [b.name for b in paid.list_blobs()] == ["report.csv"]
    blob.metadata = {"owner": "data-team"}
    blob.patch()
    paid.copy_blob(blob, paid, "copy.csv")
    paid.blob("both.csv").compose([blob, paid.blob("copy.csv")])
    paid.blob("copy.csv").delete()
    assert fake_storage.objects("shared-data") == ["both.csv", "report.csv"]


def test_resumable_upload_is_billed_when_its_session_starts(paid: Any, client: Any) -> None:
    data = b"z" * (3 * 256 * 1024)
    blob = paid.blob("big.bin", chunk_size=256 * 1024)
    blob.upload_from_string(data)  # the chunks go to the session URI, which carries no project
    assert paid.blob("big.bin").download_as_bytes() == data
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        client.bucket("shared-data").blob("big2.bin", chunk_size=256 * 1024).upload_from_string(
            data
        )


def test_copy_into_a_requester_pays_bucket_needs_a_user_project(client: Any) -> None:
    plain = client.create_bucket("plain-source")
    source = plain.blob("a.txt")
    source.upload_from_string("x")
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        plain.copy_blob(source, client.bucket("shared-data"), "a.txt")


def test_turning_requester_pays_off_needs_a_user_project_and_frees_the_bucket(
    client: Any, paid: Any
) -> None:
    unpaid = client.bucket("shared-data")
    unpaid.requester_pays = False
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        unpaid.patch()
    paid.requester_pays = False
    paid.patch()
    unpaid.blob("free.txt").upload_from_string("now anyone pays nothing extra")
    assert client.get_bucket("shared-data").requester_pays is False


def test_deleting_the_bucket_needs_a_user_project(client: Any, paid: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        client.bucket("shared-data").delete()
    paid.delete()
    assert client.lookup_bucket("shared-data") is None


def test_xml_multipart_upload_names_its_project_in_a_header(
    paid: Any, fake_storage: Any, tmp_path: Path
) -> None:
    source = tmp_path / "parts.bin"
    source.write_bytes(b"p" * (2 * MIB))
    transfer_manager.upload_chunks_concurrently(
        str(source), paid.blob("parts.bin"), chunk_size=MIB, worker_type=transfer_manager.THREAD
    )
    assert fake_storage.get("shared-data", "parts.bin") == source.read_bytes()


def test_fake_storage_handle_arranges_state_without_a_user_project(
    client: Any, paid: Any, fake_storage: Any
) -> None:
    fake_storage.put("shared-data", "seed.txt", "seeded")
    fake_storage.create_bucket("also-paid", requester_pays=True)
    assert paid.blob("seed.txt").download_as_text() == "seeded"
    assert client.bucket("also-paid", user_project="p").reload() is None
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        client.get_bucket("also-paid")


def test_xml_multipart_upload_without_the_header_is_refused_with_the_xml_code(
    client: Any, tmp_path: Path
) -> None:
    source = tmp_path / "parts.bin"
    source.write_bytes(b"p" * (2 * MIB))
    with pytest.raises(InvalidResponse) as caught:
        transfer_manager.upload_chunks_concurrently(
            str(source),
            client.bucket("shared-data").blob("parts.bin"),
            chunk_size=MIB,
            worker_type=transfer_manager.THREAD,
        )
    assert caught.value.response.status_code == 400
    assert "<Code>UserProjectMissing</Code>" in caught.value.response.text


# -- a caller of the bucket's own project (the default) ---------------------------------------


@pytest.fixture
def member(fake_storage: Any) -> Any:
    """A client of a caller in the fakes' project, owner of a requester-pays bucket."""
    with closing(storage.Client()) as gcs:
        bucket = gcs.bucket("team-data")
        bucket.requester_pays = True
        gcs.create_bucket(bucket)
        yield gcs


def test_a_caller_of_the_buckets_project_needs_no_user_project(
    member: Any, fake_storage: Any, tmp_path: Path
) -> None:
    assert fake_storage.outside_caller is False
    bucket = member.get_bucket("team-data")
    assert bucket.requester_pays
    assert bucket.user_project is None
    blob = bucket.blob("a.txt")
    blob.upload_from_string("x")
    assert blob.download_as_bytes() == b"x"
    assert [b.name for b in member.list_blobs("team-data")] == ["a.txt"]
    source = tmp_path / "parts.bin"
    source.write_bytes(b"p" * (2 * MIB))
    transfer_manager.upload_chunks_concurrently(  # the XML API, no x-goog-user-project
        str(source), bucket.blob("parts.bin"), chunk_size=MIB, worker_type=transfer_manager.THREAD
    )
    bucket.requester_pays = False
    bucket.patch()
    assert member.get_bucket("team-data").requester_pays is False
    assert fake_storage.objects("team-data") == ["a.txt", "parts.bin"]


def test_a_bucket_of_another_project_still_needs_a_user_project(member: Any) -> None:
    with closing(storage.Client(project="partner-project")) as partner:
        shared = partner.bucket("partner-data")
        shared.requester_pays = True
        partner.create_bucket(shared)
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        member.bucket("partner-data").blob("a.txt").upload_from_string("x")
    member.bucket("partner-data", user_project="test-project").blob("a.txt").upload_from_string("x")


def test_outside_caller_turns_the_400_on_and_off(member: Any, fake_storage: Any) -> None:
    fake_storage.outside_caller = True
    with pytest.raises(exceptions.BadRequest, match=MISSING):
        member.get_bucket("team-data")
    with pytest.raises(exceptions.BadRequest, match=MISSING):  # media: plain text
        member.bucket("team-data").blob("a.txt").download_as_bytes()
    fake_storage.outside_caller = False
    assert member.get_bucket("team-data").requester_pays
