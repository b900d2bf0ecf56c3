"""Fixtures of the example suite: the app, a test client, and the GCP resources it expects."""

from __future__ import annotations

import pytest

from flask_uploads.app import BUCKET, app


@pytest.fixture
def client(fake_pubsub, fake_storage):
    """A Flask test client, with the bucket and topic the app needs already in the fakes."""
    fake_storage.create_bucket(BUCKET)
    fake_pubsub.create_topic("uploads")
    fake_pubsub.create_subscription("uploads-worker", "uploads")
    app.testing = True
    return app.test_client()
