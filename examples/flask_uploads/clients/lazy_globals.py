"""2. Lazy globals: nothing is built at import; the first request builds, the rest reuse."""

from __future__ import annotations

import threading

from flask import Flask
from google.cloud import pubsub_v1, storage

gcs_client: storage.Client | None = None
publisher_client: pubsub_v1.PublisherClient | None = None
lock = threading.Lock()  # without it, two first requests could each build one


class LazyGlobals:
    def init_app(self, app: Flask) -> None:
        pass

    def gcs(self) -> storage.Client:
        global gcs_client
        with lock:
            if gcs_client is None:
                gcs_client = storage.Client()
            return gcs_client

    def publisher(self) -> pubsub_v1.PublisherClient:
        global publisher_client
        with lock:
            if publisher_client is None:
                publisher_client = pubsub_v1.PublisherClient()
            return publisher_client
