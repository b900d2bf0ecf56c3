"""A client's retry backoff after failures the fake answered runs on virtual time."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.cloud import pubsub_v1, storage

WAIT = 30
FROZEN = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def real_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every real ``time.sleep()`` from here on, recorded instead of slept.

    The retry loop's own clock reads ``time.sleep`` at each call, so a backoff that is
    real lands here; a virtual one does not. (Only for tests without a publisher: its
    batch timer sleeps through ``time.sleep`` too.)
    """
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def _within_policy(
    sleeps: tuple[float, ...], initial: float, multiplier: float, maximum: float
) -> bool:
    """Each backoff is what api_core's generator draws: uniform in [0, the capped delay]."""
    return all(
        0 <= sleep <= min(initial * multiplier**attempt, maximum)
        for attempt, sleep in enumerate(sleeps)
    )


def test_publish_retried_five_times_records_the_backoff_the_client_computed(
    fake_pubsub: Any,
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=5)
    publisher = pubsub_v1.PublisherClient()
    assert publisher.publish(topic, b"sixth time lucky").result(timeout=WAIT)
    (call,) = fake_pubsub.retried_calls
    assert (call.service, call.retries, call.succeeded) == ("pubsub", 5, True)
    assert call.delay == pytest.approx(sum(call.sleeps))
    assert call.delay > 0
    # google-cloud-pubsub 2.44's Publish retry: initial 0.1 s, multiplier 4, maximum 60 s.
    assert _within_policy(call.sleeps, 0.1, 4.0, 60.0)
    assert call.thread.startswith("Thread-CommitBatchPublisher")
    publisher.stop()


# Before 3.0, google-cloud-storage hands media retries to google-resumable-media's own loop,
# which sleeps for real (the plugin makes google-api-core's retry loop virtual only).
_MEDIA_RETRY = "retrying media downloads through google-api-core's Retry"


@pytest.mark.parametrize(
    ("method", "call"),
    [
        pytest.param(
            "storage.objects.get",
            lambda client: client.bucket("uploads").blob("a").download_as_bytes(),
            id="media-download",
            marks=pytest.mark.since("google-cloud-storage", "3.0.0", _MEDIA_RETRY),
        ),
        pytest.param(
            "storage.buckets.get", lambda client: client.get_bucket("uploads"), id="json-api"
        ),
    ],
)
def test_storage_call_retried_five_times_backs_off_virtually(
    fake_storage: Any, real_sleeps: list[float], method: str, call: Any
) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.put("uploads", "a", b"data")
    fake_storage.fail(method, exceptions.ServiceUnavailable, times=5)
    call(storage.Client())
    (retried,) = fake_storage.retried_calls
    assert (retried.service, retried.retries, retried.succeeded) == ("storage", 5, True)
    # google-cloud-storage 3.17's DEFAULT_RETRY: initial 1 s, multiplier 2, maximum 60 s.
    assert _within_policy(retried.sleeps, 1.0, 2.0, 60.0)
    assert real_sleeps == []


@pytest.mark.since("google-cloud-storage", "3.0.0", _MEDIA_RETRY)
def test_retry_deadline_passes_on_virtual_time(fake_storage: Any, real_sleeps: list[float]) -> None:
    fake_storage.create_bucket("uploads")
    fake_storage.put("uploads", "a", b"data")
    fake_storage.fail("storage.objects.get", exceptions.ServiceUnavailable, times=None)
    blob = storage.Client().bucket("uploads").blob("a")
    with pytest.raises(exceptions.RetryError, match=r"Timeout of 120\.0s exceeded"):
        blob.download_as_bytes()
    (retried,) = fake_storage.retried_calls
    assert not retried.succeeded
    # It gave up when the next backoff (at most 60 s) would pass the 120 s deadline, after
    # sleeping at least 1 + 2 + 4 + 8 + 16 + 32 > 60 s worth of backoff.
    assert retried.delay <= 120
    assert retried.retries >= 6
    assert real_sleeps == []


def test_a_custom_retry_policy_is_followed_on_virtual_time(
    fake_pubsub: Any, real_sleeps: list[float]
) -> None:
    topic = fake_pubsub.create_topic("orders")
    fake_pubsub.fail("GetTopic", exceptions.ServiceUnavailable, times=None)
    policy = Retry(initial=2.0, multiplier=3.0, maximum=20.0, timeout=300.0)
    with pytest.raises(exceptions.RetryError, match=r"Timeout of 300\.0s exceeded"):
        pubsub_v1.PublisherClient().get_topic(topic=topic, retry=policy)
    (retried,) = fake_pubsub.retried_calls
    assert _within_policy(retried.sleeps, 2.0, 3.0, 20.0)
    assert 250 < retried.delay <= 300  # the last backoff would have passed the deadline
    assert real_sleeps == []


def test_backoff_after_a_failure_the_fake_did_not_answer_is_real(
    fake_pubsub: Any, real_sleeps: list[float]
) -> None:
    failures = [exceptions.ServiceUnavailable("a real server"), exceptions.ServiceUnavailable("")]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "done"

    assert Retry(initial=1.0, multiplier=1.0, maximum=1.0)(flaky)() == "done"
    assert len(real_sleeps) == 2
    assert fake_pubsub.retried_calls == []


def test_virtual_backoff_leaves_the_fakes_clock_and_leases_alone(fake_pubsub: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders", ack_deadline_seconds=10)
    subscriber = pubsub_v1.SubscriberClient()
    publisher = pubsub_v1.PublisherClient()
    with freeze_time(FROZEN):
        fake_pubsub.publish("orders", b"leased")
        (leased,) = subscriber.pull(subscription=sub, max_messages=1).received_messages
        fake_pubsub.fail("Publish", exceptions.ServiceUnavailable, times=5)
        assert publisher.publish(topic, b"retried").result(timeout=WAIT)
        (retried,) = fake_pubsub.retried_calls
        assert retried.retries == 5
        assert fake_pubsub.clock.time() == FROZEN.timestamp()
        (outstanding,) = fake_pubsub.state("worker").outstanding
        assert outstanding.ack_id == leased.ack_id  # its 10 s deadline has not passed
    publisher.stop()
    subscriber.close()
