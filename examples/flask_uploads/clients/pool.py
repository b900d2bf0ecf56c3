"""4. A pool: sets of clients built up front; each request borrows one and gives it back."""

from __future__ import annotations

import queue

from flask import Flask, g
from google.cloud import pubsub_v1, storage

ClientSet = tuple[storage.Client, pubsub_v1.PublisherClient]


class Pool:
    def __init__(self, size: int = 2) -> None:
        self.free: queue.Queue[ClientSet] = queue.Queue()
        for _ in range(size):
            self.free.put((storage.Client(), pubsub_v1.PublisherClient()))

    def init_app(self, app: Flask) -> None:
        app.teardown_appcontext(self.give_back)

    def borrowed(self) -> ClientSet:
        if "pooled" not in g:
            g.pooled = self.free.get(timeout=30)  # waits while every set is lent out
        return g.pooled

    def gcs(self) -> storage.Client:
        return self.borrowed()[0]

    def publisher(self) -> pubsub_v1.PublisherClient:
        return self.borrowed()[1]

    def give_back(self, error: BaseException | None) -> None:
        if (pooled := g.pop("pooled", None)) is not None:
            self.free.put(pooled)
