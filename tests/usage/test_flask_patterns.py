"""The client-lifecycle patterns of Flask apps, through real clients, and the verdicts.

Every view uses its client, waits on a ``threading.Barrier`` with the other live requests,
and uses the client again, so requests overlap for certain (no sleeps, no luck).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask, g
from freezegun import freeze_time
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    assert_no_leaked_clients,
    assert_no_use_after_close,
)

WAIT = 30
TOPIC = "projects/test-project/topics/orders"
BUCKET = "uploads"

# -- how each pattern gets its client -------------------------------------------------------

Factory = Callable[[], Any]


def _publisher() -> Any:
    return pubsub_v1.PublisherClient()


class Pattern:
    """One way an app manages its client; ``client()`` is called inside a request."""

    name = ""

    def client(self) -> Any:
        raise NotImplementedError

    def done(self, client: Any) -> None:
        """Called at the end of the view (pools take the client back)."""

    def install(self, app: Flask) -> None:
        """Register teardown handlers, if the pattern has any."""


class ModuleGlobal(Pattern):
    name = "module-level global"

    def __init__(self) -> None:
        self.shared = _publisher()  # built before any request, like `client = ...` at import

    def client(self) -> Any:
        return self.shared


class LazyGlobal(Pattern):
    name = "lazy global"

    def __init__(self) -> None:
        self.shared: Any = None
        self.lock = threading.Lock()

    def client(self) -> Any:
        with self.lock:
            if self.shared is None:
                self.shared = _publisher()
            return self.shared


class PerRequest(Pattern):
    name = "per request on flask.g"

    def __init__(self, teardown: str | None) -> None:
        self.teardown = teardown

    def client(self) -> Any:
        if "publisher" not in g:
            g.publisher = _publisher()
        return g.publisher

    def install(self, app: Flask) -> None:
        def close(exc: BaseException | None) -> None:
            client = g.pop("publisher", None)
            if client is not None:
                client.stop()

        if self.teardown == "request":
            app.teardown_request(close)
        elif self.teardown == "appcontext":
            app.teardown_appcontext(close)


class Pool(Pattern):
    name = "pool"

    def __init__(self, size: int, *, buggy: bool = False) -> None:
        self.buggy = buggy
        self.free: queue.Queue[Any] = queue.Queue()
        for _ in range(size):
            self.free.put(_publisher())

    def client(self) -> Any:
        client = self.free.get(timeout=WAIT)
        if self.buggy:
            self.free.put(client)  # the bug: hands it out again before it comes back
        return client

    def done(self, client: Any) -> None:
        if not self.buggy:
            self.free.put(client)


class ThreadLocal(Pattern):
    name = "threading.local"

    def __init__(self) -> None:
        self.local = threading.local()

    def client(self) -> Any:
        if not hasattr(self.local, "publisher"):
            self.local.publisher = _publisher()
        return self.local.publisher


def make_app(pattern: Pattern, barrier: threading.Barrier | None) -> Flask:
    """An app whose view uses its client, meets the other live requests, uses it again."""
    # root_path given: Flask 2.3 looks a dotted import name ("app_threading.local") up as a
    # module and fails; Flask 3 falls back to the working directory.
    app = Flask(f"app_{pattern.name}", root_path=os.path.dirname(__file__))
    app.testing = True
    pattern.install(app)

    @app.get("/orders")
    def orders() -> str:
        client = pattern.client()
        client.get_topic(topic=TOPIC)
        if barrier is not None:
            barrier.wait(WAIT)
        client.get_topic(topic=TOPIC)
        pattern.done(client)
        return "ok"

    return app


def _via_test_client(app: Flask, count: int) -> None:
    """Send ``count`` GET /orders at once, each from its own thread and test client."""
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with app.test_client() as client:
                assert client.get("/orders").status_code == 200
        except BaseException as error:  # re-raised in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=one, name=f"request-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    if errors:
        raise errors[0]


def _via_werkzeug(app: Flask, count: int) -> None:
    """The same over HTTP, through werkzeug's threaded server running in this process."""
    import urllib.request

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/orders"
    statuses: list[int] = []
    try:
        fetchers = [
            threading.Thread(
                target=lambda: statuses.append(urllib.request.urlopen(url, timeout=WAIT).status)
            )
            for _ in range(count)
        ]
        for fetcher in fetchers:
            fetcher.start()
        for fetcher in fetchers:
            fetcher.join(WAIT)
    finally:
        server.shutdown()
        server.server_close()
        serving.join(WAIT)
    assert statuses == [200] * count


_driver = _via_test_client


def overlapping_requests(app: Flask, count: int) -> None:
    """Send ``count`` overlapping requests with the driver of the current test."""
    _driver(app, count)


@pytest.fixture(autouse=True, params=["test_client", "werkzeug"])
def driver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every pattern through Flask's test client and through a real HTTP server."""
    global _driver
    _driver = _via_test_client if request.param == "test_client" else _via_werkzeug
    yield request.param
    _driver = _via_test_client


@pytest.fixture(autouse=True)
def _topic(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")


@pytest.fixture(params=["real time", "frozen time"])
def clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each pattern twice: once with time frozen (order must not come from the clock)."""
    if request.param == "frozen time":
        with freeze_time("2024-05-01 12:00:00"):
            yield
    else:
        yield


# -- the table ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("pattern", [ModuleGlobal, LazyGlobal], ids=["global", "lazy"])
def test_shared_global_client_fails_the_sharing_check(pattern: type[Pattern]) -> None:
    app = make_app(pattern(), threading.Barrier(2))
    overlapping_requests(app, 2)
    with pytest.raises(AssertionError) as caught:
        assert_no_cross_request_sharing()
    message = str(caught.value)
    assert message.startswith("1 client was in use by concurrent requests.")
    assert "PublisherClient #" in message
    assert "GET /orders" in message
    assert "test_flask_patterns.py" in message
    assert message.count("thread=") == 2
    assert_no_leaked_clients()


@pytest.mark.usefixtures("clock")
def test_module_level_bucket_fails_as_its_client(fake_storage: Any) -> None:
    fake_storage.create_bucket(BUCKET)
    bucket = storage.Client().bucket(BUCKET)  # a module-level Bucket object
    barrier = threading.Barrier(2)
    app = Flask("bucket_app")

    @app.get("/orders")
    def upload() -> str:
        bucket.blob(f"{threading.current_thread().name}-a").upload_from_string("a")
        barrier.wait(WAIT)
        bucket.blob(f"{threading.current_thread().name}-b").upload_from_string("b")
        return "ok"

    overlapping_requests(app, 2)
    with pytest.raises(AssertionError, match=r"storage\.Client #\d+"):
        assert_no_cross_request_sharing()
    assert_no_leaked_clients()


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("teardown", ["request", "appcontext"])
def test_per_request_client_closed_in_teardown_passes_both_checks(teardown: str) -> None:
    overlapping_requests(make_app(PerRequest(teardown), threading.Barrier(2)), 2)
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()
    assert_no_use_after_close()


@pytest.mark.usefixtures("clock")
def test_per_request_client_never_closed_fails_the_leak_check() -> None:
    overlapping_requests(make_app(PerRequest(None), threading.Barrier(2)), 2)
    assert_no_cross_request_sharing()
    with pytest.raises(AssertionError) as caught:
        assert_no_leaked_clients()
    message = str(caught.value)
    assert "PublisherClient" in message
    assert "GET /orders" in message


@pytest.mark.usefixtures("clock")
def test_pool_filled_up_front_passes_over_several_rounds() -> None:
    app = make_app(Pool(2), threading.Barrier(2))
    for _ in range(3):
        overlapping_requests(app, 2)
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()


@pytest.mark.usefixtures("clock")
def test_pool_smaller_than_live_requests_passes_with_a_near_miss(gcp_usage: Any) -> None:
    pool = Pool(1)
    both_live = threading.Barrier(2)
    handed_over = threading.Event()
    app = Flask("small_pool")

    @app.get("/first")
    def first() -> str:
        client = pool.client()
        client.get_topic(topic=TOPIC)
        pool.done(client)  # back in the pool while this request is still live
        handed_over.set()
        both_live.wait(WAIT)
        return "ok"

    @app.get("/second")
    def second() -> str:
        assert handed_over.wait(WAIT)
        client = pool.client()
        client.get_topic(topic=TOPIC)
        pool.done(client)
        both_live.wait(WAIT)
        return "ok"

    threads = [
        threading.Thread(target=lambda p=path: app.test_client().get(p))
        for path in ("/first", "/second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()
    from pytest_gcpfakes.usage import _analysis

    failures, near = _analysis.find_sharing(gcp_usage.recording)
    assert failures == []
    assert [f.kind for f in near] == ["near-miss"]


@pytest.mark.usefixtures("clock")
def test_buggy_pool_handing_one_client_to_two_live_requests_fails() -> None:
    overlapping_requests(make_app(Pool(1, buggy=True), threading.Barrier(2)), 2)
    with pytest.raises(AssertionError, match="in use by concurrent requests"):
        assert_no_cross_request_sharing()
    assert_no_leaked_clients()


@pytest.mark.usefixtures("clock")
def test_thread_local_clients_pass_both_checks() -> None:
    # Two worker threads serve two rounds of two requests, as a threaded server's pool
    # would: each thread's client is reused by the next request on that thread.
    app = make_app(ThreadLocal(), threading.Barrier(2))
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="worker") as workers:
        for _ in range(2):
            rounds = [workers.submit(app.test_client().get, "/orders") for _ in range(2)]
            assert [f.result(WAIT).status_code for f in rounds] == [200, 200]
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()


@pytest.mark.usefixtures("clock")
def test_sequential_requests_sharing_a_client_pass_unless_strict() -> None:
    app = make_app(ModuleGlobal(), None)
    for _ in range(2):
        overlapping_requests(app, 1)  # one at a time, each on a new thread
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()
    with pytest.raises(AssertionError):
        assert_no_cross_request_sharing(strict=True)


def test_allow_accepts_a_client_class_or_object() -> None:
    pattern = ModuleGlobal()
    overlapping_requests(make_app(pattern, threading.Barrier(2)), 2)
    assert_no_cross_request_sharing(allow=[pubsub_v1.PublisherClient])
    assert_no_cross_request_sharing(allow=[pattern.shared])


# -- threads, servers, library threads --------------------------------------------------------


@pytest.mark.parametrize("per_request", [False, True], ids=["shared", "per-request"])
def test_view_fanning_out_to_an_executor_is_attributed_per_task(per_request: bool) -> None:
    shared = _publisher()
    executor = ThreadPoolExecutor(max_workers=4)
    barrier = threading.Barrier(2)
    app = Flask("fan_out")

    @app.get("/orders")
    def orders() -> str:
        client = _publisher() if per_request else shared
        first = executor.submit(client.get_topic, topic=TOPIC)
        first.result(WAIT)
        barrier.wait(WAIT)
        executor.submit(client.get_topic, topic=TOPIC).result(WAIT)
        if per_request:
            client.stop()
        return "ok"

    overlapping_requests(app, 2)
    executor.shutdown()
    if per_request:
        assert_no_cross_request_sharing()
        assert_no_leaked_clients()
    else:
        with pytest.raises(AssertionError, match="in use by concurrent requests"):
            assert_no_cross_request_sharing()


def test_subscriber_callbacks_and_the_commit_thread_raise_no_false_alarm(
    fake_pubsub: Any,
) -> None:
    fake_pubsub.create_subscription("worker", "orders")
    received = threading.Event()
    subscriber = pubsub_v1.SubscriberClient()
    publisher = _publisher()

    def callback(message: Any) -> None:
        publisher.get_topic(topic=TOPIC)  # a callback using a global client: no request
        message.ack()
        received.set()

    future = subscriber.subscribe(fake_pubsub.subscription_path("worker"), callback)
    app = Flask("publisher_app")

    @app.get("/orders")
    def orders() -> str:
        client = _publisher()
        client.publish(TOPIC, b"x").result(WAIT)  # the commit thread calls the API
        client.stop()
        return "ok"

    overlapping_requests(app, 2)
    assert received.wait(WAIT)
    future.cancel()
    future.result(WAIT)
    subscriber.close()
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()


def test_use_after_close_is_reported_with_its_call_site() -> None:
    app = Flask("closer")
    client = pubsub_v1.SubscriberClient()

    @app.get("/orders")
    def orders() -> str:
        client.close()
        # The library may or may not fail on its own; the check says where it happened.
        with contextlib.suppress(Exception):
            client.get_subscription(subscription="projects/test-project/subscriptions/gone")
        return "ok"

    overlapping_requests(app, 1)
    with pytest.raises(AssertionError) as caught:
        assert_no_use_after_close()
    assert "get_subscription" in str(caught.value)
    assert "test_flask_patterns.py" in str(caught.value)


def test_closing_a_gapic_client_through_its_transport_counts_as_closing(gcp_usage: Any) -> None:
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisher

    client = GapicPublisher()
    client.transport.close()
    (info,) = [c for c in gcp_usage.clients if c.class_name == "gapic.PublisherClient"]
    assert info.closed


def test_lazy_global_built_by_the_only_request_is_not_a_leak() -> None:
    pattern = LazyGlobal()
    overlapping_requests(make_app(pattern, None), 1)
    assert pattern.shared is not None  # the app still holds it: not abandoned
    assert_no_leaked_clients()


def test_per_request_client_dropped_unclosed_by_the_only_request_is_a_leak() -> None:
    overlapping_requests(make_app(PerRequest(None), None), 1)
    with pytest.raises(AssertionError, match="1 client was leaked"):
        assert_no_leaked_clients()
