"""Executor tasks carry their request and test without changing what the executor holds.

The recorder patches ``ThreadPoolExecutor.submit`` for the whole process. Code reads an
executor's queue back (google-cloud-pubsub's scheduler nacks the first argument of each
queued work item on shutdown), so what is queued must stay exactly what was submitted.
"""

from __future__ import annotations

import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

WAIT = 30  # seconds; a bound on waiting for events, never a sleep


def _task(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
    return args, kwargs


def _drain(pool: ThreadPoolExecutor) -> list[Any]:
    items = []
    while True:
        try:
            items.append(pool._work_queue.get(block=False))
        except queue.Empty:
            return items


def test_a_queued_work_item_holds_exactly_the_callers_fn_and_arguments() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(gate.wait, WAIT)  # holds the only worker: the next item stays queued
        queued = pool.submit(_task, "message", 2, key="value")
        # Taken out as google-cloud-pubsub's ThreadScheduler.shutdown() takes it, then
        # put back to run. The gate's item may still be queued before it.
        items = _drain(pool)
        for taken in items:
            pool._work_queue.put(taken)
        item = items[-1]
        gate.set()
        assert queued.result(WAIT) == (("message", 2), {"key": "value"})
    if sys.version_info >= (3, 14):
        assert item.task == (_task, ("message", 2), {"key": "value"})
    else:
        assert (item.fn, item.args, item.kwargs) == (_task, ("message", 2), {"key": "value"})


def test_a_task_raising_still_fails_its_future() -> None:
    def fails() -> None:
        raise KeyError("boom")

    with ThreadPoolExecutor(max_workers=1) as pool:
        error = pool.submit(fails).exception(WAIT)
    assert isinstance(error, KeyError)


LEFTOVER_TASK = """
import threading
from concurrent.futures import ThreadPoolExecutor
from google.cloud import pubsub_v1

publisher = pubsub_v1.PublisherClient()
TOPIC = "projects/test-project/topics/events"
pool = ThreadPoolExecutor(max_workers=1)
go = threading.Event()
submitted = []

def later():
    go.wait(30)
    return publisher.publish(TOPIC, b"from a leftover task").result(timeout=5)

def test_submits_a_task(fake_pubsub):
    fake_pubsub.create_topic("events")
    submitted.append(pool.submit(later))

def test_next(fake_pubsub):
    fake_pubsub.create_topic("events")
    go.set()
    error = submitted[0].exception(timeout=30)
    assert type(error).__name__ == "LateCallError", error
    assert fake_pubsub.published("events") == []
"""


@pytest.mark.usefixtures("clean_env")
def test_a_task_that_runs_after_its_test_ended_has_its_calls_refused(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leftover_task=LEFTOVER_TASK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rw")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*GCPFakesWarning: pytest-gcpfakes: refused a Pub/Sub call from thread"
            " 'ThreadPoolExecutor-0_0' at test_leftover_task.py:13: it belongs to test"
            " test_leftover_task.py::test_submits_a_task, which has ended*",
        ]
    )
