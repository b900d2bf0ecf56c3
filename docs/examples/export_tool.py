"""A command-line tool the server example runs as a subprocess: it writes and announces."""

from __future__ import annotations

import os
from contextlib import closing

from google.cloud import pubsub_v1, storage

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "shop-test")

if __name__ == "__main__":
    with closing(storage.Client()) as gcs:  # a context manager itself from 3.11
        gcs.bucket("exports").blob("2026-12-05.csv").upload_from_string("id,total\n7,12.50\n")
    with pubsub_v1.PublisherClient() as publisher:
        topic = publisher.topic_path(PROJECT, "events")
        publisher.publish(topic, b"exported", file="2026-12-05.csv").result()
