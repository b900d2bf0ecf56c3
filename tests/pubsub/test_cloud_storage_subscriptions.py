"""Cloud Storage subscriptions (and BigQuery ones) through the real clients: the
subscription is created with the real ``SubscriberClient``, messages are published with the
real ``PublisherClient``, and the objects are read back with the real ``storage.Client``."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
import time_machine
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage
from google.protobuf import duration_pb2, field_mask_pb2
from google.pubsub_v1 import types

BUCKET = "exports"
State = types.CloudStorageConfig.State


@pytest.fixture
def gcs() -> Any:
    client = storage.Client()
    yield client
    client.close()


@pytest.fixture
def topic(fake_pubsub: Any, fake_storage: Any) -> str:
    fake_storage.create_bucket(BUCKET)
    path: str = fake_pubsub.create_topic("events")
    return path


def _create(subscriber: Any, fake_pubsub: Any, topic: str, **config: Any) -> Any:
    config.setdefault("bucket", BUCKET)
    return subscriber.create_subscription(
        request={
            "name": fake_pubsub.subscription_path("archive"),
            "topic": topic,
            "cloud_storage_config": config,
        }
    )


def _publish(publisher: Any, topic: str, *payloads: bytes, **attributes: str) -> None:
    for future in [publisher.publish(topic, p, **attributes) for p in payloads]:
        future.result()


def _objects(gcs: Any) -> list[Any]:
    return list(gcs.bucket(BUCKET).list_blobs())


def _records(blob: Any) -> list[dict[str, Any]]:
    return list(fastavro.reader(io.BytesIO(blob.download_as_bytes())))


# -- batching on the clock -----------------------------------------------------------------


def test_a_batch_is_written_once_its_max_duration_has_passed(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    with freeze_time("2026-03-04 05:06:07") as frozen:
        _create(subscriber, fake_pubsub, topic, max_duration=timedelta(minutes=2))
        _publish(publisher, topic, b"one", b"two")
        frozen.tick(119)
        assert _objects(gcs) == []
        frozen.tick(1)
        [blob] = _objects(gcs)
    assert blob.download_as_bytes() == b"one\ntwo\n"


def test_the_default_max_duration_is_five_minutes(
    fake_pubsub: Any, fake_storage: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    _create(subscriber, fake_pubsub, topic)
    _publish(publisher, topic, b"a")
    fake_storage.clock.advance(299)
    assert _objects(gcs) == []
    fake_storage.clock.advance(1)
    assert [b.download_as_bytes() for b in _objects(gcs)] == [b"a\n"]


def test_a_batch_is_written_when_it_reaches_max_messages(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    _create(subscriber, fake_pubsub, topic, max_messages=1000)
    payloads = [str(i).encode() for i in range(1500)]
    _publish(publisher, topic, *payloads)
    [blob] = _objects(gcs)
    assert blob.download_as_bytes().splitlines() == payloads[:1000]
    assert fake_pubsub.flush_cloud_storage() != []
    assert len(_objects(gcs)) == 2


def test_a_message_that_would_pass_max_bytes_starts_the_next_file(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    _create(subscriber, fake_pubsub, topic, max_bytes=1000)
    _publish(publisher, topic, b"x" * 599, b"y" * 599, b"z" * 5000)
    blobs = sorted(_objects(gcs), key=lambda b: b.generation)
    # x+newline (600) fits; y would make 1200, so x's file is written and y opens the next;
    # z (larger than max_bytes alone) closes y's file and is a file of its own.
    assert [b.download_as_bytes() for b in blobs] == [
        b"x" * 599 + b"\n",
        b"y" * 599 + b"\n",
        b"z" * 5000 + b"\n",
    ]


def test_written_messages_are_acknowledged_and_not_pulled(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any
) -> None:
    sub = _create(subscriber, fake_pubsub, topic)
    _publish(publisher, topic, b"a", b"b")
    assert fake_pubsub.flush_cloud_storage("archive")
    response = subscriber.pull(subscription=sub.name, max_messages=10, return_immediately=True)
    assert list(response.received_messages) == []
    state = fake_pubsub.state("archive")
    assert [m.data for m in state.acked] == [b"a", b"b"]
    assert state.unacked == 0


def test_flush_writes_nothing_without_an_open_batch(
    fake_pubsub: Any, topic: str, subscriber: Any
) -> None:
    _create(subscriber, fake_pubsub, topic)
    assert fake_pubsub.flush_cloud_storage() == []


def test_time_machine_travel_closes_a_batch(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=timezone.utc), tick=False) as traveller:
        _create(subscriber, fake_pubsub, topic, max_duration=timedelta(minutes=1))
        _publish(publisher, topic, b"a")
        assert _objects(gcs) == []
        traveller.shift(60)
        assert [b.download_as_bytes() for b in _objects(gcs)] == [b"a\n"]


def test_a_notification_of_the_export_bucket_to_the_same_topic_lands_in_the_next_batch(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    # Writing an object publishes a notification into the topic the subscription writes
    # from: the write must neither wait for itself nor loop.
    notification = gcs.bucket(BUCKET).notification(topic_name="events", payload_format="NONE")
    notification.create()
    _create(subscriber, fake_pubsub, topic)
    _publish(publisher, topic, b"first")
    [first] = fake_pubsub.flush_cloud_storage()
    [second] = fake_pubsub.flush_cloud_storage()
    blobs = {b.name: b for b in _objects(gcs)}
    assert blobs[first].download_as_bytes() == b"first\n"
    assert blobs[second].download_as_bytes() == b"\n"  # the notification: no data
    assert len(fake_pubsub.published("events")) == 3  # first, and one per object written


def test_a_storage_read_never_waits_for_a_batch_write_held_up_by_its_lock(
    fake_pubsub: Any, fake_storage: Any, topic: str, subscriber: Any, publisher: Any
) -> None:
    # A Storage call may look its bucket up while holding the bucket's lock (patch,
    # compose, move); a batch being written waits for that lock. The lookup's hook must
    # not wait for the writer in turn.
    _create(subscriber, fake_pubsub, topic)
    _publish(publisher, topic, b"a")
    backend = fake_storage.backend
    writing = threading.Event()
    insert_object = backend.insert_object

    def announced(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        return insert_object(*args, **kwargs)

    backend.insert_object = announced
    lock = backend.buckets[BUCKET].lock
    lock.acquire()
    writer = threading.Thread(target=fake_pubsub.flush_cloud_storage)
    reader = threading.Thread(target=backend.get_bucket, args=(BUCKET,))
    try:
        writer.start()
        assert writing.wait(10)
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "the bucket lookup waited for the batch's writer"
    finally:
        lock.release()
        writer.join(10)
        reader.join(10)
        backend.insert_object = insert_object
    assert len(fake_storage.backend.list_objects(BUCKET)) == 1


def test_a_failed_write_keeps_its_messages_and_is_raised_at_the_end_of_the_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_gcpfakes import GCPFakes
    from pytest_gcpfakes.pubsub import _cloud_storage

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encoder broke")

    monkeypatch.setattr(_cloud_storage, "encode_avro", broken)
    fakes = GCPFakes()
    with pytest.raises(RuntimeError, match="encoder broke"), fakes:  # noqa: PT012
        fakes.storage.create_bucket(BUCKET)
        topic = fakes.pubsub.create_topic("events")
        fakes.pubsub.create_subscription(
            "archive", "events", cloud_storage_config={"bucket": BUCKET, "avro_config": {}}
        )
        client = pubsub_v1.PublisherClient()
        client.publish(topic, b"a").result()  # the publish itself succeeds, as on GCP
        client.stop()
        fakes.clock.advance(300)
        state = fakes.pubsub.state("archive")
    # The batch that could not be written is back in the subscription (batched again),
    # neither acknowledged nor lost.
    assert [m.data for m in state.exporting] == [b"a"]
    assert state.acked == ()


# -- names ---------------------------------------------------------------------------------


def test_object_names_are_prefix_datetime_id_and_suffix(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    with freeze_time("2023-09-25 04:10:00"):
        _create(subscriber, fake_pubsub, topic, filename_prefix="prod_", filename_suffix="_archive")
        _publish(publisher, topic, b"a")
    [name] = fake_pubsub.flush_cloud_storage()
    assert re.fullmatch(r"prod_2023-09-25T04:10:00\+00:00_[0-9a-f]{32}_archive", name)
    assert [b.name for b in _objects(gcs)] == [name]


def test_the_datetime_format_of_object_names_is_the_subscriptions(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any
) -> None:
    with freeze_time("2024-01-02 03:04:05"):
        _create(subscriber, fake_pubsub, topic, filename_datetime_format="YYYY/MM/DD/hh_mm_ssZ")
        _publish(publisher, topic, b"a")
    [name] = fake_pubsub.flush_cloud_storage()
    assert name.startswith("2024/01/02/03_04_05+00:00_")


def test_the_datetime_in_a_name_is_when_the_batch_was_opened(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    with freeze_time("2024-01-02 03:04:05") as frozen:
        _create(subscriber, fake_pubsub, topic, filename_datetime_format="hh_mm_ss")
        _publish(publisher, topic, b"a")
        frozen.tick(400)  # written at 03:10:45, opened at 03:04:05
        [blob] = _objects(gcs)
    assert blob.name.startswith("03_04_05_")


# -- Avro ------------------------------------------------------------------------------------


def test_avro_files_hold_the_data_alone_by_default(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    _create(subscriber, fake_pubsub, topic, avro_config={})
    _publish(publisher, topic, b"a", b"b", kind="k")
    fake_pubsub.flush_cloud_storage()
    [blob] = _objects(gcs)
    assert _records(blob) == [{"data": b"a"}, {"data": b"b"}]


def test_avro_files_with_metadata_hold_the_subscription_id_time_and_attributes(
    fake_pubsub: Any, topic: str, subscriber: Any, gcs: Any
) -> None:
    sub = _create(subscriber, fake_pubsub, topic, avro_config={"write_metadata": True})
    client = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    with freeze_time("2025-06-07 08:09:10.123456"):
        message_id = client.publish(topic, b"a", ordering_key="k1", kind="x").result()
    client.stop()
    fake_pubsub.flush_cloud_storage()
    [blob] = _objects(gcs)
    assert _records(blob) == [
        {
            "subscription_name": sub.name,
            "message_id": message_id,
            "publish_time": datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=timezone.utc),
            "attributes": {"kind": "x", "ordering_key": "k1"},
            "data": b"a",
        }
    ]


AVRO_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "string"}, {"name": "qty", "type": "int"}],
}


@pytest.mark.parametrize("encoding", ["JSON", "BINARY"])
def test_avro_files_with_the_topic_schema_hold_decoded_records(
    encoding: str, fake_pubsub: Any, fake_storage: Any, subscriber: Any, gcs: Any
) -> None:
    fake_storage.create_bucket(BUCKET)
    schemas = pubsub_v1.SchemaServiceClient()
    project = f"projects/{fake_pubsub.project}"
    schema = schemas.create_schema(
        parent=project,
        schema=types.Schema(type_=types.Schema.Type.AVRO, definition=json.dumps(AVRO_SCHEMA)),
        schema_id="orders",
    )
    topic = fake_pubsub.create_topic(
        "orders", schema_settings={"schema": schema.name, "encoding": encoding}
    )
    _create(
        subscriber,
        fake_pubsub,
        topic,
        avro_config={"use_topic_schema": True, "write_metadata": True},
    )
    record = {"id": "o-1", "qty": 3}
    if encoding == "JSON":
        data = json.dumps(record).encode()
    else:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO_SCHEMA), record)
        data = out.getvalue()
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(topic, data).result()
    publisher.stop()
    fake_pubsub.flush_cloud_storage()
    [blob] = _objects(gcs)
    [written] = _records(blob)
    assert {k: written[k] for k in ("id", "qty")} == record
    assert written["subscription_name"].endswith("/archive")


def test_googles_cloud_storage_subscription_sample_writes_its_avro_files(
    fake_pubsub: Any, topic: str, publisher: Any, gcs: Any
) -> None:
    # The settings of python-pubsub's pubsub_cloudstorage_subscription sample, created as
    # it creates them (Duration message, a subscriber closed by its with block).
    max_duration = duration_pb2.Duration()
    max_duration.FromSeconds(300)
    config = pubsub_v1.types.CloudStorageConfig(
        bucket=BUCKET,
        filename_prefix="log_events_",
        filename_suffix=".avro",
        avro_config=pubsub_v1.types.CloudStorageConfig.AvroConfig(write_metadata=True),
        max_duration=max_duration,
        max_bytes=2000,
    )
    client = pubsub_v1.SubscriberClient()
    with client:
        subscription = client.create_subscription(
            request={
                "name": fake_pubsub.subscription_path("archive"),
                "topic": topic,
                "cloud_storage_config": config,
            }
        )
    assert subscription.cloud_storage_config.max_bytes == 2000
    _publish(publisher, topic, *(f"message {n}".encode() for n in range(5)))
    fake_pubsub.clock.advance(300)
    blobs = _objects(gcs)
    assert [b.name[-5:] for b in blobs] == [".avro"]
    assert blobs[0].name.startswith("log_events_")
    assert [r["data"] for r in _records(blobs[0])] == [f"message {n}".encode() for n in range(5)]


# -- states and refusals ---------------------------------------------------------------------


def test_a_subscription_to_a_missing_bucket_is_not_found_until_the_bucket_exists(
    fake_pubsub: Any, fake_storage: Any, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    topic = fake_pubsub.create_topic("events")
    sub = _create(subscriber, fake_pubsub, topic)
    assert sub.cloud_storage_config.state == State.NOT_FOUND
    assert sub.state == types.Subscription.State.RESOURCE_ERROR
    _publish(publisher, topic, b"kept")
    assert fake_pubsub.backlog("archive") == 1
    gcs.create_bucket(BUCKET)
    got = subscriber.get_subscription(subscription=sub.name)
    assert got.cloud_storage_config.state == State.ACTIVE
    assert got.state == types.Subscription.State.ACTIVE
    fake_pubsub.flush_cloud_storage()
    assert [b.download_as_bytes() for b in _objects(gcs)] == [b"kept\n"]


def test_a_batch_whose_bucket_was_deleted_goes_back_to_the_backlog(
    fake_pubsub: Any, fake_storage: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    sub = _create(subscriber, fake_pubsub, topic)
    _publish(publisher, topic, b"a")
    gcs.bucket(BUCKET).delete()
    assert fake_pubsub.flush_cloud_storage() == []
    got = subscriber.get_subscription(subscription=sub.name)
    assert got.cloud_storage_config.state == State.NOT_FOUND
    assert fake_pubsub.backlog("archive") == 1


def test_a_requester_pays_bucket_is_refused(
    fake_pubsub: Any, fake_storage: Any, subscriber: Any, gcs: Any
) -> None:
    bucket = gcs.bucket("paid")
    bucket.requester_pays = True
    gcs.create_bucket(bucket)
    topic = fake_pubsub.create_topic("events")
    with pytest.raises(exceptions.FailedPrecondition, match="Requester Pays"):
        _create(subscriber, fake_pubsub, topic, bucket="paid")


def test_a_bucket_turned_requester_pays_later_makes_the_state_permission_denied(
    fake_pubsub: Any, topic: str, subscriber: Any, gcs: Any
) -> None:
    sub = _create(subscriber, fake_pubsub, topic)
    bucket = gcs.get_bucket(BUCKET)
    bucket.requester_pays = True
    bucket.patch()
    got = subscriber.get_subscription(subscription=sub.name)
    assert got.cloud_storage_config.state == State.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"max_duration": timedelta(seconds=59)}, "max duration must be between 60 and 600"),
        ({"max_duration": timedelta(minutes=11)}, "max duration must be between 60 and 600"),
        ({"max_bytes": 999}, "max bytes must be between 1000 and 10737418240"),
        ({"max_bytes": 10 * 1024**3 + 1}, "max bytes must be between 1000 and 10737418240"),
        ({"max_messages": 999}, "max messages must be at least 1000"),
        ({"filename_suffix": "logs/"}, 'must not end in "/"'),
        ({"filename_datetime_format": "YYYY%MM"}, "filename_datetime_format"),
        ({"bucket": "gs://exports"}, 'without any prefix like "gs://"'),
    ],
)
def test_out_of_range_settings_are_invalid_argument(
    config: dict[str, Any], words: str, fake_pubsub: Any, topic: str, subscriber: Any
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(words)):
        _create(subscriber, fake_pubsub, topic, **config)
    assert fake_pubsub.subscriptions == []


def test_the_limits_themselves_are_accepted(fake_pubsub: Any, topic: str, subscriber: Any) -> None:
    sub = _create(
        subscriber,
        fake_pubsub,
        topic,
        max_duration=timedelta(minutes=10),
        max_bytes=1000,
        max_messages=1000,
    )
    assert sub.cloud_storage_config.max_bytes == 1000
    assert sub.cloud_storage_config.state == State.ACTIVE


def test_an_update_is_checked_and_changes_the_batching(
    fake_pubsub: Any, topic: str, subscriber: Any, publisher: Any, gcs: Any
) -> None:
    sub = _create(subscriber, fake_pubsub, topic)
    mask = field_mask_pb2.FieldMask(paths=["cloud_storage_config"])
    bad = types.Subscription(
        name=sub.name, cloud_storage_config={"bucket": BUCKET, "max_messages": 5}
    )
    with pytest.raises(exceptions.InvalidArgument):
        subscriber.update_subscription(subscription=bad, update_mask=mask)
    good = types.Subscription(
        name=sub.name, cloud_storage_config={"bucket": BUCKET, "filename_prefix": "new/"}
    )
    updated = subscriber.update_subscription(subscription=good, update_mask=mask)
    assert updated.cloud_storage_config.state == State.ACTIVE
    _publish(publisher, topic, b"a")
    [name] = fake_pubsub.flush_cloud_storage()
    assert name.startswith("new/")


# -- BigQuery ----------------------------------------------------------------------------------


def test_a_bigquery_subscription_is_stored_active_and_keeps_its_messages(
    fake_pubsub: Any, subscriber: Any, publisher: Any
) -> None:
    topic = fake_pubsub.create_topic("events")
    sub = subscriber.create_subscription(
        request={
            "name": fake_pubsub.subscription_path("to-bq"),
            "topic": topic,
            "bigquery_config": {"table": "proj.dataset.table", "write_metadata": True},
        }
    )
    assert sub.bigquery_config.state == types.BigQueryConfig.State.ACTIVE
    got = subscriber.get_subscription(subscription=sub.name)
    assert got.bigquery_config.table == "proj.dataset.table"
    _publish(publisher, topic, b"a")
    response = subscriber.pull(subscription=sub.name, max_messages=10, return_immediately=True)
    assert [r.message.data for r in response.received_messages] == [b"a"]
