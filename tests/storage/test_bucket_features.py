"""Bucket settings through the real client: labels, versioning, retention, lifecycle, time."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions

DAY = 86_400


def test_labels_patch_merges_and_removes_keys(client: Any) -> None:
    bucket = client.create_bucket("labelled")
    bucket.labels = {"team": "data", "env": "dev"}
    bucket.patch()
    bucket.labels = {"team": "data"}  # the client sends env: null to remove it
    bucket.patch()
    assert client.get_bucket("labelled").labels == {"team": "data"}
    assert client.get_bucket("labelled").metageneration == 3


def test_update_replaces_every_label(client: Any) -> None:
    bucket = client.create_bucket("relabelled")
    bucket.labels = {"a": "1"}
    bucket.patch()
    fresh = client.get_bucket("relabelled")
    fresh._properties["labels"] = {"b": "2"}
    fresh.update()
    assert client.get_bucket("relabelled").labels == {"b": "2"}


def test_versioning_can_be_turned_on_and_off(client: Any) -> None:
    bucket = client.create_bucket("versions")
    bucket.versioning_enabled = True
    bucket.patch()
    assert client.get_bucket("versions").versioning_enabled is True
    bucket.versioning_enabled = False
    bucket.patch()
    assert client.get_bucket("versions").versioning_enabled is False


@pytest.fixture
def versioned(client: Any) -> Any:
    bucket = client.bucket("versioned")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    blob = bucket.blob("doc")
    blob.upload_from_string("v1")
    blob.upload_from_string("v2")
    return bucket


def test_delete_naming_the_live_generation_deletes_it_in_a_versioned_bucket(
    versioned: Any,
) -> None:
    live = versioned.get_blob("doc")
    live.delete()  # the client sends generation=<the live one>
    kept = [(b.generation, b.download_as_text()) for b in versioned.list_blobs(versions=True)]
    assert [text for _, text in kept] == ["v1"]
    assert live.generation not in [generation for generation, _ in kept]


def test_delete_naming_no_generation_keeps_the_live_version_as_noncurrent(
    versioned: Any,
) -> None:
    versioned.delete_blob("doc")
    assert [b.download_as_text() for b in versioned.list_blobs(versions=True)] == ["v1", "v2"]
    assert list(versioned.list_blobs()) == []


def test_force_delete_empties_and_deletes_a_versioned_bucket(client: Any, versioned: Any) -> None:
    versioned.delete(force=True)  # deletes every version by its generation
    assert client.lookup_bucket("versioned") is None


def test_settings_the_fake_only_stores_round_trip(client: Any) -> None:
    bucket = client.bucket("settings")
    bucket.cors = [{"origin": ["*"], "method": ["GET"], "maxAgeSeconds": 60}]
    bucket.default_event_based_hold = False
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    client.create_bucket(bucket)
    again = client.get_bucket("settings")
    assert again.cors == [{"origin": ["*"], "method": ["GET"], "maxAgeSeconds": 60}]
    assert again.iam_configuration.uniform_bucket_level_access_enabled is True


def test_an_invalid_public_access_prevention_is_refused(client: Any) -> None:
    bucket = client.create_bucket("pap")
    bucket.iam_configuration.public_access_prevention = "bogus"
    with pytest.raises(exceptions.BadRequest, match="bogus is not a valid value"):
        bucket.patch()
    assert client.get_bucket("pap").iam_configuration.public_access_prevention == "inherited"


@pytest.mark.since("google-cloud-storage", "3.3.0", "Bucket.ip_filter")
def test_ip_filter_is_stored_and_returned(client: Any) -> None:
    from google.cloud.storage.ip_filter import IPFilter, PublicNetworkSource, VpcNetworkSource

    bucket = client.create_bucket("filtered")
    ip_filter = IPFilter()
    ip_filter.mode = "Disabled"
    ip_filter.allow_all_service_agent_access = True
    ip_filter.public_network_source = PublicNetworkSource(
        allowed_ip_cidr_ranges=["203.0.113.10/32"]
    )
    ip_filter.vpc_network_sources.append(
        VpcNetworkSource(
            network="projects/p/global/networks/default", allowed_ip_cidr_ranges=["10.0.0.0/8"]
        )
    )
    bucket.ip_filter = ip_filter
    bucket.patch()
    again = client.get_bucket("filtered").ip_filter
    assert (again.mode, again.allow_all_service_agent_access) == ("Disabled", True)
    assert again.public_network_source.allowed_ip_cidr_ranges == ["203.0.113.10/32"]
    assert [source.network for source in again.vpc_network_sources] == [
        "projects/p/global/networks/default"
    ]


@pytest.mark.parametrize(
    ("location", "data_locations", "location_type", "rpo"),
    [
        ("NAM4", None, "dual-region", "DEFAULT"),
        ("US", ["US-EAST1", "US-WEST1"], "dual-region", "DEFAULT"),
        ("US", None, "multi-region", None),
        ("EUROPE-WEST1", None, "region", None),
    ],
    ids=["predefined-dual-region", "configurable-dual-region", "multi-region", "region"],
)
def test_location_type_and_default_rpo_follow_the_location(
    client: Any, location: str, data_locations: Any, location_type: str, rpo: Any
) -> None:
    client.create_bucket("placed", location=location, data_locations=data_locations)
    bucket = client.get_bucket("placed")
    assert (bucket.location_type, bucket.rpo) == (location_type, rpo)


def test_turbo_replication_set_on_a_dual_region_is_returned(client: Any) -> None:
    bucket = client.create_bucket("turbo", location="NAM4")
    bucket.rpo = "ASYNC_TURBO"
    bucket.patch()
    assert client.get_bucket("turbo").rpo == "ASYNC_TURBO"


MOMENT = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
LATER = MOMENT + datetime.timedelta(seconds=60)


def test_autoclass_defaults_to_nearline_and_records_its_times(client: Any) -> None:
    bucket = client.bucket("auto")
    bucket.autoclass_enabled = True
    with freeze_time(MOMENT):
        client.create_bucket(bucket)
    again = client.get_bucket("auto")
    assert again.autoclass_terminal_storage_class == "NEARLINE"
    assert again.autoclass_toggle_time == MOMENT
    assert again.autoclass_terminal_storage_class_update_time == MOMENT


def test_disabling_autoclass_moves_its_toggle_time(client: Any) -> None:
    with freeze_time(MOMENT) as frozen:
        bucket = client.bucket("auto")
        bucket.autoclass_enabled = True
        client.create_bucket(bucket)
        frozen.tick(60)
        bucket.autoclass_enabled = False
        bucket.patch()
    assert bucket.autoclass_enabled is False
    assert bucket.autoclass_toggle_time == LATER


def test_a_new_autoclass_terminal_class_moves_its_update_time(client: Any) -> None:
    with freeze_time(MOMENT) as frozen:
        bucket = client.bucket("auto")
        bucket.autoclass_enabled = True
        client.create_bucket(bucket)
        frozen.tick(60)
        bucket.autoclass_terminal_storage_class = "ARCHIVE"
        bucket.patch()
    assert bucket.autoclass_terminal_storage_class == "ARCHIVE"
    assert bucket.autoclass_terminal_storage_class_update_time == LATER
    assert bucket.autoclass_toggle_time == MOMENT


def test_soft_delete_policy_records_when_it_became_effective(client: Any) -> None:
    with freeze_time(MOMENT) as frozen:
        bucket = client.bucket("soft")
        bucket.soft_delete_policy.retention_duration_seconds = 7 * DAY
        client.create_bucket(bucket)
        assert bucket.soft_delete_policy.effective_time == MOMENT
        frozen.tick(60)
        bucket.soft_delete_policy.retention_duration_seconds = 10 * DAY
        bucket.patch()
    assert bucket.soft_delete_policy.effective_time == LATER


@pytest.mark.since("google-cloud-storage", "3.10.0", "Bucket.encryption (BucketEncryption)")
def test_encryption_enforcement_configs_record_when_they_became_effective(client: Any) -> None:
    from google.cloud.storage.bucket import BucketEncryption, EncryptionEnforcementConfig

    bucket = client.bucket("enforced")
    bucket.encryption = BucketEncryption(
        bucket,
        customer_supplied_encryption_enforcement_config=EncryptionEnforcementConfig(
            restriction_mode="FullyRestricted"
        ),
    )
    with freeze_time(MOMENT):
        client.create_bucket(bucket)
    config = client.get_bucket(
        "enforced"
    ).encryption.customer_supplied_encryption_enforcement_config
    assert (config.restriction_mode, config.effective_time) == ("FullyRestricted", MOMENT)


@pytest.mark.since("google-cloud-storage", "3.10.0", "Bucket.encryption (BucketEncryption)")
def test_an_unrestricted_encryption_enforcement_config_has_no_effective_time(
    client: Any,
) -> None:
    from google.cloud.storage.bucket import EncryptionEnforcementConfig

    bucket = client.create_bucket("enforced")
    bucket.encryption.google_managed_encryption_enforcement_config = EncryptionEnforcementConfig(
        restriction_mode="FullyRestricted"
    )
    bucket.encryption.customer_managed_encryption_enforcement_config = EncryptionEnforcementConfig(
        restriction_mode="NotRestricted"
    )
    bucket.patch()
    bucket.reload()
    assert bucket.encryption.google_managed_encryption_enforcement_config.effective_time
    customer = bucket.encryption.customer_managed_encryption_enforcement_config
    assert (customer.restriction_mode, customer.effective_time) == ("NotRestricted", None)
    bucket.encryption.google_managed_encryption_enforcement_config = EncryptionEnforcementConfig(
        restriction_mode="NotRestricted"
    )
    bucket.patch()
    google = client.get_bucket("enforced").encryption.google_managed_encryption_enforcement_config
    assert (google.restriction_mode, google.effective_time) == ("NotRestricted", None)


def test_new_objects_take_the_bucket_storage_class(client: Any) -> None:
    bucket = client.bucket("cold")
    bucket.storage_class = "NEARLINE"
    client.create_bucket(bucket)
    blob = bucket.blob("x")
    blob.upload_from_string("x")
    assert blob.storage_class == "NEARLINE"


def test_default_event_based_hold_protects_new_objects(client: Any) -> None:
    bucket = client.create_bucket("held")
    bucket.default_event_based_hold = True
    bucket.patch()
    blob = bucket.blob("evidence")
    blob.upload_from_string("x")
    assert blob.event_based_hold is True
    with pytest.raises(exceptions.Forbidden, match="under active Event-Based hold"):
        blob.delete()
    blob.event_based_hold = False
    blob.patch()
    blob.delete()


def test_temporary_hold_blocks_overwrite_and_delete(client: Any) -> None:
    blob = client.create_bucket("temp-held").blob("doc")
    blob.upload_from_string("x")
    blob.temporary_hold = True
    blob.patch()
    with pytest.raises(exceptions.Forbidden, match="under active Temporary hold"):
        blob.upload_from_string("y")
    with pytest.raises(exceptions.Forbidden, match="under active Temporary hold"):
        blob.delete()


def test_retention_policy_forbids_delete_until_it_expires(
    client: Any, gcpfakes: Any, fake_storage: Any
) -> None:
    bucket = client.create_bucket("retained")
    bucket.retention_period = 2 * DAY
    bucket.patch()
    blob = bucket.blob("record")
    blob.upload_from_string("x")
    assert blob.retention_expiration_time == blob.time_created + datetime.timedelta(days=2)
    with pytest.raises(exceptions.Forbidden) as caught:
        blob.delete()
    assert "is subject to bucket's retention policy or object retention" in caught.value.message
    assert caught.value.errors[0]["reason"] == "retentionPolicyNotMet"
    gcpfakes.clock.advance(2 * DAY)
    blob.delete()


def test_retention_policy_forbids_overwrite(client: Any) -> None:
    bucket = client.create_bucket("retained-2")
    bucket.retention_period = 3600
    bucket.patch()
    bucket.blob("record").upload_from_string("x")
    with pytest.raises(exceptions.Forbidden, match="cannot be deleted or overwritten until"):
        bucket.blob("record").upload_from_string("y")


LOCKED = "The retention period on a locked bucket cannot be reduced."
REMOVED = "The retention policy on a locked bucket cannot be removed."


@pytest.fixture
def locked(client: Any) -> Any:
    bucket = client.create_bucket("locked")
    bucket.retention_period = 3600
    bucket.patch()
    bucket.lock_retention_policy()
    return bucket


def test_locked_retention_policy_cannot_be_shortened(client: Any, locked: Any) -> None:
    assert client.get_bucket("locked").retention_policy_locked is True
    locked.retention_period = 60
    with pytest.raises(exceptions.BadRequest, match=LOCKED):
        locked.patch()


def test_locked_retention_policy_cannot_be_removed_by_a_patch_with_null(locked: Any) -> None:
    locked.retention_period = None  # the client sends retentionPolicy: null
    # 403, as python-storage's own system test against GCS expects (shortening is a 400).
    with pytest.raises(exceptions.Forbidden, match=REMOVED):
        locked.patch()


def test_locked_retention_policy_cannot_be_removed_by_a_patch_with_an_empty_policy(
    client: Any, locked: Any
) -> None:
    with pytest.raises(exceptions.Forbidden, match=REMOVED):
        client._patch_resource("/b/locked", {"retentionPolicy": {}})
    assert client.get_bucket("locked").retention_period == 3600


def test_locked_retention_policy_is_kept_by_an_update_that_leaves_it_out(
    client: Any, locked: Any
) -> None:
    with pytest.raises(exceptions.Forbidden, match=REMOVED):
        client._put_resource("/b/locked", {"name": "locked", "labels": {"a": "b"}})
    assert client.get_bucket("locked").retention_policy_locked is True


def test_lifecycle_delete_rule_applies_when_the_fakes_clock_advances(
    client: Any, gcpfakes: Any, fake_storage: Any
) -> None:
    bucket = client.create_bucket("ephemeral")
    bucket.add_lifecycle_delete_rule(age=30)
    bucket.patch()
    bucket.blob("old").upload_from_string("x")
    gcpfakes.clock.advance(29 * DAY)
    assert bucket.blob("old").exists()
    gcpfakes.clock.advance(1 * DAY)
    assert not bucket.blob("old").exists()
    assert fake_storage.objects("ephemeral") == []


def test_lifecycle_delete_rule_follows_freezegun(client: Any, fake_storage: Any) -> None:
    with freeze_time("2030-01-01") as frozen:
        bucket = client.create_bucket("frozen-life")
        bucket.add_lifecycle_delete_rule(age=1, matches_prefix=["tmp/"])
        bucket.patch()
        bucket.blob("tmp/a").upload_from_string("x")
        bucket.blob("keep/b").upload_from_string("x")
        frozen.tick(datetime.timedelta(days=2))
        assert [b.name for b in client.list_blobs("frozen-life")] == ["keep/b"]


def test_lifecycle_keeps_newest_versions_and_deletes_older_noncurrent_ones(
    client: Any, fake_storage: Any
) -> None:
    bucket = client.create_bucket("trimmed")
    bucket.versioning_enabled = True
    bucket.add_lifecycle_delete_rule(number_of_newer_versions=2, is_live=False)
    bucket.patch()
    for text in ("v1", "v2", "v3", "v4"):
        bucket.blob("doc").upload_from_string(text)
    kept = [b.download_as_text() for b in client.list_blobs("trimmed", versions=True)]
    # A version goes once 2 versions (the live one included) are newer than it.
    assert kept == ["v3", "v4"]


def test_lifecycle_set_storage_class_rule_changes_the_class(client: Any, gcpfakes: Any) -> None:
    bucket = client.create_bucket("tiered")
    bucket.add_lifecycle_set_storage_class_rule("COLDLINE", age=10)
    bucket.patch()
    bucket.blob("doc").upload_from_string("x")
    gcpfakes.clock.advance(10 * DAY)
    assert bucket.get_blob("doc").storage_class == "COLDLINE"


def test_lifecycle_does_not_delete_what_a_hold_protects(client: Any, gcpfakes: Any) -> None:
    bucket = client.create_bucket("life-held")
    bucket.add_lifecycle_delete_rule(age=1)
    bucket.patch()
    blob = bucket.blob("doc")
    blob.upload_from_string("x")
    blob.temporary_hold = True
    blob.patch()
    gcpfakes.clock.advance(5 * DAY)
    assert blob.exists()


def test_force_delete_removes_the_objects_then_the_bucket(client: Any) -> None:
    bucket = client.create_bucket("full-bucket")
    for index in range(5):
        bucket.blob(f"o{index}").upload_from_string("x")
    bucket.delete(force=True)
    assert client.lookup_bucket("full-bucket") is None


def test_bucket_and_object_times_follow_a_frozen_clock(client: Any) -> None:
    with freeze_time("2031-05-06 07:08:09"):
        bucket = client.create_bucket("timed")
        blob = bucket.blob("doc")
        blob.upload_from_string("x")
    moment = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    assert bucket.time_created == moment
    assert (blob.time_created, blob.updated) == (moment, moment)


def test_metadata_update_time_follows_the_fakes_clock(client: Any, gcpfakes: Any) -> None:
    blob = client.create_bucket("updated").blob("doc")
    blob.upload_from_string("x")
    gcpfakes.clock.advance(3600)
    blob.metadata = {"k": "v"}
    blob.patch()
    assert blob.updated - blob.time_created >= datetime.timedelta(seconds=3600)
    bucket = client.get_bucket("updated")
    bucket.labels = {"a": "b"}
    bucket.patch()
    assert bucket.updated - bucket.time_created >= datetime.timedelta(seconds=3600)
