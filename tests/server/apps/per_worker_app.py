"""The same app, with clients built per worker in gunicorn's ``post_fork`` hook."""

from __future__ import annotations

import os
from typing import Any

import requests
from flask import Flask, jsonify
from google.cloud import pubsub_v1, storage

app = Flask(__name__)
clients: dict[str, Any] = {}  # filled in each worker by post_fork (see gunicorn_conf.py)
TOPIC = f"projects/{os.environ.get('GOOGLE_CLOUD_PROJECT', 'test-project')}/topics/events"


def build_clients() -> None:
    """What gunicorn's post_fork hook calls: this worker's own clients."""
    clients["publisher"] = pubsub_v1.PublisherClient()
    clients["gcs"] = storage.Client()


@app.post("/work/<name>")
def work(name: str) -> object:
    requests.get(os.environ["BARRIER_URL"], timeout=60).raise_for_status()
    clients["publisher"].publish(TOPIC, name.encode(), pid=str(os.getpid())).result(timeout=30)
    clients["gcs"].bucket("uploads").blob(name).upload_from_string(str(os.getpid()))
    return jsonify(pid=os.getpid())
