"""Automatic checks (``check=`` / ``gcpfakes_check``) and the terminal summary, via pytester."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("clean_env")

APP = """
import threading
from flask import Flask
from google.cloud import pubsub_v1

publisher = pubsub_v1.PublisherClient()
app = Flask(__name__)
barrier = threading.Barrier(2)
TOPIC = "projects/test-project/topics/orders"

@app.get("/orders")
def orders():
    publisher.get_topic(topic=TOPIC)
    barrier.wait(30)
    publisher.get_topic(topic=TOPIC)
    return "ok"

def two_at_once():
    def one():
        app.test_client().get("/orders")
    threads = [threading.Thread(target=one, name=f"request-{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
"""

TEST = """
import pytest
from app import two_at_once

{marker}
def test_orders(fake_pubsub):
    fake_pubsub.create_topic("orders")
    two_at_once()
"""


def test_check_marker_turns_a_shared_client_into_an_error_of_the_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker='@pytest.mark.gcpfakes(check="sharing")'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_orders*",
            "E*AssertionError: 1 client was in use by concurrent requests.",
            "E*PublisherClient #1, created at app.py:5 in 'MainThread' (outside any request),"
            " used by:",
            "E*- GET /orders  thread='request-?'  at app.py:12  at once with 1 other",
            "E*- GET /orders  thread='request-?'  at app.py:12  at once with 1 other",
            "E*summary: shared-client PublisherClient app.py:5",
            "E*Hint: create the client per request on flask.g and close it in teardown_appcontext*",
            "E*Docs: https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html#sharing",
        ]
    )


def test_without_the_check_option_the_same_test_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker=""))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_ini_check_option_applies_to_every_test(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_check = sharing leaks\n")
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker=""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["E*AssertionError: 1 client was in use by concurrent requests."])


def test_marker_check_overrides_the_ini_check(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_check = sharing\n")
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker="@pytest.mark.gcpfakes(check=())"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_summary_lists_each_client_with_its_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker=""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gcpfakes-summary")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*gcpfakes: GCP clients per test*",
            "test_app.py::test_orders",
            "  PublisherClient #1  created at app.py:5  2 requests  threads 'request-?',"
            " 'request-?'  shared",
        ]
    )


def test_summary_is_off_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_app=TEST.format(marker=""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "GCP clients per test" not in result.stdout.str()


def test_gcp_usage_fixture_exposes_the_recording_and_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        test_app="""
        import json
        from app import two_at_once

        def test_orders(fake_pubsub, gcp_usage):
            fake_pubsub.create_topic("orders")
            two_at_once()
            (client,) = gcp_usage.clients
            assert client.class_name == "PublisherClient"
            assert [r.label for r in gcp_usage.requests] == ["GET /orders", "GET /orders"]
            assert len(gcp_usage.uses) == 4
            document = gcp_usage.to_dict()
            assert document["version"] == 1
            assert json.loads(gcp_usage.to_json()) == document
            assert json.loads(gcp_usage.to_json(indent=2)) == document
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_each_test_starts_with_a_clean_recording(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        test_app="""
        import pytest
        from app import two_at_once

        def test_first(fake_pubsub):
            fake_pubsub.create_topic("orders")
            two_at_once()

        @pytest.mark.gcpfakes(check="sharing")
        def test_second_is_not_blamed_for_the_first(fake_pubsub, gcp_usage):
            assert gcp_usage.uses == ()
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


LEAKY_APP = """
from flask import Flask, g
from google.cloud import pubsub_v1

app = Flask(__name__)
TOPIC = "projects/test-project/topics/orders"


@app.get("/orders")
def orders():
    g.publisher = pubsub_v1.PublisherClient()
    g.publisher.get_topic(topic=TOPIC)
    return "ok"


@app.get("/closed")
def closed():
    client = pubsub_v1.SubscriberClient()
    client.close()
    client.get_subscription(subscription="projects/test-project/subscriptions/gone")
    return "ok"
"""


LEAK_TEST = """
import pytest
from app import app

@pytest.mark.gcpfakes(check="leaks")
def test_orders(fake_pubsub):
    fake_pubsub.create_topic("orders")
    app.test_client().get("/orders")
"""


def test_leak_check_message_in_full(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=LEAKY_APP)
    pytester.makepyfile(test_app=LEAK_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: 1 client was leaked: created in a request, not closed by its "
            "end, and not used by any later request.",
            "E*PublisherClient #1, created at app.py:10 in 'MainThread' during GET /orders, "
            "never closed:",
            "E*- GET /orders  thread='MainThread'  last used it at app.py:11",
            "E*summary: leaked-client PublisherClient app.py:10 GET /orders",
            "E*Hint: close it when its request ends: keep it on flask.g and close it in "
            "teardown_appcontext (PublisherClient: stop() or `with`), or keep it for later "
            "requests in a pool.",
            "E*Docs: https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html#leaks",
        ]
    )


def test_use_after_close_message_in_full(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=LEAKY_APP)
    pytester.makepyfile(
        test_app="""
        import pytest
        from app import app

        @pytest.mark.gcpfakes(check="use_after_close")
        def test_closed(fake_pubsub):
            app.testing = False  # let the view's error become a 500, as in production
            assert app.test_client().get("/closed").status_code == 500
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: 1 client was used after being closed.",
            "E*SubscriberClient #1, created at app.py:17 in 'MainThread' during GET /closed, "
            "closed at app.py:18, then used by:",
            "E*- GET /closed  thread='MainThread'  at app.py:19  get_subscription()",
            "E*summary: use-after-close SubscriberClient app.py:17",
            "E*Hint: close a client only when nothing will use it again (a per-request client "
            "in teardown_appcontext, which runs after the view and teardown_request), or "
            "create a new one after close().",
            "E*Docs: https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html"
            "#use-after-close",
        ]
    )


FORKING_TEST = """
import multiprocessing
import pytest
from google.cloud import pubsub_v1

publisher = pubsub_v1.PublisherClient()
TOPIC = "projects/test-project/topics/jobs"

def work():
    publisher.publish(TOPIC, b"from the child").result(timeout=30)

@pytest.mark.gcpfakes(check="processes")
def test_jobs(fake_pubsub):
    fake_pubsub.create_topic("jobs")
    child = multiprocessing.get_context("fork").Process(target=work)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert [m.data for m in fake_pubsub.published("jobs")] == [b"from the child"]
"""


def test_check_processes_makes_a_client_used_after_fork_an_error_of_the_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_jobs=FORKING_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_jobs*",
            "E*AssertionError: 1 client was used in a process other than the one that created it.",
            "E*PublisherClient #1, created at test_jobs.py:5 in 'MainThread' (outside any"
            " request), pid *, then used in:",
            "E*- pid *  (outside any request)  thread='MainThread'  at test_jobs.py:9  publish()",
            "E*summary: cross-process PublisherClient test_jobs.py:5",
            "E*Hint: build clients after the fork: in gunicorn's post_fork or post_worker_init"
            " hook*",
            "E*Docs: https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html#processes",
        ]
    )


def test_closing_a_closed_client_again_is_not_a_use_after_close(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_close="""
        import pytest
        from flask import Flask, g
        from google.cloud import pubsub_v1, storage

        app = Flask(__name__)

        @app.get("/files")
        def files():
            g.storage = storage.Client()
            g.storage.list_buckets()
            with pubsub_v1.SubscriberClient() as subscriber:
                subscriber.list_subscriptions(project="projects/test-project")
            subscriber.close()  # again, after `with`: harmless
            return "ok"

        @app.teardown_appcontext
        def close(exc):
            client = g.pop("storage", None)
            if client is not None:
                client.close()
                client.close()  # a second teardown handler would do the same

        @pytest.mark.gcpfakes(check="use_after_close")
        def test_files(fake_pubsub, fake_storage, gcp_usage):
            assert app.test_client().get("/files").status_code == 200
            closes = [use.method for use in gcp_usage.uses if use.method in ("close", "__exit__")]
            assert closes == ["__exit__", "close"]  # the first close of each client only
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
