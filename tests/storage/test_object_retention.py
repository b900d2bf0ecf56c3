"""Object Retention Lock through the real client: per-object retain-until times."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions

DAY = 86_400
RETAINED = "is subject to bucket's retention policy or object retention"
NEEDS_OVERRIDE = "without overriding unlocked retention intent and permission"
LOCKED = "The locked object retention cannot be removed."


@pytest.fixture
def bucket(client: Any) -> Any:
    return client.create_bucket("records", enable_object_retention=True)


def _in(gcpfakes: Any, days: float) -> datetime.datetime:
    """A time ``days`` from now on the fakes' clock, to the microsecond."""
    moment: datetime.datetime = gcpfakes.clock.now() + datetime.timedelta(days=days)
    return moment


def _retained(bucket: Any, name: str, until: datetime.datetime, mode: str = "Unlocked") -> Any:
    blob = bucket.blob(name)
    blob.retention.mode = mode
    blob.retention.retain_until_time = until
    blob.upload_from_string(b"ledger entry")
    return blob


def test_bucket_created_with_object_retention_reports_it_enabled(client: Any, bucket: Any) -> None:
    assert bucket.object_retention_mode == "Enabled"
    assert client.get_bucket("records").object_retention_mode == "Enabled"
    assert client.create_bucket("plain").object_retention_mode is None


def test_uploaded_object_keeps_its_retention(bucket: Any, gcpfakes: Any) -> None:
    until = _in(gcpfakes, 30)
    _retained(bucket, "entry", until)
    again = bucket.get_blob("entry")
    assert (again.retention.mode, again.retention.retain_until_time) == ("Unlocked", until)
    assert again.retention_expiration_time == until.replace(
        microsecond=until.microsecond // 1000 * 1000
    )


def test_retained_object_cannot_be_deleted_until_its_retain_until_time(
    bucket: Any, gcpfakes: Any
) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 2))
    with pytest.raises(exceptions.Forbidden) as caught:
        blob.delete()
    assert RETAINED in caught.value.message
    assert caught.value.errors[0]["reason"] == "retentionPolicyNotMet"
    gcpfakes.clock.advance(2 * DAY)
    blob.delete()
    assert not blob.exists()


def test_retained_object_cannot_be_overwritten(bucket: Any, gcpfakes: Any) -> None:
    _retained(bucket, "entry", _in(gcpfakes, 1))
    with pytest.raises(exceptions.Forbidden, match="cannot be deleted or overwritten until"):
        bucket.blob("entry").upload_from_string(b"rewritten history")


def test_retention_follows_freezegun(bucket: Any) -> None:
    with freeze_time("2030-01-01T00:00:00Z") as frozen:
        blob = _retained(
            bucket, "entry", datetime.datetime(2030, 1, 10, tzinfo=datetime.timezone.utc)
        )
        with pytest.raises(exceptions.Forbidden):
            blob.delete()
        frozen.tick(datetime.timedelta(days=10))
        blob.delete()


def test_retention_can_be_set_on_an_existing_object_by_patch(bucket: Any, gcpfakes: Any) -> None:
    blob = bucket.blob("entry")
    blob.upload_from_string(b"x")
    blob.retention.mode = "Unlocked"
    blob.retention.retain_until_time = _in(gcpfakes, 1)
    blob.patch()
    with pytest.raises(exceptions.Forbidden, match=RETAINED):
        blob.delete()


def test_unlocked_retention_can_be_lengthened_without_the_override(
    bucket: Any, gcpfakes: Any
) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 1))
    later = _in(gcpfakes, 5)
    blob.retention.retain_until_time = later
    blob.patch()
    assert bucket.get_blob("entry").retention.retain_until_time == later


def test_shortening_unlocked_retention_needs_the_override(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5))
    sooner = _in(gcpfakes, 1)
    blob.retention.retain_until_time = sooner
    with pytest.raises(exceptions.Forbidden, match=NEEDS_OVERRIDE) as caught:
        blob.patch()
    assert caught.value.errors[0]["reason"] == "forbidden"
    blob.patch(override_unlocked_retention=True)
    assert bucket.get_blob("entry").retention.retain_until_time == sooner


def test_removing_unlocked_retention_needs_the_override(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5))
    blob.retention.mode = None
    blob.retention.retain_until_time = None
    with pytest.raises(exceptions.Forbidden, match=NEEDS_OVERRIDE):
        blob.patch()
    blob.patch(override_unlocked_retention=True)
    assert blob.retention.mode is None
    blob.delete()


def test_locking_unlocked_retention_needs_the_override(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5))
    blob.retention.mode = "Locked"
    with pytest.raises(exceptions.Forbidden, match=NEEDS_OVERRIDE):
        blob.patch()
    blob.patch(override_unlocked_retention=True)
    assert bucket.get_blob("entry").retention.mode == "Locked"


def test_locked_retention_can_be_lengthened_by_anyone(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 1), mode="Locked")
    later = _in(gcpfakes, 365)
    blob.retention.retain_until_time = later
    blob.patch()
    assert bucket.get_blob("entry").retention.retain_until_time == later


def test_locked_retention_can_never_be_shortened(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5), mode="Locked")
    blob.retention.retain_until_time = _in(gcpfakes, 1)
    with pytest.raises(exceptions.Forbidden, match=LOCKED):
        blob.patch(override_unlocked_retention=True)


def test_locked_retention_can_never_be_removed(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5), mode="Locked")
    blob.retention.mode = None
    blob.retention.retain_until_time = None
    with pytest.raises(exceptions.Forbidden, match=LOCKED):
        blob.patch(override_unlocked_retention=True)


def test_locked_retention_can_never_be_unlocked(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 5), mode="Locked")
    blob.retention.mode = "Unlocked"
    with pytest.raises(exceptions.Forbidden, match=LOCKED):
        blob.patch(override_unlocked_retention=True)


def test_retention_in_a_bucket_without_object_retention_is_refused(
    client: Any, gcpfakes: Any
) -> None:
    plain = client.create_bucket("plain")
    with pytest.raises(exceptions.BadRequest, match="Object retention is not enabled"):
        _retained(plain, "entry", _in(gcpfakes, 1))
    blob = plain.blob("entry")
    blob.upload_from_string(b"x")
    blob.retention.mode = "Unlocked"
    blob.retention.retain_until_time = _in(gcpfakes, 1)
    with pytest.raises(exceptions.BadRequest) as caught:
        blob.patch()
    assert caught.value.message.endswith("Object retention is not enabled on the bucket.")
    assert caught.value.errors[0]["reason"] == "invalid"


def test_retain_until_time_in_the_past_is_refused(bucket: Any, gcpfakes: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match="Retain until time cannot be in the past"):
        _retained(bucket, "entry", _in(gcpfakes, -1))


def test_retain_until_time_more_than_100_years_ahead_is_refused(bucket: Any, gcpfakes: Any) -> None:
    with pytest.raises(exceptions.BadRequest, match="more than 100 years"):
        _retained(bucket, "entry", _in(gcpfakes, 36_525 + 1))


def test_retention_without_a_mode_is_refused(bucket: Any, gcpfakes: Any) -> None:
    blob = bucket.blob("entry")
    blob.retention.retain_until_time = _in(gcpfakes, 1)
    with pytest.raises(exceptions.BadRequest, match="Missing retention mode"):
        blob.upload_from_string(b"x")


def test_retention_and_an_event_based_hold_cannot_be_combined(bucket: Any, gcpfakes: Any) -> None:
    blob = _retained(bucket, "entry", _in(gcpfakes, 1))
    blob.event_based_hold = True
    with pytest.raises(exceptions.BadRequest, match="cannot be configured together"):
        blob.patch()


def test_versioned_retained_object_can_become_noncurrent_but_not_go(
    client: Any, gcpfakes: Any, fake_storage: Any
) -> None:
    bucket = client.bucket("versioned-records")
    bucket.versioning_enabled = True
    client.create_bucket(bucket, enable_object_retention=True)
    first = _retained(bucket, "entry", _in(gcpfakes, 1))
    bucket.blob("entry").upload_from_string(b"second")  # the first becomes noncurrent
    old = bucket.blob("entry", generation=first.generation)
    with pytest.raises(exceptions.Forbidden, match=RETAINED):
        old.delete()
    assert [v.data for v in fake_storage.generations("versioned-records", "entry")] == [
        b"ledger entry",
        b"second",
    ]


def test_lifecycle_does_not_delete_an_object_under_retention(bucket: Any, gcpfakes: Any) -> None:
    bucket.add_lifecycle_delete_rule(age=1)
    bucket.patch()
    _retained(bucket, "entry", _in(gcpfakes, 10))
    gcpfakes.clock.advance(5 * DAY)
    assert bucket.blob("entry").exists()
    gcpfakes.clock.advance(5 * DAY)
    assert not bucket.blob("entry").exists()


def test_fake_storage_records_the_retention(bucket: Any, gcpfakes: Any, fake_storage: Any) -> None:
    until = _in(gcpfakes, 3)
    _retained(bucket, "entry", until, mode="Locked")
    retention = fake_storage.object("records", "entry").retention
    assert (retention.mode, retention.retain_until) == ("Locked", until)


def test_retention_mode_other_than_unlocked_or_locked_is_refused(
    bucket: Any, gcpfakes: Any
) -> None:
    with pytest.raises(exceptions.BadRequest, match="Forever is not a valid value"):
        _retained(bucket, "entry", _in(gcpfakes, 1), mode="Forever")


def test_rewrite_sets_the_retention_its_destination_asks_for(bucket: Any, gcpfakes: Any) -> None:
    bucket.blob("draft").upload_from_string(b"x")
    until = _in(gcpfakes, 1)
    final = bucket.blob("final")
    final.retention.mode = "Unlocked"
    final.retention.retain_until_time = until
    final.rewrite(bucket.blob("draft"))
    assert bucket.get_blob("final").retention.retain_until_time == until
    with pytest.raises(exceptions.Forbidden, match=RETAINED):
        bucket.blob("final").delete()


def test_fake_storage_creates_buckets_with_object_retention(client: Any, fake_storage: Any) -> None:
    fake_storage.create_bucket("arranged", object_retention=True)
    assert client.get_bucket("arranged").object_retention_mode == "Enabled"
