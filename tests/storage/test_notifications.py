"""Pub/Sub notifications for Cloud Storage, through the real storage and pubsub clients."""

from __future__ import annotations

import datetime
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage
from google.cloud.storage import transfer_manager

TOPIC = "gcs-events"
BUCKET = "watched-bucket"
DAY = 86_400


@pytest.fixture
def client(fake_storage: Any, fake_pubsub: Any) -> Any:
    fake_pubsub.create_topic(TOPIC)
    with closing(storage.Client()) as gcs:
        yield gcs


@pytest.fixture
def bucket(client: Any) -> Any:
    return client.create_bucket(BUCKET)


def watch(bucket: Any, **options: Any) -> Any:
    """Create a notification configuration for TOPIC on ``bucket``."""
    options.setdefault("payload_format", "JSON_API_V1")
    notification = bucket.notification(topic_name=TOPIC, **options)
    notification.create()
    return notification


def events(fake_pubsub: Any, topic: str = TOPIC) -> list[tuple[str, str]]:
    """(eventType, objectId) of every message on ``topic``, in publish order."""
    return [
        (m.attributes["eventType"], m.attributes["objectId"]) for m in fake_pubsub.published(topic)
    ]


def last(fake_pubsub: Any) -> Any:
    return fake_pubsub.published(TOPIC)[-1]


# -- configurations ------------------------------------------------------------------------


def test_create_answers_the_configuration_with_an_id_and_the_full_topic_name(
    bucket: Any,
) -> None:
    notification = watch(bucket)
    assert notification.notification_id == "1"
    assert notification.etag == "1"
    assert notification._properties["topic"] == (
        f"//pubsub.googleapis.com/projects/test-project/topics/{TOPIC}"
    )
    assert notification.self_link.endswith(f"/b/{BUCKET}/notificationConfigs/1")


def test_get_notification_reads_every_setting_back(bucket: Any) -> None:
    created = watch(
        bucket,
        event_types=["OBJECT_DELETE", "OBJECT_FINALIZE"],
        blob_name_prefix="in/",
        payload_format="NONE",
        custom_attributes={"team": "data"},
    )
    again = bucket.get_notification(created.notification_id)
    assert again.event_types == ["OBJECT_FINALIZE", "OBJECT_DELETE"]  # GCS's own order
    assert again.blob_name_prefix == "in/"
    assert again.payload_format == "NONE"
    assert again.custom_attributes == {"team": "data"}
    # get_notification() reloads by id and leaves topic_name unset (a client quirk).
    assert again._properties["topic"].endswith(f"/topics/{TOPIC}")


def test_list_notifications_returns_every_configuration_oldest_first(bucket: Any) -> None:
    first = watch(bucket, event_types=["OBJECT_FINALIZE"])
    second = watch(bucket, event_types=["OBJECT_DELETE"])
    listed = list(bucket.list_notifications())
    assert [n.notification_id for n in listed] == [first.notification_id, second.notification_id]
    assert [n.topic_name for n in listed] == [TOPIC, TOPIC]


def test_a_bucket_without_configurations_lists_none(bucket: Any) -> None:
    assert list(bucket.list_notifications()) == []


def test_a_deleted_configuration_no_longer_exists(bucket: Any) -> None:
    notification = watch(bucket)
    assert notification.exists()
    notification.delete()
    assert not notification.exists()
    with pytest.raises(exceptions.NotFound, match="The requested resource was not found"):
        bucket.get_notification(notification.notification_id)


def test_creating_and_deleting_a_configuration_move_the_bucket_metageneration(
    client: Any, bucket: Any
) -> None:
    notification = watch(bucket)
    assert client.get_bucket(BUCKET).metageneration == 2
    notification.delete()
    assert client.get_bucket(BUCKET).metageneration == 3


def test_a_topic_that_does_not_exist_is_refused_as_gcs_refuses_it(bucket: Any) -> None:
    missing = bucket.notification(topic_name="nowhere", payload_format="NONE")
    with pytest.raises(exceptions.BadRequest) as caught:
        missing.create()
    message = str(caught.value)
    assert "Cloud Pub/Sub topic '//pubsub.googleapis.com/projects/test-project/topics/nowhere'" in (
        message
    )
    assert "@gs-project-accounts.iam.gserviceaccount.com' does not have permission to it." in (
        message
    )
    assert list(bucket.list_notifications()) == []


def test_a_malformed_topic_name_is_refused(bucket: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match="Invalid Google Cloud Pub/Sub topic"):
        bucket.notification(topic_name="9lives", payload_format="NONE").create()


def test_more_than_five_custom_attributes_are_refused(bucket: Any) -> None:
    attributes = {f"k{i}": "v" for i in range(6)}
    with pytest.raises(exceptions.BadRequest, match="Maximum of 5 custom attributes"):
        watch(bucket, custom_attributes=attributes)


def test_an_eleventh_configuration_for_the_same_event_type_is_refused(bucket: Any) -> None:
    for _ in range(10):
        watch(bucket, event_types=["OBJECT_FINALIZE"])
    watch(bucket, event_types=["OBJECT_DELETE"])  # no overlap: still accepted
    with pytest.raises(exceptions.BadRequest, match="Too many overlapping notifications"):
        watch(bucket)  # every event type, OBJECT_FINALIZE included


# -- events --------------------------------------------------------------------------------


def test_an_upload_publishes_object_finalize(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket)
    bucket.blob("a.txt").upload_from_string("hello")
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "a.txt")]


def test_a_resumable_upload_publishes_object_finalize_once_it_completes(
    bucket: Any, fake_pubsub: Any
) -> None:
    watch(bucket)
    blob = bucket.blob("big.bin", chunk_size=256 * 1024)
    blob.upload_from_string(b"x" * (600 * 1024))
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "big.bin")]


def test_an_xml_multipart_upload_publishes_object_finalize_when_completed(
    bucket: Any, fake_pubsub: Any, tmp_path: Path
) -> None:
    watch(bucket)
    source = tmp_path / "parts.bin"
    source.write_bytes(b"p" * (3 * 1024 * 1024))
    transfer_manager.upload_chunks_concurrently(
        str(source),
        bucket.blob("joined.bin"),
        chunk_size=1024 * 1024,
        worker_type=transfer_manager.THREAD,
    )
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "joined.bin")]


def test_copy_rewrite_and_compose_each_publish_object_finalize(
    bucket: Any, fake_pubsub: Any
) -> None:
    source = bucket.blob("src")
    source.upload_from_string("data")
    watch(bucket)
    bucket.copy_blob(source, bucket, "copied")
    bucket.blob("rewritten").rewrite(source)
    bucket.blob("composed").compose([source, bucket.blob("copied")])
    assert events(fake_pubsub) == [
        ("OBJECT_FINALIZE", "copied"),
        ("OBJECT_FINALIZE", "rewritten"),
        ("OBJECT_FINALIZE", "composed"),
    ]


def test_overwriting_without_versioning_publishes_finalize_and_delete(
    bucket: Any, fake_pubsub: Any
) -> None:
    blob = bucket.blob("doc")
    blob.upload_from_string("v1")
    old = blob.generation
    watch(bucket)
    blob.upload_from_string("v2")
    finalize, delete = fake_pubsub.published(TOPIC)
    assert finalize.attributes["eventType"] == "OBJECT_FINALIZE"
    assert finalize.attributes["overwroteGeneration"] == str(old)
    assert delete.attributes["eventType"] == "OBJECT_DELETE"
    assert delete.attributes["objectGeneration"] == str(old)
    assert delete.attributes["overwrittenByGeneration"] == str(blob.generation)


def test_overwriting_with_versioning_publishes_object_archive_for_the_old_generation(
    client: Any, fake_pubsub: Any
) -> None:
    bucket = client.bucket("versioned-bucket")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    blob = bucket.blob("doc")
    blob.upload_from_string("v1")
    old = blob.generation
    watch(bucket)
    blob.upload_from_string("v2")
    archive = last(fake_pubsub)
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "doc"), ("OBJECT_ARCHIVE", "doc")]
    assert archive.attributes["objectGeneration"] == str(old)
    assert archive.attributes["overwrittenByGeneration"] == str(blob.generation)


def test_deleting_an_object_publishes_object_delete(bucket: Any, fake_pubsub: Any) -> None:
    blob = bucket.blob("gone")
    blob.upload_from_string("x")
    watch(bucket)
    blob.delete()
    assert events(fake_pubsub) == [("OBJECT_DELETE", "gone")]
    assert "overwrittenByGeneration" not in last(fake_pubsub).attributes


def test_deleting_a_live_object_with_versioning_publishes_object_archive(
    client: Any, fake_pubsub: Any
) -> None:
    bucket = client.bucket("versioned-bucket")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    bucket.blob("kept").upload_from_string("x")
    watch(bucket)
    bucket.blob("kept").delete()
    assert events(fake_pubsub) == [("OBJECT_ARCHIVE", "kept")]
    payload = json.loads(last(fake_pubsub).data)
    assert "timeDeleted" in payload


def test_deleting_a_noncurrent_generation_publishes_object_delete(
    client: Any, fake_pubsub: Any
) -> None:
    bucket = client.bucket("versioned-bucket")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    blob = bucket.blob("kept")
    blob.upload_from_string("v1")
    old = blob.generation
    blob.upload_from_string("v2")
    watch(bucket)
    bucket.delete_blob("kept", generation=old)
    assert events(fake_pubsub) == [("OBJECT_DELETE", "kept")]
    assert last(fake_pubsub).attributes["objectGeneration"] == str(old)


def test_a_metadata_patch_publishes_object_metadata_update(bucket: Any, fake_pubsub: Any) -> None:
    blob = bucket.blob("tagged")
    blob.upload_from_string("x")
    watch(bucket)
    blob.metadata = {"state": "done"}
    blob.patch()
    assert events(fake_pubsub) == [("OBJECT_METADATA_UPDATE", "tagged")]
    assert json.loads(last(fake_pubsub).data)["metadata"] == {"state": "done"}


def test_a_lifecycle_deletion_publishes_object_delete(
    gcpfakes: Any, bucket: Any, fake_pubsub: Any
) -> None:
    bucket.add_lifecycle_delete_rule(age=1)
    bucket.patch()
    bucket.blob("old").upload_from_string("x")
    watch(bucket, event_types=["OBJECT_DELETE"])
    gcpfakes.clock.advance(2 * DAY)
    assert list(bucket.list_blobs()) == []
    assert events(fake_pubsub) == [("OBJECT_DELETE", "old")]


def test_a_failed_upload_publishes_nothing(bucket: Any, fake_pubsub: Any) -> None:
    bucket.blob("once").upload_from_string("v1")
    watch(bucket)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("once").upload_from_string("v2", if_generation_match=0)
    assert fake_pubsub.published(TOPIC) == []


# -- filters -------------------------------------------------------------------------------


def test_event_types_limit_what_is_published(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket, event_types=["OBJECT_DELETE"])
    blob = bucket.blob("a")
    blob.upload_from_string("x")
    blob.delete()
    assert events(fake_pubsub) == [("OBJECT_DELETE", "a")]


def test_object_name_prefix_limits_what_is_published(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket, blob_name_prefix="incoming/")
    bucket.blob("incoming/a").upload_from_string("x")
    bucket.blob("outgoing/b").upload_from_string("x")
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "incoming/a")]


def test_each_matching_configuration_publishes_its_own_message(
    bucket: Any, fake_pubsub: Any
) -> None:
    first = watch(bucket)
    second = watch(bucket, event_types=["OBJECT_FINALIZE"])
    bucket.blob("a").upload_from_string("x")
    configs = [m.attributes["notificationConfig"] for m in fake_pubsub.published(TOPIC)]
    assert configs == [
        f"projects/_/buckets/{BUCKET}/notificationConfigs/{first.notification_id}",
        f"projects/_/buckets/{BUCKET}/notificationConfigs/{second.notification_id}",
    ]


# -- messages ------------------------------------------------------------------------------


def test_attributes_name_the_configuration_event_bucket_object_and_generation(
    bucket: Any, fake_pubsub: Any
) -> None:
    notification = watch(bucket)
    blob = bucket.blob("dir/a.txt")
    blob.upload_from_string("x")
    attributes = dict(last(fake_pubsub).attributes)
    event_time = attributes.pop("eventTime")
    assert attributes == {
        "notificationConfig": (
            f"projects/_/buckets/{BUCKET}/notificationConfigs/{notification.notification_id}"
        ),
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": BUCKET,
        "objectId": "dir/a.txt",
        "objectGeneration": str(blob.generation),
    }
    assert datetime.datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_custom_attributes_come_with_every_message(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket, custom_attributes={"team": "data", "env": "test"})
    bucket.blob("a").upload_from_string("x")
    attributes = last(fake_pubsub).attributes
    assert (attributes["team"], attributes["env"]) == ("data", "test")


def test_a_json_api_v1_payload_is_the_object_resource(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket)
    blob = bucket.blob("a.json")
    blob.upload_from_string('{"k": 1}', content_type="application/json")
    payload = json.loads(last(fake_pubsub).data)
    assert payload["kind"] == "storage#object"
    assert (payload["bucket"], payload["name"]) == (BUCKET, "a.json")
    assert payload["generation"] == str(blob.generation)
    assert (payload["contentType"], payload["size"]) == ("application/json", "8")
    assert payload["md5Hash"] == blob.md5_hash


def test_a_none_payload_is_empty(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket, payload_format="NONE")
    bucket.blob("a").upload_from_string("x")
    message = last(fake_pubsub)
    assert message.data == b""
    assert message.attributes["payloadFormat"] == "NONE"


def test_event_time_follows_the_fakes_clock(bucket: Any, fake_pubsub: Any) -> None:
    watch(bucket)
    with freeze_time("2031-05-06 07:08:09.123456"):
        bucket.blob("a").upload_from_string("x")
    assert last(fake_pubsub).attributes["eventTime"] == "2031-05-06T07:08:09.123456Z"


def test_a_real_subscriber_pull_receives_the_event(bucket: Any, fake_pubsub: Any) -> None:
    subscription = fake_pubsub.create_subscription("gcs-worker", TOPIC)
    watch(bucket)
    bucket.blob("uploads/cat.jpg").upload_from_string(b"\xff\xd8", content_type="image/jpeg")
    with pubsub_v1.SubscriberClient() as subscriber:
        response = subscriber.pull(subscription=subscription, max_messages=10)
        (received,) = response.received_messages
        subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
    message = received.message
    assert message.attributes["eventType"] == "OBJECT_FINALIZE"
    assert message.attributes["objectId"] == "uploads/cat.jpg"
    assert json.loads(message.data)["contentType"] == "image/jpeg"


# -- undelivered ---------------------------------------------------------------------------


def test_with_no_pubsub_fake_the_event_is_kept_as_undelivered(fake_storage: Any) -> None:
    with closing(storage.Client()) as gcs:
        bucket = gcs.create_bucket(BUCKET)
        watch(bucket)  # no Pub/Sub fake to check the topic with: taken on trust
        bucket.blob("a").upload_from_string("x")  # the storage call still succeeds
    (undelivered,) = fake_storage.undelivered_notifications
    assert undelivered.topic == f"projects/test-project/topics/{TOPIC}"
    assert undelivered.attributes["eventType"] == "OBJECT_FINALIZE"
    assert undelivered.reason == "no Pub/Sub fake was active"


def test_an_event_for_a_deleted_topic_is_kept_as_undelivered(
    bucket: Any, fake_pubsub: Any, fake_storage: Any
) -> None:
    watch(bucket)
    with pubsub_v1.PublisherClient() as publisher:
        publisher.delete_topic(topic=fake_pubsub.topic_path(TOPIC))
    bucket.blob("a").upload_from_string("x")
    (undelivered,) = fake_storage.undelivered_notifications
    assert undelivered.reason.startswith("NotFound")


def test_faults_injected_into_publish_leave_notifications_alone(
    bucket: Any, fake_pubsub: Any
) -> None:
    watch(bucket)
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable("down"))
    bucket.blob("a").upload_from_string("x")
    assert events(fake_pubsub) == [("OBJECT_FINALIZE", "a")]
