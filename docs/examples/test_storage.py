"""The Cloud Storage page's examples, each through the real ``storage.Client``.

The functions that are not tests stand for the application's code; the page shows the tests
(with that code where it is the point, as for signed URLs). A few tests the page does not show
check what its prose says around an example (the failure a comment promises, for one).
"""

from __future__ import annotations

import datetime
import json
from contextlib import closing
from urllib.parse import urlsplit

import pytest
import requests
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import pubsub_v1, storage

try:  # google-cloud-storage 3.0 took google-resumable-media in
    from google.cloud.storage.exceptions import DataCorruption
except ImportError:  # 2.x
    from google.resumable_media.common import DataCorruption

# -- Arranging and inspecting state ----------------------------------------------------------


def make_thumbnails(bucket_name: str) -> None:
    """The code under test: a thumbnail beside each photo (here, its first KiB)."""
    with closing(storage.Client()) as gcs:
        bucket = gcs.bucket(bucket_name)
        for photo in gcs.list_blobs(bucket_name, delimiter="/"):  # thumbs/ left out
            thumbnail = photo.download_as_bytes()[:1024]
            bucket.blob(f"thumbs/{photo.name}").upload_from_string(
                thumbnail, content_type=photo.content_type
            )


def test_thumbnailer(fake_storage):
    fake_storage.put("photos", "cat.jpg", b"\xff\xd8...", content_type="image/jpeg")

    make_thumbnails("photos")  # the code under test, with its own storage.Client()

    thumb = fake_storage.object("photos", "thumbs/cat.jpg")
    assert thumb.content_type == "image/jpeg"
    assert thumb.writer_thread == "MainThread"
    assert fake_storage.objects("photos") == ["cat.jpg", "thumbs/cat.jpg"]


def test_damaged_download_is_detected(fake_storage, tmp_path):
    fake_storage.put("files", "data.bin", b"payload")
    fake_storage.corrupt("files", "data.bin", b"paxload")
    with closing(storage.Client()) as gcs:  # a context manager itself from 3.11
        blob = gcs.bucket("files").blob("data.bin")
        with pytest.raises(DataCorruption):
            blob.download_to_filename(tmp_path / "data.bin")


def test_the_handle_raises_the_clients_errors(fake_storage):
    with pytest.raises(NotFound):
        fake_storage.get("nowhere", "x")


# -- Access control lists --------------------------------------------------------------------


def publish_report(bucket_name: str, name: str, data: bytes) -> None:
    """The code under test: a report anyone may read."""
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket(bucket_name).blob(name)
        blob.upload_from_string(data, content_type="application/pdf", predefined_acl="publicRead")


def test_export_is_public(fake_storage):
    fake_storage.create_bucket("reports")
    publish_report("reports", "q3.pdf", b"%PDF")  # your code: predefined_acl="publicRead"
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket("reports").blob("q3.pdf")
        blob.acl.reload()
        assert "READER" in blob.acl.all().get_roles()


def test_a_private_report_is_not_public(fake_storage):
    fake_storage.create_bucket("reports")
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket("reports").blob("q3.pdf")
        blob.upload_from_string(b"%PDF")
        blob.acl.reload()
        assert blob.acl.all().get_roles() == set()


# -- Soft delete -----------------------------------------------------------------------------


def test_deleted_reports_can_be_recovered(gcpfakes, fake_storage):
    with closing(storage.Client()) as gcs:
        bucket = gcs.create_bucket("reports")  # soft delete on: GCS's 7 days
        blob = bucket.blob("q3.csv")
        blob.upload_from_string("a,b")
        blob.delete()
        (deleted,) = bucket.list_blobs(soft_deleted=True)
        restored = bucket.restore_blob("q3.csv", generation=deleted.generation)
        assert restored.download_as_bytes() == b"a,b"

        restored.delete()
        gcpfakes.clock.advance(7 * 86_400)  # the policy's duration: gone for good
        assert list(bucket.list_blobs(soft_deleted=True)) == []


# -- Time ------------------------------------------------------------------------------------


def test_temp_files_expire(gcpfakes, fake_storage):
    with closing(storage.Client()) as gcs:
        bucket = gcs.create_bucket("scratch")
        bucket.add_lifecycle_delete_rule(age=1, matches_prefix=["tmp/"])
        bucket.patch()
        bucket.blob("tmp/a").upload_from_string("x")
        bucket.blob("keep/b").upload_from_string("y")
        gcpfakes.clock.advance(86_400)
        assert fake_storage.objects("scratch") == ["keep/b"]


# -- Signed URLs -----------------------------------------------------------------------------


def make_download_link(bucket_name: str, name: str) -> str:
    """The code under test: a link that works for an hour."""
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket(bucket_name).blob(name)
        return blob.generate_signed_url(version="v4", expiration=datetime.timedelta(hours=1))


def test_download_link_expires(fake_storage):
    fake_storage.put("reports", "q3.pdf", b"%PDF")
    url = make_download_link("reports", "q3.pdf")  # your code: blob.generate_signed_url(...)
    assert requests.get(url).content == b"%PDF"
    fake_storage.clock.advance(datetime.timedelta(hours=1).total_seconds() + 1)
    assert requests.get(url).status_code == 400


def make_cdn_link(name: str) -> str:
    """The code under test: a link on the bucket's own hostname, behind a CDN."""
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket("cdn.example.com").blob(name)
        return blob.generate_signed_url(
            version="v4",
            expiration=datetime.timedelta(minutes=10),
            bucket_bound_hostname="cdn.example.com",
        )


def test_cdn_link(fake_storage, gcpfakes_server):
    fake_storage.put("cdn.example.com", "logo.png", b"PNG")
    url = make_cdn_link("logo.png")  # your code: bucket_bound_hostname="cdn.example.com"
    parts = urlsplit(url)
    answer = requests.get(
        f"{gcpfakes_server.storage_url}{parts.path}?{parts.query}", headers={"Host": parts.netloc}
    )
    assert answer.content == b"PNG"


def test_a_cdn_link_sent_with_another_host_is_refused(fake_storage, gcpfakes_server):
    fake_storage.put("cdn.example.com", "logo.png", b"PNG")
    parts = urlsplit(make_cdn_link("logo.png"))
    answer = requests.get(
        f"{gcpfakes_server.storage_url}{parts.path}?{parts.query}",
        headers={"Host": "cdn.example.org"},
    )
    assert answer.status_code == 403
    assert b"SignatureDoesNotMatch" in answer.content


# -- Notifications ---------------------------------------------------------------------------


def test_upload_reaches_the_worker(fake_storage, fake_pubsub):
    fake_pubsub.create_topic("gcs-events")
    subscription = fake_pubsub.create_subscription("worker", "gcs-events")
    with closing(storage.Client()) as gcs:
        bucket = gcs.create_bucket("uploads")
        bucket.notification(topic_name="gcs-events", payload_format="JSON_API_V1").create()

        bucket.blob("cat.jpg").upload_from_string(b"...", content_type="image/jpeg")

    with pubsub_v1.SubscriberClient() as subscriber:
        (received,) = subscriber.pull(subscription=subscription, max_messages=1).received_messages
    assert received.message.attributes["eventType"] == "OBJECT_FINALIZE"
    assert json.loads(received.message.data)["name"] == "cat.jpg"


# -- Bad input -------------------------------------------------------------------------------


def test_a_bad_custom_time_changes_nothing(fake_storage):
    fake_storage.put("files", "a.txt", b"a")
    with closing(storage.Client()) as gcs:
        blob = gcs.bucket("files").get_blob("a.txt")
        blob._patch_property("customTime", "yesterday")  # custom_time = ... sends RFC 3339
        with pytest.raises(BadRequest, match="Illegal timestamp format"):
            blob.patch()
    assert fake_storage.object("files", "a.txt").custom_time is None


# -- Fidelity choices: requester pays --------------------------------------------------------


def export_report(bucket_name: str) -> list[str]:
    """The code under test: it reads another team's bucket and bills its own project."""
    with closing(storage.Client()) as gcs:
        bucket = gcs.bucket(bucket_name, user_project=gcs.project)
        return [blob.name for blob in bucket.list_blobs()]


def test_export_names_a_billing_project(fake_storage):
    fake_storage.create_bucket("shared-data", requester_pays=True)
    fake_storage.outside_caller = True  # as the export job's service account
    export_report("shared-data")  # fails with BadRequest if it omits user_project


def test_without_a_billing_project_the_export_fails(fake_storage):
    fake_storage.create_bucket("shared-data", requester_pays=True)
    fake_storage.outside_caller = True
    expected = pytest.raises(BadRequest, match="no user project provided")
    with closing(storage.Client()) as gcs, expected:
        list(gcs.bucket("shared-data").list_blobs())
