"""The supported client releases: a missing client internal is one sentence, not a traceback.

The suite runs at both ends of the supported range (tox ``min`` and the default
environment); these tests pin what a release outside it gets.
"""

from __future__ import annotations

import re
import types
from importlib import metadata
from typing import Any

import pytest

from pytest_gcpfakes._internals import CHECKED, UnsupportedVersionError, own_method
from pytest_gcpfakes._internals import pubsub as pubsub_internals
from pytest_gcpfakes._internals import storage as storage_internals


def test_every_checked_range_starts_at_the_installed_release_or_below() -> None:
    from packaging.version import Version

    for distribution, (oldest, _newest) in CHECKED.items():
        assert Version(metadata.version(distribution)) >= Version(oldest), distribution


def test_a_pubsub_release_without_the_transport_registry_gets_one_sentence() -> None:
    moved = types.ModuleType("google.pubsub_v1.services.publisher.client")
    installed = metadata.version("google-cloud-pubsub")
    oldest, newest = CHECKED["google-cloud-pubsub"]
    with pytest.raises(UnsupportedVersionError) as raised:
        pubsub_internals.transport_registry(moved)
    assert str(raised.value) == (
        "pytest-gcpfakes cannot find the transport registry of"
        f" google.pubsub_v1.services.publisher.client in google-cloud-pubsub {installed};"
        f" it supports google-cloud-pubsub {oldest} to {newest}: install a release in that"
        " range or a newer pytest-gcpfakes."
    )


def test_a_publisher_without_its_batch_lock_gets_one_sentence() -> None:
    with pytest.raises(UnsupportedVersionError, match=re.escape("_batch_lock")):
        pubsub_internals.commit_pending_batches(object())


def test_a_publisher_class_without_its_own_publish_gets_one_sentence() -> None:
    class Client:  # publish() moved to a base class, say
        pass

    with pytest.raises(
        UnsupportedVersionError,
        match=r"^pytest-gcpfakes cannot find .*Client\.publish\(\) in google-cloud-pubsub ",
    ):
        own_method(Client, "publish", "google-cloud-pubsub")


def test_a_storage_release_without_the_unset_project_marker_gets_one_sentence() -> None:
    moved = types.ModuleType("google.cloud.storage.client")

    class Client:
        def __init__(self, project: object = None, _http: object = None) -> None: ...

    moved.Client = Client  # type: ignore[attr-defined]
    with pytest.raises(
        UnsupportedVersionError,
        match=r"^pytest-gcpfakes cannot find storage\.Client's _marker and _http argument in"
        r" google-cloud-storage [^;]+; it supports google-cloud-storage ",
    ):
        storage_internals.unset_project(moved)


def test_the_rest_bindings_are_read_from_the_installed_transports() -> None:
    """From rest_base.py (2.28+) or, before it, the literals in rest.py (2.27)."""
    bindings = pubsub_internals.rest_bindings()
    assert (
        "google.pubsub.v1.Publisher",
        "CreateTopic",
        "PUT",
        "/v1/{name=projects/*/topics/*}",
        "*",
    ) in bindings
    assert {binding[0] for binding in bindings} == {
        "google.pubsub.v1.Publisher",
        "google.pubsub.v1.Subscriber",
        "google.pubsub.v1.SchemaService",
    }


def test_a_null_body_on_the_pubsub_rest_face_is_400_on_every_protobuf(
    fake_pubsub: Any, gcpfakes_server: Any
) -> None:
    """protobuf 4.25's JSON parser raises a bare TypeError for ``null``; 5.x+ a ParseError."""
    import requests

    fake_pubsub.create_topic("raw")
    url = f"http://{gcpfakes_server.pubsub_address}/v1/{fake_pubsub.topic_path('raw')}"
    answer = requests.put(url, data=b"null", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Invalid JSON payload received. Failed to parse JSON: TypeError: 'NoneType' object is"
        " not iterable."
    )
