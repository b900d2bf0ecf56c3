"""Concurrency drivers: concurrent_requests, rendezvous, live_app, repeat."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, abort, jsonify, request
from google.cloud import pubsub_v1

from pytest_gcpfakes import (
    RendezvousTimeout,
    assert_no_cross_request_sharing,
    concurrent_requests,
    rendezvous,
    repeat,
)

TOPIC = "projects/test-project/topics/orders"


def _echo_app() -> Flask:
    app = Flask("echo")
    app.testing = True

    @app.route("/echo", methods=["GET", "POST"])
    def echo() -> Any:
        return jsonify(
            method=request.method,
            body=request.get_json(silent=True),
            header=request.headers.get("X-Test"),
            thread=threading.current_thread().name,
        )

    @app.get("/boom")
    def boom() -> Any:
        abort(503)

    @app.get("/raise")
    def explode() -> Any:
        raise RuntimeError("view failed")

    return app


def test_results_come_back_in_request_order_with_status_body_and_thread() -> None:
    results = concurrent_requests(
        _echo_app(),
        [
            ("GET", "/echo"),
            ("POST", "/echo", {"json": {"n": 1}, "headers": {"X-Test": "yes"}}),
            ("get", "/boom"),
        ],
    )
    assert [r.status_code for r in results] == [200, 200, 503]
    assert results[0].json["method"] == "GET"
    assert results[1].json == {
        "method": "POST",
        "body": {"n": 1},
        "header": "yes",
        "thread": results[1].json["thread"],
    }
    assert len({r.thread_name for r in results}) == 3
    assert all(r.ended > r.started for r in results)


def test_an_exception_raised_in_a_view_is_re_raised_in_the_test() -> None:
    with pytest.raises(RuntimeError, match="view failed"):
        concurrent_requests(_echo_app(), [("GET", "/echo"), ("GET", "/raise")])


def test_fewer_threads_than_requests_take_the_next_request_when_free() -> None:
    results = concurrent_requests(_echo_app(), [("GET", "/echo")] * 6, threads=2)
    assert len(results) == 6
    assert len({r.thread_name for r in results}) <= 2


def test_a_malformed_request_spec_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"takes \(method, path\) or \(method, path, kwargs\)"):
        concurrent_requests(_echo_app(), [("GET",)])  # type: ignore[list-item]


def test_base_url_sends_real_http_requests(live_app: Any) -> None:
    url = live_app(_echo_app())
    assert url.startswith("http://127.0.0.1:")
    results = concurrent_requests(url, [("GET", "/echo"), ("POST", "/echo", {"json": [1]})])
    assert [r.json["method"] for r in results] == ["GET", "POST"]
    assert results[1].json["body"] == [1]


def test_concurrent_requests_fixture_is_the_same_function(concurrent_requests: Any) -> None:
    from pytest_gcpfakes import concurrent_requests as function

    assert concurrent_requests is function


def _single_use_app() -> Flask:
    """Each request uses the shared client once: overlap is luck without a rendezvous."""
    publisher = pubsub_v1.PublisherClient()
    app = Flask("single_use")

    @app.get("/orders")
    def orders() -> str:
        publisher.get_topic(topic=TOPIC)
        return "ok"

    return app


def test_rendezvous_makes_single_use_requests_overlap_for_certain(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    app = _single_use_app()
    with rendezvous(2):
        concurrent_requests(app, [("GET", "/orders"), ("GET", "/orders")])
    with pytest.raises(AssertionError, match="1 client was in use by concurrent requests"):
        assert_no_cross_request_sharing()


def test_rendezvous_that_never_fills_fails_saying_how_many_arrived(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    with pytest.raises(RendezvousTimeout) as caught, rendezvous(3, timeout=0.5):
        concurrent_requests(_single_use_app(), [("GET", "/orders"), ("GET", "/orders")])
    assert str(caught.value) == (
        "rendezvous(3): only 2 of 3 requests reached their first client use within 0.5 s; "
        "send at least 3 overlapping requests that use a client (a client pool smaller than "
        "3 also stops them), or lower n."
    )


def test_rendezvous_needs_at_least_two() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        rendezvous(1)


def test_rendezvous_marker_option_applies_to_the_whole_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from flask import Flask
        from google.cloud import pubsub_v1
        from pytest_gcpfakes import assert_no_cross_request_sharing, concurrent_requests

        publisher = pubsub_v1.PublisherClient()
        app = Flask(__name__)

        @app.get("/orders")
        def orders():
            publisher.get_topic(topic="projects/test-project/topics/orders")
            return "ok"

        @pytest.mark.gcpfakes(rendezvous=2)
        def test_overlap(fake_pubsub):
            fake_pubsub.create_topic("orders")
            concurrent_requests(app, [("GET", "/orders")] * 2)
            with pytest.raises(AssertionError):
                assert_no_cross_request_sharing()
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_repeat_counts_flagged_runs_with_fresh_fakes() -> None:
    def scenario(fakes: Any) -> None:
        fakes.pubsub.create_topic("orders")  # would be AlreadyExists without fresh fakes
        with rendezvous(2):
            concurrent_requests(_single_use_app(), [("GET", "/orders")] * 2)

    result = repeat(scenario, times=3)
    assert (result.runs, result.flagged) == (3, 3)
    assert str(result) == "3 of 3 runs flagged"
    assert all("in use by concurrent requests" in m for m in result.messages)


def test_live_app_servers_stop_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request, urllib.error
        import pytest
        from flask import Flask

        app = Flask(__name__)

        @app.get("/")
        def index():
            return "up"

        URLS = []

        def test_serve(live_app):
            URLS.append(live_app(app))
            assert urllib.request.urlopen(URLS[0], timeout=5).read() == b"up"

        def test_stopped_after_teardown():
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(URLS[0], timeout=5)
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
