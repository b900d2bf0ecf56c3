"""The document service: files in Cloud Storage, an event on Pub/Sub for each change.

- ``POST /documents/NAME`` stores the body and publishes a ``created`` event (201);
- ``GET /documents/NAME`` serves it back (404 when missing);
- ``PUT /documents/NAME`` overwrites it only if ``If-Generation-Match`` still names the
  stored generation (409 otherwise), then publishes ``updated``;
- ``DELETE /documents/NAME`` deletes it and publishes ``deleted``;
- ``GET /documents?prefix=&delimiter=`` lists names and prefixes;
- ``GET /documents/NAME/link`` answers a V4 signed URL to download it for 15 minutes.

The indexer (:func:`index_events`) is the service's worker: it reads the events from a
subscription and keeps ``index/NAME.json`` (size and generation) per document. Clients are
handed in, as an application factory does: the suite decides where they point.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, request
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage

INDEX_PREFIX = "index/"


@dataclass
class Settings:
    """Where the service keeps documents and announces changes."""

    bucket: str
    topic: str
    """Full topic path."""
    signing: Any = None
    """Credentials to sign download links with (None: the storage client's own)."""


def create_app(
    publisher: pubsub_v1.PublisherClient, gcs: storage.Client, settings: Settings
) -> Flask:
    """The service, on the clients given."""
    app = Flask(__name__)
    app.testing = True
    bucket = gcs.bucket(settings.bucket)

    def announce(event: str, blob: storage.Blob) -> str:
        body = {"name": blob.name, "generation": blob.generation, "size": blob.size}
        future = publisher.publish(settings.topic, json.dumps(body).encode(), event=event)
        message_id: str = future.result(timeout=30)
        return message_id

    @app.post("/documents/<path:name>")
    def create(name: str) -> Any:
        blob = bucket.blob(name)
        try:
            blob.upload_from_string(
                request.get_data(),
                content_type=request.content_type or "application/octet-stream",
                if_generation_match=0,
            )
        except exceptions.PreconditionFailed:
            return jsonify(error=f"{name} exists"), 409
        message_id = announce("created", blob)
        return jsonify(name=name, generation=blob.generation, message_id=message_id), 201

    @app.get("/documents/<path:name>")
    def read(name: str) -> Any:
        blob = bucket.blob(name)
        try:
            data = blob.download_as_bytes()
        except exceptions.NotFound:
            return jsonify(error=f"no document {name}"), 404
        return data, 200, {"Content-Type": blob.content_type or "application/octet-stream"}

    @app.put("/documents/<path:name>")
    def update(name: str) -> Any:
        expected = request.headers.get("If-Generation-Match")
        if expected is None:
            return jsonify(error="If-Generation-Match is required"), 428
        blob = bucket.blob(name)
        try:
            blob.upload_from_string(
                request.get_data(),
                content_type=request.content_type or "application/octet-stream",
                if_generation_match=int(expected),
            )
        except exceptions.PreconditionFailed:
            return jsonify(error=f"{name} changed since generation {expected}"), 409
        announce("updated", blob)
        return jsonify(name=name, generation=blob.generation), 200

    @app.delete("/documents/<path:name>")
    def delete(name: str) -> Any:
        blob = bucket.get_blob(name)
        if blob is None:
            return jsonify(error=f"no document {name}"), 404
        blob.delete(if_generation_match=blob.generation)
        announce("deleted", blob)
        return "", 204

    @app.get("/documents")
    def listing() -> Any:
        blobs = gcs.list_blobs(
            settings.bucket,
            prefix=request.args.get("prefix") or None,
            delimiter=request.args.get("delimiter") or None,
        )
        names = [blob.name for blob in blobs]
        return jsonify(names=names, prefixes=sorted(blobs.prefixes))

    @app.get("/documents/<path:name>/link")
    def link(name: str) -> Any:
        blob = bucket.blob(name)
        url = blob.generate_signed_url(
            version="v4",
            expiration=datetime.timedelta(minutes=15),
            method="GET",
            credentials=settings.signing,
        )
        return jsonify(url=url)

    return app


def handle_event(gcs: storage.Client, bucket_name: str, data: bytes, event: str) -> None:
    """Keep the index object of the document an event names."""
    body = json.loads(data)
    index = gcs.bucket(bucket_name).blob(f"{INDEX_PREFIX}{body['name']}.json")
    if event == "deleted":
        index.delete()
        return
    index.upload_from_string(json.dumps(body), content_type="application/json")


def index_events(
    subscriber: pubsub_v1.SubscriberClient,
    gcs: storage.Client,
    bucket_name: str,
    subscription: str,
    *,
    handle: Callable[[storage.Client, str, bytes, str], None] = handle_event,
    max_messages: int = 100,
    timeout: float = 30.0,
) -> int:
    """Pull one batch of events, index each and acknowledge the ones handled; nack the
    others so they come back. Returns how many were handled."""
    response = subscriber.pull(
        subscription=subscription, max_messages=max_messages, timeout=timeout
    )
    done, failed = [], []
    for received in response.received_messages:
        message = received.message
        try:
            handle(gcs, bucket_name, message.data, message.attributes["event"])
        except Exception:
            failed.append(received.ack_id)
        else:
            done.append(received.ack_id)
    if done:
        subscriber.acknowledge(subscription=subscription, ack_ids=done, timeout=timeout)
    if failed:
        subscriber.modify_ack_deadline(
            subscription=subscription, ack_ids=failed, ack_deadline_seconds=0, timeout=timeout
        )
    return len(done)
