"""Injected faults and latency, through the real clients and their own retry logic."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes import GCPFakesError, _faults
from pytest_gcpfakes._config import parse_ini_value
from pytest_gcpfakes._faults import MAX_FROZEN_RETRIES, FaultPlan

WAIT = 30


def test_retryable_publish_fault_is_retried_by_the_publisher(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=2)
    publisher = pubsub_v1.PublisherClient()
    assert publisher.publish(topic, b"eventually").result(WAIT)
    assert [m.data for m in fake_pubsub.published("orders")] == [b"eventually"]
    publisher.stop()


def test_non_retryable_fault_reaches_the_caller_with_its_origin(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.PermissionDenied)
    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(exceptions.PermissionDenied) as caught:
        publisher.get_topic(topic=topic)
    assert caught.value.message == (
        "Injected by pytest-gcpfakes: fake_pubsub.fail('GetTopic', PermissionDenied)."
    )
    assert publisher.get_topic(topic=topic).name == topic  # times=1: the next call works


def test_fault_given_as_an_instance_is_raised_as_is(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.Forbidden("quota project is closed"))
    with pytest.raises(exceptions.Forbidden, match="quota project is closed"):
        pubsub_v1.PublisherClient().get_topic(topic=topic)


def test_streaming_pull_fault_makes_the_subscriber_reopen_its_stream(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    fake_pubsub.fail("StreamingPull", exceptions.ServiceUnavailable, times=1)
    received = threading.Event()

    def callback(message: Any) -> None:
        message.ack()
        received.set()

    with pubsub_v1.SubscriberClient() as subscriber:
        future = subscriber.subscribe(sub, callback)
        fake_pubsub.publish("orders", b"after the reconnect")
        assert received.wait(WAIT)
        future.cancel()
        future.result(WAIT)


def test_probability_faults_are_reproducible_with_a_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan("pubsub")
        plan.fail("Pull", exceptions.ServiceUnavailable, times=None, probability=0.5, seed=seed)
        outcomes = []
        for _ in range(20):
            try:
                plan.before("Pull")
                outcomes.append(False)
            except exceptions.ServiceUnavailable:
                outcomes.append(True)
        return outcomes

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 0 < sum(pattern(7)) < 20


def test_fault_on_every_call_under_frozen_time_ends_at_the_clients_retry_deadline(
    fake_pubsub: Any,
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.ServiceUnavailable, times=None)
    with freeze_time("2024-01-01"), pytest.raises(exceptions.RetryError) as caught:
        pubsub_v1.PublisherClient().get_topic(topic=topic)  # backoff is virtual: it passes
    assert str(caught.value).startswith("Timeout of 600.0s exceeded, last exception: 503")


def test_fault_on_every_call_under_frozen_time_stops_with_a_sentence_where_backoff_is_real() -> (
    None
):
    # A client on a real channel (server mode) backs off in real time, and under freezegun
    # its retry deadline never passes: the fault stops being retryable after a few.
    plan = FaultPlan("pubsub")
    plan.fail("GetTopic", exceptions.ServiceUnavailable, times=None)
    with freeze_time("2024-01-01"):
        for _ in range(MAX_FROZEN_RETRIES):
            with pytest.raises(exceptions.ServiceUnavailable):
                plan.before("GetTopic")
        with pytest.raises(GCPFakesError) as caught:
            plan.before("GetTopic")
    assert caught.value.message == (
        "pytest-gcpfakes: stopped after 5 injected ServiceUnavailable errors on GetTopic: "
        "time is frozen, so the client's retry deadline never passes; inject with times=k or "
        "probability=p instead of every call."
    )


def test_fault_on_every_call_of_an_endless_retry_stops_with_a_sentence(
    fake_pubsub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_faults, "MAX_VIRTUAL_RETRIES", 20)
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=None)
    publisher = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    # An ordering key makes the publisher retry for 2**32 s.
    error = publisher.publish(topic, b"never", ordering_key="k").exception(timeout=WAIT)
    assert isinstance(error, GCPFakesError)
    assert error.message == (
        "pytest-gcpfakes: stopped after 20 injected ServiceUnavailable errors on Publish: the "
        "client's retry deadline is out of reach (an ordering-key publish retries for 2**32 "
        "s), so it would retry at full speed for ever; inject with times=k or probability=p "
        "instead of every call."
    )
    (retried,) = fake_pubsub.retried_calls
    assert (retried.retries, retried.succeeded) == (20, False)
    publisher.stop()


def test_fail_rejects_what_is_not_a_google_api_exception(fake_pubsub: Any) -> None:
    with pytest.raises(TypeError, match=r"google\.api_core\.exceptions class or instance"):
        fake_pubsub.fail("Publish", ValueError)


def test_storage_fault_is_retried_for_a_conditional_upload(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.objects.insert", exceptions.ServiceUnavailable, times=1)
    blob = storage.Client().bucket("uploads").blob("retried.txt")
    blob.upload_from_string("made it", if_generation_match=0)  # idempotent: retried
    assert fake_storage.get("uploads", "retried.txt") == b"made it"


def test_storage_fault_reaches_a_caller_that_turned_retries_off(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.objects.insert", exceptions.ServiceUnavailable, times=1)
    blob = storage.Client().bucket("uploads").blob("not-retried.txt")
    with pytest.raises(exceptions.ServiceUnavailable):
        blob.upload_from_string("lost", retry=None)
    assert fake_storage.objects("uploads") == []


def test_storage_fault_answers_with_the_status_of_the_exception(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.buckets.get", exceptions.Forbidden)
    with pytest.raises(exceptions.Forbidden, match="Injected by pytest-gcpfakes"):
        storage.Client().get_bucket("uploads")


@pytest.mark.gcpfakes(latency={"pubsub": 0.001, "storage.objects.get": 0.001})
def test_latency_option_slows_calls_without_changing_results(
    fake_pubsub: Any, fake_storage: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    assert pubsub_v1.PublisherClient().get_topic(topic=topic).name == topic
    fake_storage.put("uploads", "a.txt", "a")
    assert storage.Client().bucket("uploads").blob("a.txt").download_as_bytes() == b"a"


def test_latency_ini_value_is_parsed_as_key_seconds_pairs() -> None:
    assert parse_ini_value("latency", "Publish=0.01, storage=0.005") == {
        "Publish": 0.01,
        "storage": 0.005,
    }
    with pytest.raises(TypeError, match="takes KEY=SECONDS pairs"):
        parse_ini_value("latency", "Publish")


def _expected_failures(probability: float, seed: int, calls: int) -> int:
    draws = random.Random(seed)
    return sum(draws.random() < probability for _ in range(calls))


def test_probability_fault_lasts_unless_times_is_given(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.PermissionDenied, probability=0.5, seed=7)
    publisher = pubsub_v1.PublisherClient()
    failed = 0
    for _ in range(100):
        try:
            publisher.get_topic(topic=topic)
        except exceptions.PermissionDenied:
            failed += 1
    assert failed == _expected_failures(0.5, 7, 100)
    assert 30 < failed < 70  # about half, not the first failure only


def test_probability_fault_with_times_fails_at_most_that_many_calls(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.PermissionDenied, times=3, probability=1.0)
    publisher = pubsub_v1.PublisherClient()
    outcomes = []
    for _ in range(5):
        try:
            publisher.get_topic(topic=topic)
            outcomes.append("ok")
        except exceptions.PermissionDenied:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "failed", "ok", "ok"]


def test_storage_probability_fault_lasts_unless_times_is_given(fake_storage: Any) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.fail("storage.buckets.get", exceptions.Forbidden, probability=0.5, seed=7)
    client = storage.Client()
    failed = 0
    for _ in range(40):
        try:
            client.get_bucket("uploads")
        except exceptions.Forbidden:
            failed += 1
    assert failed == _expected_failures(0.5, 7, 40)
    assert failed > 1


def test_fault_without_probability_still_fails_once_by_default(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.PermissionDenied)
    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(exceptions.PermissionDenied):
        publisher.get_topic(topic=topic)
    assert publisher.get_topic(topic=topic).name == topic
