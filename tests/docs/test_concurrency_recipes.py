import pytest
from concurrency_app import ORDERS, app, publisher, upload_report
from google.api_core import exceptions

from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    concurrent_requests,
    rendezvous,
    repeat,
)


def test_uploads_do_not_share_clients(fake_storage, fake_pubsub):
    fake_storage.put("uploads", "readme.txt", "hello")
    results = concurrent_requests(
        app,
        [
            ("POST", "/files/a.txt", {"data": b"a"}),
            ("POST", "/files/b.txt", {"data": b"b"}),
            ("GET", "/files/readme.txt"),
        ],
    )
    assert [r.status_code for r in results] == [201, 201, 200]
    assert_no_cross_request_sharing()


def test_global_publisher_is_shared(fake_pubsub):
    fake_pubsub.create_topic("orders")
    with rendezvous(2):
        concurrent_requests(app, [("POST", "/orders")] * 2)
    with pytest.raises(AssertionError):
        assert_no_cross_request_sharing()


@pytest.mark.gcpfakes(latency={"pubsub": 0.01, "storage.objects.insert": 0.02})
def test_slow_backends(fake_storage, fake_pubsub):
    fake_storage.create_bucket("uploads")
    fake_pubsub.create_topic("orders")
    results = concurrent_requests(app, [("POST", "/files/a.txt"), ("POST", "/orders")])
    assert [r.status_code for r in results] == [201, 201]


def test_upload_survives_a_flaky_backend(fake_storage):
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.objects.insert", exceptions.ServiceUnavailable, times=2)
    (result,) = concurrent_requests(app, [("POST", "/files/a.txt", {"data": b"a"})])
    assert result.status_code == 201  # the client's own retry logic ran


def test_publisher_gives_up_on_permission_denied(fake_pubsub):
    fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.PermissionDenied)
    with pytest.raises(exceptions.PermissionDenied):  # not retryable: the first call fails
        publisher.publish(ORDERS, b"order").result()


def test_upload_retries(fake_storage):
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.objects.insert", exceptions.ServiceUnavailable, times=5)
    upload_report()  # the code under test; its upload is retried five times
    (call,) = fake_storage.retried_calls
    assert (call.retries, call.succeeded) == (5, True)
    print(call.sleeps, call.delay)  # each backoff and their sum, in seconds


def test_global_publisher_is_flagged_in_every_run():
    def scenario(fakes):
        fakes.pubsub.create_topic("orders")
        with rendezvous(2):
            concurrent_requests(app, [("POST", "/orders")] * 2)

    result = repeat(scenario, times=5)
    assert result.flagged == 5, str(result)


def test_over_http(live_app, fake_storage):
    fake_storage.put("uploads", "a.txt", "a")
    base_url = live_app(app)  # werkzeug's threaded server on 127.0.0.1, a free port
    results = concurrent_requests(base_url, [("GET", "/files/a.txt")] * 4)
    assert [r.data for r in results] == [b"a"] * 4


def test_push_handler(fake_pubsub):
    fake_pubsub.route_push("https://myapp.example.com/", app)  # in-process, no server
    fake_pubsub.create_topic("events")
    fake_pubsub.create_subscription(
        "to-app",
        "events",
        push_config={"push_endpoint": "https://myapp.example.com/pubsub/push"},
    )
    fake_pubsub.publish("events", b"hello", kind="greeting")
    (attempt,) = fake_pubsub.wait_for_pushes(1)
    assert attempt.acked


# Below the included recipes: google-cloud-storage retries uploads by default from 3.0
# (before, only uploads with a precondition), so these two recipes need 3.0.
for _recipe in (test_upload_survives_a_flaky_backend, test_upload_retries):
    pytest.mark.since("google-cloud-storage", "3.0.0", "retrying uploads by default")(_recipe)
