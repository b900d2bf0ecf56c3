"""Observable time follows freezegun, time-machine and ``fakes.clock.advance()``."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest
import time_machine
from freezegun import freeze_time
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes._clock import Clock, logical_now, wall_time

FROZEN = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def pubsub_pair(fake_pubsub: Any) -> tuple[Any, str, str]:
    topic = fake_pubsub.create_topic("clock-topic")
    sub = fake_pubsub.create_subscription("clock-sub", "clock-topic", ack_deadline_seconds=10)
    return pubsub_v1.SubscriberClient(), topic, sub


def _pull(subscriber: Any, sub: str) -> list[Any]:
    response = subscriber.pull(subscription=sub, max_messages=10, timeout=5)
    return list(response.received_messages)


def test_publish_time_follows_freezegun(pubsub_pair: tuple[Any, str, str]) -> None:
    subscriber, topic, sub = pubsub_pair
    with freeze_time(FROZEN):
        pubsub_v1.PublisherClient().publish(topic, b"frozen").result(timeout=30)
        (received,) = _pull(subscriber, sub)
    assert received.message.publish_time == FROZEN


def test_publish_time_follows_time_machine(pubsub_pair: tuple[Any, str, str]) -> None:
    subscriber, topic, sub = pubsub_pair
    with time_machine.travel(FROZEN, tick=False):
        pubsub_v1.PublisherClient().publish(topic, b"travelled").result(timeout=30)
        (received,) = _pull(subscriber, sub)
    assert received.message.publish_time == FROZEN


def test_object_timestamps_follow_freezegun(fake_storage: Any) -> None:
    with freeze_time(FROZEN):
        blob = storage.Client().create_bucket("frozen-bucket").blob("f")
        blob.upload_from_string("x")
    assert blob.time_created == FROZEN
    assert blob.updated == FROZEN


def test_frozen_time_is_read_correctly_from_library_threads() -> None:
    # freezegun hands real time to code running near `threading`; our clock must not care.
    seen: list[float] = []
    with freeze_time(FROZEN):
        thread = threading.Thread(target=lambda: seen.append(wall_time()))
        thread.start()
        thread.join()
    assert seen == [FROZEN.timestamp()]


def test_unacked_message_is_redelivered_after_clock_advance(
    fake_pubsub: Any, pubsub_pair: tuple[Any, str, str]
) -> None:
    subscriber, _, sub = pubsub_pair
    fake_pubsub.publish("clock-topic", b"lease")
    (first,) = _pull(subscriber, sub)
    assert _pull_nothing(subscriber, sub)
    fake_pubsub.clock.advance(10)
    (again,) = _pull(subscriber, sub)
    assert again.message.message_id == first.message.message_id
    assert again.ack_id != first.ack_id


def test_unacked_message_is_redelivered_after_freezegun_tick(
    fake_pubsub: Any, pubsub_pair: tuple[Any, str, str]
) -> None:
    subscriber, _, sub = pubsub_pair
    with freeze_time(FROZEN) as frozen:
        fake_pubsub.publish("clock-topic", b"lease")
        (first,) = _pull(subscriber, sub)
        frozen.tick(9)
        assert _pull_nothing(subscriber, sub)
        frozen.tick(1)
        (again,) = _pull(subscriber, sub)
    assert again.message.message_id == first.message.message_id


def test_clock_advance_moves_only_the_fakes_time(fake_pubsub: Any) -> None:
    with freeze_time(FROZEN):
        fake_pubsub.clock.advance(3600)
        assert fake_pubsub.clock.time() == FROZEN.timestamp() + 3600
        assert datetime.now(timezone.utc) == FROZEN


def test_clock_advance_rejects_negative_seconds() -> None:
    with pytest.raises(ValueError, match="non-negative") as caught:
        Clock().advance(-1)
    assert str(caught.value) == (
        "fakes.clock.advance() takes a non-negative number of seconds; "
        "to go back in time, use freezegun or time-machine."
    )


def test_logical_clock_moves_forward_while_time_is_frozen() -> None:
    with freeze_time(FROZEN):
        first, second = logical_now(), logical_now()
    assert second > first


def test_empty_pull_returns_under_freezegun_instead_of_hanging(
    pubsub_pair: tuple[Any, str, str],
) -> None:
    subscriber, _, sub = pubsub_pair
    with freeze_time(FROZEN):
        assert _pull(subscriber, sub) == []


def test_empty_pull_answers_once_the_fakes_clock_has_passed_its_wait(
    fake_pubsub: Any, pubsub_pair: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_gcpfakes.pubsub import _backend

    subscriber, _, sub = pubsub_pair
    # Real time alone would end this pull only at its RPC timeout (60 s), after the test.
    monkeypatch.setattr(_backend, "PULL_WAIT_SECONDS", 3600.0)
    waiting = threading.Event()
    wait_until = _backend.wait_until

    def noting_the_wait(cond: Any, give_up: float) -> bool:
        waiting.set()
        return wait_until(cond, give_up)

    monkeypatch.setattr(_backend, "wait_until", noting_the_wait)
    answers: list[Any] = []
    puller = threading.Thread(
        target=lambda: answers.append(subscriber.pull(subscription=sub, max_messages=10))
    )
    puller.start()
    assert waiting.wait(30)
    fake_pubsub.clock.advance(3600)
    puller.join(30)
    assert not puller.is_alive()
    assert [list(a.received_messages) for a in answers] == [[]]


def _pull_nothing(subscriber: Any, sub: str) -> bool:
    response = subscriber.pull(subscription=sub, max_messages=10, return_immediately=True)
    return len(response.received_messages) == 0
