"""``threading.local`` clients and the leak check: it depends on whether threads are reused.

A thread-local client lives as long as its thread. On threads that serve one request and
end (``concurrent_requests``' default, werkzeug's threaded server), each client is created
in a request, never closed, never used by a later request, and unreachable once its thread
is gone: abandoned, which is what the leak check reports. On reused threads (a server's
thread pool) the next request on the thread reuses the client, so it is not a leak.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from google.cloud import pubsub_v1

from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    assert_no_leaked_clients,
    concurrent_requests,
)

WAIT = 30


def thread_local_app(together: int) -> Flask:
    """A view using its thread's own publisher; ``together`` requests meet in the view."""
    app = Flask("thread_local")
    local = threading.local()
    barrier = threading.Barrier(together)

    @app.get("/orders")
    def orders() -> str:
        if not hasattr(local, "publisher"):
            local.publisher = pubsub_v1.PublisherClient()
        local.publisher.get_topic(topic="projects/test-project/topics/orders")
        barrier.wait(WAIT)  # two requests per round: a reused thread serves two in a row
        return "ok"

    return app


def test_thread_local_clients_on_one_thread_per_request_are_each_leaked(
    fake_pubsub: Any,
) -> None:
    fake_pubsub.create_topic("orders")
    results = concurrent_requests(thread_local_app(4), [("GET", "/orders")] * 4)
    assert [r.status_code for r in results] == [200] * 4
    assert_no_cross_request_sharing()
    with pytest.raises(AssertionError) as caught:
        assert_no_leaked_clients()
    assert str(caught.value).splitlines()[0] == (
        "4 clients were leaked: created in a request, not closed by its end, and not used by "
        "any later request."
    )


def test_thread_local_clients_on_reused_threads_pass_the_leak_check(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    results = concurrent_requests(thread_local_app(2), [("GET", "/orders")] * 4, threads=2)
    assert [r.status_code for r in results] == [200] * 4
    assert len({r.thread_name for r in results}) == 2
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()
