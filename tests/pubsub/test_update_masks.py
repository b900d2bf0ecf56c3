"""Update masks through the real clients: which paths GCP takes, and what each one changes.

The parity suite (tests/parity) checks the cases Google's emulator can also answer; these
are the fake's own: the rules derived from the protos, and paths the emulator refuses
while GCP takes them.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.protobuf import field_mask_pb2
from google.pubsub_v1 import types

from pytest_gcpfakes._internals.pubsub import field_behaviours

CLOSED = {"OUTPUT_ONLY", "INPUT_ONLY", "IMMUTABLE", "IDENTIFIER"}
SUBSCRIPTION_FIXED = frozenset({"name", "topic", "filter", "enable_message_ordering", "detached"})


@pytest.fixture
def topic(fake_pubsub: Any) -> str:
    path: str = fake_pubsub.create_topic("orders")
    return path


@pytest.fixture
def subscription(fake_pubsub: Any, topic: str) -> str:
    path: str = fake_pubsub.create_subscription("worker", "orders")
    return path


def _open_fields(message_class: Any, fixed: frozenset[str] = frozenset()) -> list[str]:
    return [
        name
        for name, behaviours in field_behaviours(message_class).items()
        if not behaviours & CLOSED and name not in fixed
    ]


def test_every_topic_field_the_protos_leave_open_can_be_named_in_a_mask(
    publisher: Any, topic: str
) -> None:
    # Derived from the installed protos: a field a newer release adds is taken as well.
    for name in _open_fields(types.Topic):
        publisher.update_topic(request={"topic": {"name": topic}, "update_mask": {"paths": [name]}})


def test_every_subscription_field_the_protos_leave_open_can_be_named_in_a_mask(
    subscriber: Any, subscription: str
) -> None:
    for name in _open_fields(types.Subscription, SUBSCRIPTION_FIXED):
        subscriber.update_subscription(
            request={"subscription": {"name": subscription}, "update_mask": {"paths": [name]}}
        )


def test_a_sub_field_path_changes_that_field_alone(subscriber: Any, subscription: str) -> None:
    subscriber.update_subscription(
        request={
            "subscription": {
                "name": subscription,
                "push_config": {
                    "push_endpoint": "http://127.0.0.1:9/push",
                    "attributes": {"x-goog-version": "v1"},
                },
            },
            "update_mask": {"paths": ["push_config"]},
        }
    )
    updated = subscriber.update_subscription(
        request={
            "subscription": {
                "name": subscription,
                "push_config": {"attributes": {"x-goog-version": "v1beta1"}},
            },
            "update_mask": {"paths": ["push_config.attributes"]},
        }
    )
    assert updated.push_config.push_endpoint == "http://127.0.0.1:9/push"
    assert dict(updated.push_config.attributes) == {"x-goog-version": "v1beta1"}


def test_a_whole_message_path_replaces_the_message(subscriber: Any, subscription: str) -> None:
    subscriber.update_subscription(
        request={
            "subscription": {
                "name": subscription,
                "retry_policy": {
                    "minimum_backoff": {"seconds": 20},
                    "maximum_backoff": {"seconds": 60},
                },
            },
            "update_mask": {"paths": ["retry_policy"]},
        }
    )
    updated = subscriber.update_subscription(
        request={
            "subscription": {
                "name": subscription,
                "retry_policy": {"minimum_backoff": {"seconds": 30}},
            },
            "update_mask": {"paths": ["retry_policy"]},
        }
    )
    assert updated.retry_policy.minimum_backoff.total_seconds() == 30
    assert "maximum_backoff" not in updated.retry_policy


def test_a_path_left_unset_in_the_request_clears_the_field(
    publisher: Any, fake_pubsub: Any
) -> None:
    topic = fake_pubsub.create_topic("labelled", labels={"team": "shop"})
    updated = publisher.update_topic(
        request={"topic": {"name": topic}, "update_mask": {"paths": ["labels"]}}
    )
    assert dict(updated.labels) == {}


@pytest.mark.parametrize(
    "path",
    ["labels.team", "message_transforms.javascript_udf", "message_retention_duration.seconds"],
)
def test_a_path_into_a_list_a_map_or_a_duration_is_not_a_known_field(
    publisher: Any, topic: str, path: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as raised:
        publisher.update_topic(request={"topic": {"name": topic}, "update_mask": {"paths": [path]}})
    assert raised.value.message == (
        f"Invalid update_mask provided in the UpdateTopicRequest: {path} is not a known Topic "
        "field. Note that field paths must be of the form 'schema_settings' rather than "
        "'schemaSetings'."
    )


def test_a_subscriptions_name_is_not_mutable(subscriber: Any, subscription: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as raised:
        subscriber.update_subscription(
            request={
                "subscription": {"name": subscription},
                "update_mask": field_mask_pb2.FieldMask(paths=["name"]),
            }
        )
    assert raised.value.message == (
        "Invalid update_mask provided in the UpdateSubscriptionRequest: the 'name' field in "
        "the Subscription is not mutable."
    )


def test_one_refused_path_leaves_the_others_unapplied(publisher: Any, fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("labelled", labels={"team": "shop"})
    with pytest.raises(exceptions.InvalidArgument):
        publisher.update_topic(
            request={
                "topic": {"name": topic, "labels": {"team": "ops"}},
                "update_mask": {"paths": ["labels", "state"]},
            }
        )
    assert dict(publisher.get_topic(topic=topic).labels) == {"team": "shop"}


def test_a_snapshots_topic_is_not_mutable(
    subscriber: Any, subscription: str, fake_pubsub: Any
) -> None:
    name = f"projects/{fake_pubsub.project}/snapshots/before"
    subscriber.create_snapshot(request={"name": name, "subscription": subscription})
    with pytest.raises(exceptions.InvalidArgument, match="the 'topic' field in the Snapshot"):
        subscriber.update_snapshot(
            request={
                "snapshot": {"name": name, "topic": fake_pubsub.topic_path("orders")},
                "update_mask": {"paths": ["topic"]},
            }
        )


def test_output_only_fields_sent_at_creation_are_ignored(publisher: Any, fake_pubsub: Any) -> None:
    created = publisher.create_topic(
        request={"name": fake_pubsub.topic_path("states"), "state": "INGESTION_RESOURCE_ERROR"}
    )
    assert created.state == types.Topic.State.STATE_UNSPECIFIED
    assert publisher.get_topic(topic=created.name).state == types.Topic.State.STATE_UNSPECIFIED


@pytest.mark.since("google-cloud-pubsub", "2.33.0", "Topic.tags")
def test_input_only_tags_are_never_returned(publisher: Any, fake_pubsub: Any) -> None:
    created = publisher.create_topic(
        request={"name": fake_pubsub.topic_path("tagged"), "tags": {"tagKeys/1": "tagValues/2"}}
    )
    assert dict(created.tags) == {}
    assert dict(publisher.get_topic(topic=created.name).tags) == {}


@pytest.mark.since("google-cloud-pubsub", "2.28.0", "message_transforms")
def test_ingestion_settings_and_transforms_given_at_creation_are_returned(
    publisher: Any, subscriber: Any, fake_pubsub: Any
) -> None:
    udf = {"javascript_udf": {"function_name": "f", "code": "function f(m, a) { return m; }"}}
    topic = publisher.create_topic(
        request={
            "name": fake_pubsub.topic_path("ingested"),
            "ingestion_data_source_settings": {"cloud_storage": {"bucket": "landing"}},
            "message_transforms": [udf],
        }
    )
    fetched = publisher.get_topic(topic=topic.name)
    assert fetched.ingestion_data_source_settings.cloud_storage.bucket == "landing"
    assert fetched.message_transforms[0].javascript_udf.function_name == "f"
    sub = subscriber.create_subscription(
        request={
            "name": fake_pubsub.subscription_path("transformed"),
            "topic": topic.name,
            "message_transforms": [udf],
        }
    )
    assert (
        subscriber.get_subscription(subscription=sub.name).message_transforms[0].javascript_udf.code
    )


class _Documented:
    """Reads like a generated proto-plus class: the behaviours lead each field's entry.

    Attributes:
        name (str):
            Required. Identifier. The name.
        state (int):
            Output only. The state.
        zone (str):
            Optional. Reserved for future use. This field is set only in
            responses from the server; it is ignored if it is set in any requests.
        tags (MutableMapping[str, str]):
            Optional. Input only. Immutable. Tags.
        note (str):
            A field with no behaviour.
    """


def test_field_behaviours_are_read_from_the_generated_docstrings() -> None:
    assert field_behaviours(_Documented) == {
        "name": {"REQUIRED", "IDENTIFIER"},
        "state": {"OUTPUT_ONLY"},
        "zone": {"OPTIONAL", "OUTPUT_ONLY"},
        "tags": {"OPTIONAL", "INPUT_ONLY", "IMMUTABLE"},
        "note": set(),
    }
