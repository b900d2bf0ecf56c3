"""The worker: take upload events off the subscription, write a manifest of each file.

For every uploaded ``name`` it writes ``manifests/<name>.json`` (size, SHA-256, content
type, generation) back to the bucket. Run it with ``python -m flask_uploads.worker``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING

from google.cloud import pubsub_v1, storage

from flask_uploads.app import SUBSCRIPTION

if TYPE_CHECKING:
    from google.cloud.pubsub_v1.subscriber.futures import StreamingPullFuture
    from google.cloud.pubsub_v1.subscriber.message import Message


class Worker:
    """Processes upload events with the clients it is given (one set, outside any request)."""

    def __init__(
        self, subscriber: pubsub_v1.SubscriberClient, gcs: storage.Client, subscription: str
    ) -> None:
        self.subscriber = subscriber
        self.gcs = gcs
        self.subscription = subscription

    def handle(self, data: bytes) -> str:
        """Write the manifest of the file an event names; return the manifest's name."""
        event = json.loads(data)
        bucket = self.gcs.bucket(event["bucket"])
        blob = bucket.blob(event["name"])
        content = blob.download_as_bytes()
        manifest = {
            "name": event["name"],
            "generation": event["generation"],
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_type": blob.content_type,
        }
        name = f"manifests/{event['name']}.json"
        bucket.blob(name).upload_from_string(json.dumps(manifest), "application/json")
        return name

    def pull_once(self, max_messages: int = 10) -> list[str]:
        """Process the events waiting now (synchronous pull), ack them, return the manifests."""
        response = self.subscriber.pull(subscription=self.subscription, max_messages=max_messages)
        done = [self.handle(received.message.data) for received in response.received_messages]
        if response.received_messages:
            ack_ids = [received.ack_id for received in response.received_messages]
            self.subscriber.acknowledge(subscription=self.subscription, ack_ids=ack_ids)
        return done

    def listen(self, on_done: Callable[[str], object] = print) -> StreamingPullFuture:
        """Process events as they arrive (streaming pull) until the returned future is cancelled."""

        def callback(message: Message) -> None:
            name = self.handle(message.data)  # if this raises, the library nacks the message
            message.ack()
            on_done(name)

        return self.subscriber.subscribe(self.subscription, callback)


def main() -> None:
    """Run the worker until interrupted (Ctrl-C)."""
    with pubsub_v1.SubscriberClient() as subscriber, closing(storage.Client()) as gcs:
        future = Worker(subscriber, gcs, SUBSCRIPTION).listen()
        try:
            future.result()
        except KeyboardInterrupt:
            future.cancel()
            future.result()


if __name__ == "__main__":
    main()
