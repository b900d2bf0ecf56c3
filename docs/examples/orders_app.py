"""A Flask service with the common mistake: one module-level client for every request."""

from __future__ import annotations

import os

from flask import Flask, request
from google.cloud import pubsub_v1

app = Flask(__name__)
publisher = pubsub_v1.PublisherClient()
PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "shop-test")
TOPIC = publisher.topic_path(PROJECT, "orders")


@app.post("/orders")
def create_order() -> tuple[str, int]:
    publisher.publish(TOPIC, request.get_data()).result()
    return "", 202
