"""Preconditions: create-only writes and compare-and-swap on generations."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions


def test_create_only_succeeds_for_a_new_name(stack):
    bucket = stack.bucket()
    bucket.blob("new").upload_from_string(b"x", if_generation_match=0)
    assert bucket.blob("new").download_as_bytes() == b"x"


def test_create_only_fails_when_the_name_exists(stack):
    bucket = stack.bucket()
    bucket.blob("taken").upload_from_string(b"first")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("taken").upload_from_string(b"second", if_generation_match=0)
    assert bucket.blob("taken").download_as_bytes() == b"first"


def test_an_overwrite_with_the_current_generation_succeeds(stack):
    bucket = stack.bucket()
    blob = bucket.blob("doc")
    blob.upload_from_string(b"v1")
    bucket.blob("doc").upload_from_string(b"v2", if_generation_match=blob.generation)
    assert bucket.blob("doc").download_as_bytes() == b"v2"


def test_an_overwrite_with_a_stale_generation_fails(stack):
    bucket = stack.bucket()
    blob = bucket.blob("doc")
    blob.upload_from_string(b"v1")
    stale = blob.generation
    bucket.blob("doc").upload_from_string(b"v2")
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("doc").upload_from_string(b"v3", if_generation_match=stale)


def test_a_counter_updated_by_compare_and_swap(stack):
    bucket = stack.bucket()
    bucket.blob("counter").upload_from_string(b"0", if_generation_match=0)
    for _ in range(10):
        current = bucket.get_blob("counter")
        value = int(current.download_as_bytes(if_generation_match=current.generation))
        bucket.blob("counter").upload_from_string(
            str(value + 1).encode(), if_generation_match=current.generation
        )
    assert bucket.blob("counter").download_as_bytes() == b"10"


def test_the_service_refuses_a_second_create(client):
    assert client.post("/documents/once", data=b"1").status_code == 201
    assert client.post("/documents/once", data=b"2").status_code == 409
    assert client.get("/documents/once").data == b"1"


def test_the_service_updates_with_the_current_generation(client):
    created = client.post("/documents/doc", data=b"v1").json
    response = client.put(
        "/documents/doc", data=b"v2", headers={"If-Generation-Match": str(created["generation"])}
    )
    assert response.status_code == 200
    assert client.get("/documents/doc").data == b"v2"


def test_the_service_refuses_a_stale_update(client):
    created = client.post("/documents/doc", data=b"v1").json
    stale = str(created["generation"])
    client.put("/documents/doc", data=b"v2", headers={"If-Generation-Match": stale})
    response = client.put("/documents/doc", data=b"v3", headers={"If-Generation-Match": stale})
    assert response.status_code == 409
    assert client.get("/documents/doc").data == b"v2"


def test_the_service_requires_a_generation_to_update(client):
    client.post("/documents/doc", data=b"v1")
    assert client.put("/documents/doc", data=b"v2").status_code == 428


def test_the_update_event_carries_the_new_generation(stack, client, documents):
    _, topic = documents
    created = client.post("/documents/doc", data=b"v1").json
    subscription = stack.subscription(topic)
    updated = client.put(
        "/documents/doc", data=b"v2", headers={"If-Generation-Match": str(created["generation"])}
    ).json
    [received] = stack.pull(subscription, 1)
    assert received.message.attributes["event"] == "updated"
    assert json.loads(received.message.data)["generation"] == updated["generation"]
