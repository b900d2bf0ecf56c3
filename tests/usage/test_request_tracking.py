"""Requests outside Flask (track_wsgi, request_scope) and work handed to other threads."""

from __future__ import annotations

import threading
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from google.cloud import pubsub_v1

from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    request_scope,
    track_wsgi,
)

TOPIC = "projects/test-project/topics/orders"
WAIT = 30


def _call_wsgi(app: Any, path: str) -> bytes:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "POST"}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    statuses: list[str] = []
    body = app(environ, lambda status, headers: statuses.append(status))
    try:
        return b"".join(body)
    finally:
        body.close()


def test_track_wsgi_records_each_call_as_a_request(fake_pubsub: Any, gcp_usage: Any) -> None:
    fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()

    def plain_wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        publisher.get_topic(topic=TOPIC)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = track_wsgi(plain_wsgi_app)
    assert _call_wsgi(app, "/jobs/1") == b"ok"
    (req,) = gcp_usage.requests
    assert (req.label, req.end_seq is not None) == ("POST /jobs/1", True)
    assert [u.request for u in gcp_usage.uses] == [req.serial]


def test_request_scope_names_a_unit_of_work(fake_pubsub: Any, gcp_usage: Any) -> None:
    fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()
    with request_scope("nightly-export") as serial:
        publisher.get_topic(topic=TOPIC)
    (req,) = gcp_usage.requests
    assert (req.serial, req.label) == (serial, "nightly-export")
    assert [u.request for u in gcp_usage.uses] == [serial]


def test_overlapping_request_scopes_sharing_a_client_are_flagged(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()
    both_inside = threading.Barrier(2)

    def job(name: str) -> None:
        with request_scope(name):
            publisher.get_topic(topic=TOPIC)
            both_inside.wait(WAIT)
            publisher.get_topic(topic=TOPIC)

    threads = [threading.Thread(target=job, args=(f"job-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    with pytest.raises(AssertionError) as caught:
        assert_no_cross_request_sharing()
    assert "- job-0" in str(caught.value)
    assert "- job-1" in str(caught.value)


def test_a_thread_started_inside_a_request_works_for_that_request(
    fake_pubsub: Any, gcp_usage: Any
) -> None:
    fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()
    with request_scope("fan-out") as serial:
        worker = threading.Thread(target=publisher.get_topic, kwargs={"topic": TOPIC})
        worker.start()
        worker.join(WAIT)
    outside = threading.Thread(target=publisher.get_topic, kwargs={"topic": TOPIC})
    outside.start()
    outside.join(WAIT)
    assert [u.request for u in gcp_usage.uses] == [serial, None]
