"""The upload service: store a file in Cloud Storage, announce it on Pub/Sub, serve it back.

The views ask ``clients`` (one of the variants in ``clients.py``) for their GCP clients;
how long those clients live is the variant's business, not the views'.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from flask import Flask, jsonify, request
from google.api_core.exceptions import NotFound

from flask_uploads.clients.per_request import PerRequest

if TYPE_CHECKING:
    from flask_uploads.clients import Clients

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "test-project")
BUCKET = os.environ.get("UPLOADS_BUCKET", "uploads")
TOPIC = f"projects/{PROJECT}/topics/uploads"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/uploads-worker"


def create_app(clients: Clients | None = None) -> Flask:
    """The service, getting its GCP clients from ``clients`` (default: per request)."""
    clients = clients or PerRequest()
    app = Flask(__name__)
    clients.init_app(app)

    @app.post("/files/<path:name>")
    def upload(name: str):
        """Store the request body as ``name``, then publish an ``upload`` event."""
        blob = clients.gcs().bucket(BUCKET).blob(name)
        blob.upload_from_string(request.get_data(), content_type=request.content_type)
        event = {"bucket": BUCKET, "name": name, "generation": blob.generation}
        future = clients.publisher().publish(TOPIC, json.dumps(event).encode(), event="upload")
        return jsonify(event | {"message_id": future.result(timeout=30)}), 201

    @app.get("/files/<path:name>")
    def download(name: str):
        """The stored bytes of ``name``, or 404."""
        blob = clients.gcs().bucket(BUCKET).blob(name)
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return jsonify(error=f"no file {name!r}"), 404
        return data, 200, {"Content-Type": blob.content_type}

    return app
