"""Each test starts fresh: nothing a test leaves behind reaches the next test's fakes.

Each case runs a small suite with pytester, in order, so that one test's leftovers meet the
next test's fresh fakes, as they would in a user's suite.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("clean_env")

FIRE_AND_FORGET = """
import pytest
from google.cloud import pubsub_v1

publisher = pubsub_v1.PublisherClient()  # module level, as the README shows
TOPIC = "projects/test-project/topics/events"

@pytest.mark.parametrize("i", range(20))
def test_pair(fake_pubsub, i):
    fake_pubsub.create_topic("events")
    seen = [m.data for m in fake_pubsub.published("events")]
    publisher.publish(TOPIC, f"from test {i}".encode())  # not awaited
    assert seen == [], seen
"""


def test_a_publish_never_waited_for_lands_in_its_own_test_not_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_pairs=FIRE_AND_FORGET)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=20)


def test_the_pending_batch_is_sent_into_the_ending_tests_fakes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from google.cloud import pubsub_v1
        from pytest_gcpfakes import GCPFakes

        publisher = pubsub_v1.PublisherClient()

        def test_flush():
            with GCPFakes() as fakes:
                fakes.pubsub.create_topic("events")
                future = publisher.publish("projects/test-project/topics/events", b"late")
            # The session's end sent the batch into the session's own fakes.
            assert future.result(timeout=5)
            assert [m.data for m in fakes.pubsub.published("events")] == [b"late"]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_fire_and_forget_publishes_stay_isolated_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pairs=FIRE_AND_FORGET)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=20)


def test_a_test_that_fails_midway_still_keeps_its_writes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from google.cloud import pubsub_v1

        publisher = pubsub_v1.PublisherClient()
        TOPIC = "projects/test-project/topics/events"

        def test_fails(fake_pubsub):
            fake_pubsub.create_topic("events")
            publisher.publish(TOPIC, b"from the failing test")
            raise AssertionError("midway")

        def test_next(fake_pubsub):
            fake_pubsub.create_topic("events")
            publisher.publish(TOPIC, b"mine").result(timeout=5)
            assert [m.data for m in fake_pubsub.published("events")] == [b"mine"]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)


LEFTOVER_THREAD = """
import threading
from google.cloud import pubsub_v1

publisher = pubsub_v1.PublisherClient()
TOPIC = "projects/test-project/topics/events"
go = threading.Event()
outcome = []

def later():
    go.wait(30)
    try:
        publisher.publish(TOPIC, b"from a leftover thread").result(timeout=5)
        outcome.append("published")
    except Exception as error:
        outcome.append(type(error).__name__)

def test_starts_a_thread(fake_pubsub):
    fake_pubsub.create_topic("events")
    threading.Thread(target=later, name="leftover").start()

def test_next(fake_pubsub):
    fake_pubsub.create_topic("events")
    go.set()
    for thread in threading.enumerate():
        if thread.name == "leftover":
            thread.join(30)
    assert outcome == ["LateCallError"]
    assert fake_pubsub.published("events") == []
"""


def test_a_thread_left_running_is_reported_and_its_late_calls_refused(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leftover=LEFTOVER_THREAD)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*GCPFakesWarning: test test_leftover.py::test_starts_a_thread left thread"
            " 'leftover' running (started at test_leftover.py:19); its calls to the fakes are"
            " refused from now on: join it before the test returns.",
            "*GCPFakesWarning: pytest-gcpfakes: refused a Pub/Sub call from thread 'leftover'"
            " at test_leftover.py:12: it belongs to test test_leftover.py::test_starts_a_thread,"
            " which has ended, and would otherwise land in a later test's fakes; wait for the"
            " work a test starts (join its threads, call result() on its futures) before the"
            " test returns.",
        ]
    )


def test_a_streaming_pull_left_open_is_cancelled_reported_and_its_threads_stopped(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_stream="""
        import threading
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()

        def test_opens(fake_pubsub):
            fake_pubsub.create_topic("events")
            path = fake_pubsub.create_subscription("sub", "events")
            subscriber.subscribe(path, lambda message: message.ack())  # never cancelled

        def test_next(fake_pubsub):
            names = {thread.name for thread in threading.enumerate()}
            assert "Thread-ConsumeBidirectionalStream" not in names, names
            assert "Thread-LeaseMaintainer" not in names, names
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*GCPFakesWarning: test test_stream.py::test_opens left a streaming pull open on"
            " projects/test-project/subscriptions/sub (subscribe() at test_stream.py:9); it was"
            " cancelled at teardown: cancel the future subscribe() returned and wait for its"
            " result(), or close the subscriber (`with subscriber:`).",
        ]
    )


def test_a_forked_child_still_running_cannot_write_into_the_next_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_child="""
        import multiprocessing
        from google.cloud import storage

        gcs = storage.Client()
        context = multiprocessing.get_context("fork")
        go, done = context.Event(), context.Queue()

        def child():
            go.wait(30)
            try:
                gcs.bucket("shared").blob("late.txt").upload_from_string("late")
                done.put("written")
            except Exception as error:
                done.put(type(error).__name__)

        def test_forks(fake_storage):
            fake_storage.create_bucket("shared")
            context.Process(target=child, name="leftover-child").start()

        def test_next(fake_storage):
            fake_storage.create_bucket("shared")
            go.set()
            assert done.get(timeout=30) == "BadRequest"  # a 400 failedPrecondition
            assert fake_storage.objects("shared") == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*GCPFakesWarning: pytest-gcpfakes: refused a Cloud Storage call from thread"
            " 'process *' at /upload/storage/v1/b/shared/o: it belongs to test"
            " test_child.py::test_forks, which has ended*",
        ]
    )


def test_a_subprocess_outliving_its_test_cannot_write_into_the_next_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        late_child="""
        import sys
        from google.cloud import pubsub_v1

        sys.stdin.readline()  # until the next test has begun
        try:
            pubsub_v1.PublisherClient().publish(
                "projects/test-project/topics/events", b"late"
            ).result(timeout=5)
            print("published")
        except Exception as error:
            print(type(error).__name__)
        """,
        test_sub="""
        import subprocess
        import sys

        started = []

        def test_starts(fake_pubsub, gcpfakes_server):
            fake_pubsub.create_topic("events")
            started.append(subprocess.Popen(
                [sys.executable, "late_child.py"], env=gcpfakes_server.env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            ))

        def test_next(fake_pubsub):
            fake_pubsub.create_topic("events")
            out, _ = started[0].communicate("go\\n", timeout=60)
            assert out.strip() == "FailedPrecondition"
            assert fake_pubsub.published("events") == []
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*GCPFakesWarning: pytest-gcpfakes: refused a Pub/Sub call from thread 'process *'*"]
    )
