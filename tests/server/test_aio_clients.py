"""Clients that are not Google's: gcloud-aio-storage and gcloud-aio-pubsub, as an asyncio app.

They speak the JSON/REST APIs over aiohttp and find the servers through
``STORAGE_EMULATOR_HOST`` / ``PUBSUB_EMULATOR_HOST`` alone, which ``gcpfakes_server`` sets
for the test; with an emulator variable set they send no token, so no credentials are
needed. Each test runs its scenario with ``asyncio.run()``, as an app's entry point would,
and checks the effect through ``fake_storage`` / ``fake_pubsub`` (and the other way round).
On Python 3.10 pip resolves gcloud-aio-pubsub 7.x (8.x needs 3.11.3+); both are exercised
through the same calls here.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from gcloud.aio.pubsub import (
    PublisherClient,
    PubsubMessage,
    SubscriberClient,
    SubscriberMessage,
    subscribe,
)
from gcloud.aio.storage import Storage

from pytest_gcpfakes import GCPFakesServer

T = TypeVar("T")
WAIT = 30  # seconds; a bound on waiting for events, never a sleep
PROJECT = "test-project"

pytestmark = pytest.mark.usefixtures("gcpfakes_server")


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one asyncio scenario to its end, as an app's ``asyncio.run(main())`` does."""
    return asyncio.run(scenario())


# -- Storage ---------------------------------------------------------------------------------


def test_the_clients_find_the_servers_through_the_emulator_variables(
    gcpfakes_server: GCPFakesServer,
) -> None:
    async def scenario() -> tuple[str, str]:
        async with Storage() as gcs, PublisherClient() as publisher:
            return gcs._api_root, publisher._api_root

    storage_root, pubsub_root = run(scenario)
    assert storage_root == gcpfakes_server.storage_url
    assert pubsub_root == f"http://{gcpfakes_server.pubsub_address}/v1"


def test_uploaded_objects_are_in_fake_storage(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")

    async def scenario() -> None:
        async with Storage() as gcs:
            await gcs.upload("uploads", "plain.txt", b"simple upload", content_type="text/plain")
            await gcs.upload(
                "uploads",
                "with-metadata.json",
                b'{"a": 1}',
                content_type="application/json",
                # gcloud-aio writes header-style keys ("Cache-Control" → "cacheControl").
                metadata={"Cache-Control": "no-cache", "metadata": {"origin": "aio"}},
            )  # metadata makes it a multipart upload
            await gcs.upload(
                "uploads", "resumable.bin", b"\x00\x01" * 1000, force_resumable_upload=True
            )

    run(scenario)
    assert fake_storage.objects("uploads") == ["plain.txt", "resumable.bin", "with-metadata.json"]
    plain = fake_storage.object("uploads", "plain.txt")
    assert (plain.data, plain.content_type) == (b"simple upload", "text/plain")
    described = fake_storage.object("uploads", "with-metadata.json")
    assert (described.data, described.content_type) == (b'{"a": 1}', "application/json")
    assert (described.cache_control, dict(described.metadata)) == ("no-cache", {"origin": "aio"})
    assert fake_storage.get("uploads", "resumable.bin") == b"\x00\x01" * 1000


def test_objects_put_in_fake_storage_are_downloaded(fake_storage: Any, tmp_path: Path) -> None:
    fake_storage.put("reports", "2026/q4.csv", b"id,total\n1,42\n", content_type="text/csv")
    target = tmp_path / "q4.csv"

    async def scenario() -> tuple[bytes, dict[str, Any], bytes]:
        async with Storage() as gcs:
            data = await gcs.download("reports", "2026/q4.csv")
            metadata = await gcs.download_metadata("reports", "2026/q4.csv")
            await gcs.download_to_filename("reports", "2026/q4.csv", str(target))
            stream = await gcs.download_stream("reports", "2026/q4.csv")
            streamed = b""
            while chunk := await stream.read(4):
                streamed += chunk
            return data, metadata, streamed

    data, metadata, streamed = run(scenario)
    assert data == streamed == target.read_bytes() == b"id,total\n1,42\n"
    version = fake_storage.object("reports", "2026/q4.csv")
    assert (metadata["contentType"], metadata["size"]) == ("text/csv", "14")
    assert metadata["generation"] == str(version.generation)
    assert metadata["md5Hash"] == version.md5_hash


def test_listing_pages_and_prefixes_follow_fake_storage(fake_storage: Any) -> None:
    for name in ("logs/a.txt", "logs/b.txt", "logs/c.txt", "other.txt"):
        fake_storage.put("archive", name, name)

    async def scenario() -> tuple[list[list[str]], list[str]]:
        async with Storage() as gcs:
            pages: list[list[str]] = []
            params = {"prefix": "logs/", "maxResults": "2"}
            while True:
                listed = await gcs.list_objects("archive", params=params)
                pages.append([item["name"] for item in listed.get("items", [])])
                if "nextPageToken" not in listed:
                    break
                params = {**params, "pageToken": listed["nextPageToken"]}
            blobs = await gcs.get_bucket("archive").list_blobs(prefix="logs/b")
            return pages, blobs

    pages, blobs = run(scenario)
    assert pages == [["logs/a.txt", "logs/b.txt"], ["logs/c.txt"]]
    assert blobs == ["logs/b.txt"]


def test_deleted_objects_are_gone_from_fake_storage_and_missing_ones_are_404(
    fake_storage: Any,
) -> None:
    fake_storage.put("trash", "old.txt", b"bye")
    fake_storage.put("trash", "keep.txt", b"stay")

    async def scenario() -> tuple[bool, int]:
        async with Storage() as gcs:
            await gcs.delete("trash", "old.txt")
            exists = await gcs.get_bucket("trash").blob_exists("old.txt")
            with pytest.raises(aiohttp.ClientResponseError) as missing:
                await gcs.download("trash", "old.txt")
            return exists, missing.value.status

    assert run(scenario) == (False, 404)
    assert fake_storage.objects("trash") == ["keep.txt"]


def test_copy_compose_and_patch_metadata_land_in_fake_storage(fake_storage: Any) -> None:
    fake_storage.put("work", "part-1", b"hello ")
    fake_storage.put("work", "part-2", b"world")

    async def scenario() -> None:
        async with Storage() as gcs:
            await gcs.copy("work", "part-1", "work", new_name="copy-of-1")
            await gcs.compose("work", "whole", ["part-1", "part-2"], content_type="text/plain")
            await gcs.patch_metadata("work", "whole", {"metadata": {"stage": "done"}})

    run(scenario)
    assert fake_storage.get("work", "copy-of-1") == b"hello "
    whole = fake_storage.object("work", "whole")
    assert (whole.data, whole.component_count) == (b"hello world", 2)
    assert dict(whole.metadata) == {"stage": "done"}


def test_a_gzipped_upload_is_stored_compressed_and_served_decompressed(fake_storage: Any) -> None:
    fake_storage.create_bucket("zipped")
    text = b"compress me " * 100

    async def scenario() -> bytes:
        async with Storage() as gcs:
            await gcs.upload("zipped", "notes.txt", text, content_type="text/plain", zipped=True)
            return bytes(await gcs.download("zipped", "notes.txt"))

    downloaded = run(scenario)
    stored = fake_storage.object("zipped", "notes.txt")
    assert gzip.decompress(stored.data) == text
    assert stored.content_encoding == "gzip"
    # aiohttp asks for gzip and undoes Content-Encoding: gzip, as it would from GCS.
    assert downloaded == text


# -- Pub/Sub ---------------------------------------------------------------------------------


def test_topics_subscriptions_and_messages_made_by_aio_are_in_fake_pubsub(
    fake_pubsub: Any,
) -> None:
    topic = fake_pubsub.topic_path("orders")
    sub = fake_pubsub.subscription_path("worker")

    async def scenario() -> dict[str, Any]:
        async with PublisherClient() as publisher, SubscriberClient() as subscriber:
            await publisher.create_topic(topic)
            await subscriber.create_subscription(sub, topic, body={"ackDeadlineSeconds": 30})
            # One publish request carries one ordering key (or none), as GCP requires.
            first = await publisher.publish(topic, [PubsubMessage(b"first", origin="aio")])
            second = await publisher.publish(
                topic,
                [
                    PubsubMessage(b"second", ordering_key="customer-1"),
                    PubsubMessage(b"third", ordering_key="customer-1"),
                ],
            )
            return {"messageIds": first["messageIds"] + second["messageIds"]}

    answer = run(scenario)
    assert fake_pubsub.topics == [topic]
    assert fake_pubsub.subscriptions == [sub]
    assert fake_pubsub.subscription("worker").config.ack_deadline_seconds == 30
    published = fake_pubsub.published("orders")
    assert answer == {"messageIds": [m.message_id for m in published]}
    assert [(m.data, m.attributes, m.ordering_key) for m in published] == [
        (b"first", {"origin": "aio"}, ""),
        (b"second", {}, "customer-1"),
        (b"third", {}, "customer-1"),
    ]


def test_messages_published_by_fake_pubsub_are_pulled_nacked_and_acked(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    message_id = fake_pubsub.publish("orders", b"arranged", kind="order")

    async def scenario() -> tuple[SubscriberMessage, SubscriberMessage]:
        async with SubscriberClient() as subscriber:
            (first,) = await subscriber.pull(sub, max_messages=10)
            await subscriber.modify_ack_deadline(sub, [first.ack_id], ack_deadline_seconds=0)
            (again,) = await subscriber.pull(sub, max_messages=10)
            await subscriber.acknowledge(sub, [again.ack_id])
            # Nothing is left (the fake's pull answers empty after waiting 1 s).
            assert await subscriber.pull(sub, max_messages=10) == []
            return first, again

    first, again = run(scenario)
    assert (first.message_id, first.data, first.attributes) == (
        message_id,
        b"arranged",
        {"kind": "order"},
    )
    assert (again.message_id, again.ack_id != first.ack_id) == (message_id, True)
    state = fake_pubsub.state("worker")
    assert (state.backlog, state.outstanding) == ((), ())
    assert [m.message_id for m in state.acked] == [message_id]


def test_the_subscribe_loop_handles_and_acks_every_message(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("jobs")
    sub = fake_pubsub.create_subscription("runner", "jobs")
    sent = [f"job-{i}".encode() for i in range(5)]
    for data in sent:
        fake_pubsub.publish("jobs", data)
    subscription = fake_pubsub.subscription("runner")

    def all_acked() -> bool:
        with subscription.cond:
            return subscription.cond.wait_for(lambda: len(subscription.acked) == len(sent), WAIT)

    async def scenario() -> list[bytes]:
        handled: list[bytes] = []
        every_one = asyncio.Event()

        async def handler(message: SubscriberMessage) -> None:
            handled.append(message.data)
            if len(handled) == len(sent):
                every_one.set()

        async with SubscriberClient() as subscriber:
            loop = asyncio.ensure_future(
                subscribe(sub, handler, subscriber, num_producers=1, max_messages_per_producer=10)
            )
            try:
                await asyncio.wait_for(every_one.wait(), WAIT)
                # The acker batches acks for ack_window (0.3 s): wait for the fake to see them.
                assert await asyncio.to_thread(all_acked)
            finally:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
        return handled

    assert sorted(run(scenario)) == sent
    assert fake_pubsub.backlog("runner") == 0


def test_listing_getting_and_deleting_through_aio_follow_fake_pubsub(fake_pubsub: Any) -> None:
    topics = [fake_pubsub.create_topic(name) for name in ("alpha", "beta")]
    subs = [fake_pubsub.create_subscription(name, "alpha") for name in ("one", "two")]

    async def scenario() -> tuple[Any, Any, Any]:
        async with PublisherClient() as publisher, SubscriberClient() as subscriber:
            listed = await publisher.list_topics(f"projects/{PROJECT}")
            fetched = await subscriber.get_subscription(subs[0])
            await subscriber.delete_subscription(subs[1])
            await publisher.delete_topic(topics[1])
            remaining = await subscriber.list_subscriptions(f"projects/{PROJECT}")
            return listed, fetched, remaining

    listed, fetched, remaining = run(scenario)
    assert [t["name"] for t in listed["topics"]] == topics
    assert (fetched["name"], fetched["topic"], fetched["ackDeadlineSeconds"]) == (
        subs[0],
        topics[0],
        10,
    )
    assert [s["name"] for s in remaining["subscriptions"]] == [subs[0]]
    assert (fake_pubsub.topics, fake_pubsub.subscriptions) == ([topics[0]], [subs[0]])


def test_errors_reach_aio_as_the_http_statuses_gcp_sends(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")

    async def status_of(call: Callable[[], Awaitable[Any]]) -> int:
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            await call()
        return caught.value.status

    async def scenario() -> list[int]:
        async with PublisherClient() as publisher, SubscriberClient() as subscriber:
            return [
                await status_of(lambda: publisher.create_topic(topic)),
                await status_of(lambda: subscriber.get_subscription(f"{topic}-missing")),
                await status_of(
                    lambda: publisher.publish(
                        f"projects/{PROJECT}/topics/missing", [PubsubMessage(b"lost")]
                    )
                ),
            ]

    assert run(scenario) == [409, 404, 404]
