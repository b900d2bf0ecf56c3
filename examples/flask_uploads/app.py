"""A small upload service: store a file in Cloud Storage, announce it on Pub/Sub.

It builds its GCP clients the way most apps do, at import time, with no test hooks at all:
under pytest-gcpfakes those very clients reach the in-memory fakes.
"""

from __future__ import annotations

import json
import os

from flask import Flask, jsonify, request
from google.cloud import pubsub_v1, storage

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "test-project")
BUCKET = os.environ.get("UPLOAD_BUCKET", "uploads")
TOPIC = f"projects/{PROJECT}/topics/uploads"

publisher = pubsub_v1.PublisherClient()
gcs = storage.Client()

app = Flask(__name__)


@app.post("/files/<path:name>")
def upload(name: str):
    """Store the request body as ``name`` and publish an ``upload`` event."""
    blob = gcs.bucket(BUCKET).blob(name)
    blob.upload_from_string(request.get_data(), content_type=request.content_type)
    event = {"bucket": BUCKET, "name": name, "generation": blob.generation}
    message_id = publisher.publish(TOPIC, json.dumps(event).encode(), event_type="upload").result(
        timeout=30
    )
    return jsonify(event | {"message_id": message_id}), 201


@app.get("/files/<path:name>")
def download(name: str):
    """Return the stored bytes of ``name``, or 404."""
    blob = gcs.bucket(BUCKET).get_blob(name)
    if blob is None:
        return jsonify(error=f"no file {name!r}"), 404
    return blob.download_as_bytes(), 200, {"Content-Type": blob.content_type}
