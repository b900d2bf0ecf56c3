"""Warns on purpose: a thread that outlives its test (docs/examples/output/leftover_thread.txt)."""

from __future__ import annotations

import threading

import orders_app
import pytest

# Shown as warnings here; the examples' pytest.ini makes every other warning an error.
pytestmark = pytest.mark.filterwarnings("default::pytest_gcpfakes.GCPFakesWarning")

go = threading.Event()
outcome: list[str] = []


def publish_later() -> None:
    go.wait(30)
    try:
        orders_app.publisher.publish(orders_app.TOPIC, b"from a leftover thread").result(5)
        outcome.append("published")
    except Exception as error:
        outcome.append(type(error).__name__)


def test_starts_a_thread(fake_pubsub):
    fake_pubsub.create_topic("orders")
    threading.Thread(target=publish_later, name="leftover").start()  # never joined


def test_next(fake_pubsub):
    fake_pubsub.create_topic("orders")
    go.set()
    (leftover,) = [t for t in threading.enumerate() if t.name == "leftover"]
    leftover.join(30)
    assert outcome == ["LateCallError"]  # refused: it would have landed in this test's fakes
    assert fake_pubsub.published("orders") == []
