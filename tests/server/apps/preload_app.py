"""A Flask app with module-level clients: built in gunicorn's master under ``--preload``.

Each request waits at the test's barrier (so that two requests are in flight at once and
each sync worker serves one), then publishes and uploads with the module's clients.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, jsonify
from google.cloud import pubsub_v1, storage

app = Flask(__name__)
publisher = pubsub_v1.PublisherClient()  # the hazard: shared by every forked worker
gcs = storage.Client()
TOPIC = f"projects/{os.environ.get('GOOGLE_CLOUD_PROJECT', 'test-project')}/topics/events"


@app.post("/work/<name>")
def work(name: str) -> object:
    requests.get(os.environ["BARRIER_URL"], timeout=60).raise_for_status()
    publisher.publish(TOPIC, name.encode(), pid=str(os.getpid())).result(timeout=30)
    gcs.bucket("uploads").blob(name).upload_from_string(str(os.getpid()))
    return jsonify(pid=os.getpid())
