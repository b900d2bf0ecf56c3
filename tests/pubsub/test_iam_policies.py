"""IAM policies on Pub/Sub resources through the real clients (the parity suite holds the
cases every face shares; these are the fake's own details)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.iam.v1 import policy_pb2
from google.pubsub_v1 import SchemaServiceClient
from google.pubsub_v1.services.publisher.transports.rest import PublisherRestTransport

from pytest_gcpfakes import GCPFakesServer

ANN = "user:ann@example.com"
BOB = "user:bob@example.com"
AVRO = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}'


@pytest.fixture
def topic(fake_pubsub: Any) -> str:
    path: str = fake_pubsub.create_topic("orders")
    return path


def _grant(publisher: Any, resource: str, *bindings: tuple[str, list[str]]) -> Any:
    policy = {"bindings": [{"role": role, "members": members} for role, members in bindings]}
    return publisher.set_iam_policy(request={"resource": resource, "policy": policy})


def _bindings(policy: Any) -> list[tuple[str, list[str]]]:
    return [(b.role, list(b.members)) for b in policy.bindings]


def test_cloud_storage_notification_setup_grants_its_agent_then_creates_the_notification(
    fake_pubsub: Any, fake_storage: Any, publisher: Any
) -> None:
    # gsutil notification create / gcloud storage buckets notifications create: read the
    # topic's policy, let the project's Cloud Storage service agent publish, then create.
    topic = fake_pubsub.create_topic("uploads")
    client = storage.Client()
    bucket = client.create_bucket("landing-zone")
    agent = f"serviceAccount:{client.get_service_account_email()}"
    policy = publisher.get_iam_policy(request={"resource": topic})
    policy.bindings.add(role="roles/pubsub.publisher", members=[agent])
    publisher.set_iam_policy(request={"resource": topic, "policy": policy})
    bucket.notification(topic_name="uploads", payload_format="JSON_API_V1").create()
    assert _bindings(publisher.get_iam_policy(request={"resource": topic})) == [
        ("roles/pubsub.publisher", [agent])
    ]
    assert [n.topic_name for n in bucket.list_notifications()] == ["uploads"]


def test_bindings_come_back_one_per_role_with_members_once_and_sorted(
    publisher: Any, topic: str
) -> None:
    written = _grant(
        publisher,
        topic,
        ("roles/pubsub.viewer", [BOB, ANN, BOB]),
        ("roles/pubsub.editor", [BOB]),
        ("roles/pubsub.viewer", [ANN, "group:ops@example.com"]),
        ("roles/pubsub.publisher", []),
    )
    assert _bindings(written) == [
        ("roles/pubsub.editor", [BOB]),
        ("roles/pubsub.viewer", ["group:ops@example.com", ANN, BOB]),
    ]


def test_a_write_without_an_etag_overwrites_the_policy(publisher: Any, topic: str) -> None:
    _grant(publisher, topic, ("roles/pubsub.viewer", [ANN]))
    _grant(publisher, topic, ("roles/pubsub.editor", [BOB]))
    assert _bindings(publisher.get_iam_policy(request={"resource": topic})) == [
        ("roles/pubsub.editor", [BOB])
    ]


def test_each_write_gets_a_new_etag_that_reads_return(publisher: Any, topic: str) -> None:
    first = _grant(publisher, topic, ("roles/pubsub.viewer", [ANN]))
    second = _grant(publisher, topic, ("roles/pubsub.viewer", [ANN]))
    assert first.etag != second.etag
    assert publisher.get_iam_policy(request={"resource": topic}).etag == second.etag


def test_an_update_mask_without_bindings_keeps_them(publisher: Any, topic: str) -> None:
    _grant(publisher, topic, ("roles/pubsub.viewer", [ANN]))
    publisher.set_iam_policy(
        request={
            "resource": topic,
            "policy": {"audit_configs": [{"service": "pubsub.googleapis.com"}]},
            "update_mask": {"paths": ["audit_configs"]},
        }
    )
    kept = publisher.get_iam_policy(request={"resource": topic})
    assert _bindings(kept) == [("roles/pubsub.viewer", [ANN])]
    assert [c.service for c in kept.audit_configs] == ["pubsub.googleapis.com"]


def test_a_topic_created_again_under_the_same_name_starts_with_an_empty_policy(
    fake_pubsub: Any, publisher: Any, topic: str
) -> None:
    _grant(publisher, topic, ("roles/pubsub.viewer", [ANN]))
    publisher.delete_topic(topic=topic)
    fake_pubsub.create_topic("orders")
    fresh = publisher.get_iam_policy(request={"resource": topic})
    assert (fresh.etag, _bindings(fresh)) == (b"\x00\x20\x01", [])


def test_a_schemas_policy_goes_with_the_schema(fake_pubsub: Any) -> None:
    schemas = SchemaServiceClient()
    parent = f"projects/{fake_pubsub.project}"
    name = schemas.create_schema(
        parent=parent, schema={"type_": "AVRO", "definition": AVRO}, schema_id="events"
    ).name
    _grant(schemas, name, ("roles/pubsub.viewer", [ANN]))
    assert _bindings(schemas.get_iam_policy(request={"resource": name})) == [
        ("roles/pubsub.viewer", [ANN])
    ]
    schemas.delete_schema(name=name)
    with pytest.raises(exceptions.NotFound):
        schemas.get_iam_policy(request={"resource": name})


def test_a_policy_version_3_without_conditions_is_kept_as_version_1(
    publisher: Any, topic: str
) -> None:
    written = publisher.set_iam_policy(
        request={
            "resource": topic,
            "policy": {
                "version": 3,
                "bindings": [{"role": "roles/pubsub.viewer", "members": [ANN]}],
            },
        }
    )
    assert written.version == 1
    read = publisher.get_iam_policy(
        request={"resource": topic, "options": {"requested_policy_version": 3}}
    )
    assert read.version == 1


def test_the_policy_a_caller_keeps_editing_after_a_write_is_not_the_stored_one(
    publisher: Any, topic: str
) -> None:
    policy = policy_pb2.Policy()
    policy.bindings.add(role="roles/pubsub.viewer", members=[ANN])
    publisher.set_iam_policy(request={"resource": topic, "policy": policy})
    policy.bindings[0].members.append(BOB)
    assert _bindings(publisher.get_iam_policy(request={"resource": topic})) == [
        ("roles/pubsub.viewer", [ANN])
    ]


def test_a_permission_with_a_wildcard_is_invalid_argument(publisher: Any, topic: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=r"wildcards"):
        publisher.test_iam_permissions(request={"resource": topic, "permissions": ["pubsub.*"]})


@pytest.mark.parametrize("resource", ["projects/test-project", "projects/test-project/widgets/w"])
def test_a_name_that_is_no_pubsub_resource_is_invalid_argument(
    fake_pubsub: Any, publisher: Any, resource: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=r"Invalid resource name given"):
        publisher.get_iam_policy(request={"resource": resource})


def test_a_new_topics_policy_over_rest_is_just_the_etag_acab(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer
) -> None:
    fake_pubsub.create_topic("orders")
    connection = http.client.HTTPConnection(gcpfakes_server.pubsub_address, timeout=30)
    try:
        connection.request("GET", "/v1/projects/test-project/topics/orders:getIamPolicy")
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert (response.status, body) == (200, {"etag": "ACAB"})


def test_the_rest_transport_reads_and_writes_policies(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = fake_pubsub.create_topic("orders")
    # gcpfakes_server sets PUBSUB_EMULATOR_HOST; google-cloud-pubsub before 2.28 then adds
    # credentials beside an explicit transport, which its GAPIC client refuses.
    # (Unset while the client is built only: monkeypatch may outlive gcpfakes_server.)
    with monkeypatch.context() as patch:
        patch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
        rest = pubsub_v1.PublisherClient(
            transport=PublisherRestTransport(
                host=f"http://{gcpfakes_server.pubsub_address}", credentials=AnonymousCredentials()
            )
        )
    try:
        policy = rest.get_iam_policy(request={"resource": topic})
        policy.bindings.add(role="roles/pubsub.publisher", members=[ANN])
        written = rest.set_iam_policy(request={"resource": topic, "policy": policy})
        stale = policy_pb2.Policy()
        stale.CopyFrom(policy)
        with pytest.raises(exceptions.Conflict, match="concurrent policy changes"):
            rest.set_iam_policy(request={"resource": topic, "policy": stale})
    finally:
        rest.stop()
        rest.transport.close()
    assert _bindings(written) == [("roles/pubsub.publisher", [ANN])]
