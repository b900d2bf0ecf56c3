"""1. Module-level globals, as most apps start out: built at import, shared by all requests."""

from __future__ import annotations

from flask import Flask
from google.cloud import pubsub_v1, storage

gcs_client = storage.Client()
publisher_client = pubsub_v1.PublisherClient()


class ModuleGlobals:
    def init_app(self, app: Flask) -> None:
        pass

    def gcs(self) -> storage.Client:
        return gcs_client

    def publisher(self) -> pubsub_v1.PublisherClient:
        return publisher_client
