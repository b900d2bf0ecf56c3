"""Fixtures of the example suite: the service in each client variant, and its worker."""

from __future__ import annotations

from contextlib import closing

import pytest
from google.cloud import pubsub_v1, storage

from flask_uploads.app import BUCKET, SUBSCRIPTION, create_app
from flask_uploads.clients.lazy_globals import LazyGlobals
from flask_uploads.clients.module_globals import ModuleGlobals
from flask_uploads.clients.per_request import PerRequest
from flask_uploads.clients.pool import Pool
from flask_uploads.worker import Worker

VARIANTS = {
    "module_globals": ModuleGlobals,
    "lazy_globals": LazyGlobals,
    "per_request": PerRequest,
    "pool": Pool,
}


@pytest.fixture
def gcp(fake_pubsub, fake_storage):
    """The bucket, topic and subscription the service expects, in fresh fakes."""
    fake_storage.create_bucket(BUCKET)
    fake_pubsub.create_topic("uploads")
    fake_pubsub.create_subscription("uploads-worker", "uploads")


@pytest.fixture(params=list(VARIANTS))
def app(request, gcp):
    """The service, once per client variant (or the variants a test names, with indirect=)."""
    app = create_app(VARIANTS[request.param]())
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def worker(gcp):
    """The worker, with its own clients, as it would run in its own process."""
    with pubsub_v1.SubscriberClient() as subscriber, closing(storage.Client()) as gcs:
        yield Worker(subscriber, gcs, SUBSCRIPTION)
