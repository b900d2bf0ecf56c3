"""Real Pub/Sub clients for the tests of this folder, closed at teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import pubsub_v1


@pytest.fixture
def publisher() -> Iterator[pubsub_v1.PublisherClient]:
    client = pubsub_v1.PublisherClient()
    yield client
    client.stop()


@pytest.fixture
def subscriber() -> Iterator[pubsub_v1.SubscriberClient]:
    with pubsub_v1.SubscriberClient() as client:
        yield client
