"""The configuration page's examples: options per test with the marker, for the run in the ini."""

from __future__ import annotations

import pytest
from google.cloud import pubsub_v1


@pytest.mark.gcpfakes(project="billing-test", publish_immediately=True)
def test_invoice(fake_pubsub):
    topic = fake_pubsub.create_topic("invoices")
    assert topic == "projects/billing-test/topics/invoices"  # the marker's project
    with pubsub_v1.PublisherClient() as publisher:
        publisher.publish(topic, b"invoice 7")  # committed at once: nothing waits on it
        assert [m.data for m in fake_pubsub.published("invoices")] == [b"invoice 7"]


def test_the_ini_file_sets_the_project_of_the_run(fake_pubsub):
    assert fake_pubsub.project == "shop-test"  # gcpfakes_project in pytest.ini
