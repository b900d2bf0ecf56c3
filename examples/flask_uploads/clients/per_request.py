"""3. Per request: build what the request needs on ``flask.g``, close it when it ends."""

from __future__ import annotations

from flask import Flask, g
from google.cloud import pubsub_v1, storage


class PerRequest:
    def init_app(self, app: Flask) -> None:
        app.teardown_appcontext(self.close)

    def gcs(self) -> storage.Client:
        if "gcs" not in g:
            g.gcs = storage.Client()
        return g.gcs

    def publisher(self) -> pubsub_v1.PublisherClient:
        if "publisher" not in g:
            g.publisher = pubsub_v1.PublisherClient()
        return g.publisher

    def close(self, error: BaseException | None) -> None:
        if (gcs := g.pop("gcs", None)) is not None:
            gcs.close()
        if (publisher := g.pop("publisher", None)) is not None:
            publisher.stop()  # sends anything still batched, then stops
