"""Schema validation without the ``[schemas]`` extra: one sentence, through the real client.

fastavro and grpcio-tools come with ``pytest-gcpfakes[schemas]``. The suite runs with the
extra installed, so these tests take the two packages away for their duration: a
``sys.meta_path`` finder refuses to import them, as an interpreter that never installed
them would, and their already-imported modules are hidden from ``sys.modules``.
"""

from __future__ import annotations

import importlib.abc
import json
import re
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import pytest
from google.api_core import exceptions
from google.pubsub_v1 import SchemaServiceClient, types

from pytest_gcpfakes.pubsub import _schemas

AVRO = types.Schema.Type.AVRO
PROTOCOL_BUFFER = types.Schema.Type.PROTOCOL_BUFFER
RECORD = {"type": "record", "name": "Reading", "fields": [{"name": "value", "type": "long"}]}
PROTO = 'syntax = "proto3"; message Reading { int64 value = 1; }'
HINT = re.escape("install pytest-gcpfakes[schemas] to validate Avro/protobuf schemas.")


class _Uninstalled(importlib.abc.MetaPathFinder):
    """Refuses to import the given top-level packages, as if they were not installed."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = frozenset(packages)

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> None:
        if name.split(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def without_schemas_extra(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    packages = ("fastavro", "grpc_tools")
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            monkeypatch.delitem(sys.modules, name)
    # Validators already built (with the extra) must not answer for it.
    monkeypatch.setattr(_schemas, "_avro_validator", _schemas._avro_validator.__wrapped__)
    monkeypatch.setattr(_schemas, "_proto_validator", _schemas._proto_validator.__wrapped__)
    finder = _Uninstalled(packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@pytest.fixture
def service(fake_pubsub: Any) -> tuple[SchemaServiceClient, str]:
    """The real Schema service client and the fake's project path."""
    return SchemaServiceClient(), f"projects/{fake_pubsub.project}"


def test_avro_schema_creation_without_the_extra_answers_with_the_install_sentence(
    service: tuple[SchemaServiceClient, str], without_schemas_extra: None
) -> None:
    client, project = service
    schema = types.Schema(type_=AVRO, definition=json.dumps(RECORD))
    with pytest.raises(exceptions.MethodNotImplemented, match=f"fastavro is not installed: {HINT}"):
        client.create_schema(parent=project, schema_id="readings", schema=schema)


def test_avro_validation_without_the_extra_answers_with_the_install_sentence(
    service: tuple[SchemaServiceClient, str], without_schemas_extra: None
) -> None:
    client, project = service
    schema = types.Schema(type_=AVRO, definition=json.dumps(RECORD))
    with pytest.raises(exceptions.MethodNotImplemented, match=f"fastavro is not installed: {HINT}"):
        client.validate_schema(parent=project, schema=schema)
    with pytest.raises(exceptions.MethodNotImplemented, match=f"fastavro is not installed: {HINT}"):
        client.validate_message(
            request={"parent": project, "schema": schema, "message": b'{"value": 1}'}
        )


def test_protobuf_schema_without_the_extra_answers_with_the_install_sentence(
    service: tuple[SchemaServiceClient, str], without_schemas_extra: None
) -> None:
    client, project = service
    schema = types.Schema(type_=PROTOCOL_BUFFER, definition=PROTO)
    with pytest.raises(
        exceptions.MethodNotImplemented, match=f"grpc_tools is not installed: {HINT}"
    ):
        client.create_schema(parent=project, schema_id="readings", schema=schema)


def test_schema_service_without_validation_needs_no_extra(
    service: tuple[SchemaServiceClient, str], without_schemas_extra: None
) -> None:
    """Listing and a missing schema's NotFound do not touch the optional packages."""
    client, project = service
    assert list(client.list_schemas(parent=project)) == []
    with pytest.raises(exceptions.NotFound):
        client.get_schema(name=f"{project}/schemas/missing")


def test_avro_output_of_a_cloud_storage_subscription_without_the_extra_answers_the_sentence(
    fake_pubsub: Any, fake_storage: Any, without_schemas_extra: None
) -> None:
    from google.cloud import pubsub_v1

    fake_storage.create_bucket("archive-bucket")
    topic = fake_pubsub.create_topic("events")
    config = {"bucket": "archive-bucket", "avro_config": {"write_metadata": True}}
    with pubsub_v1.SubscriberClient() as subscriber:
        request = {
            "name": fake_pubsub.subscription_path("archive"),
            "topic": topic,
            "cloud_storage_config": config,
        }
        with pytest.raises(
            exceptions.MethodNotImplemented, match=f"fastavro is not installed: {HINT}"
        ):
            subscriber.create_subscription(request=request)
        # Text files need nothing more.
        config.pop("avro_config")
        assert subscriber.create_subscription(request=request).cloud_storage_config.bucket
