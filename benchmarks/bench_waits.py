"""Waits a fake can remove: the batch timer and retry backoff, as ratios from one run.

1. ``publish(...).result()`` one message at a time with the default ``BatchSettings``
   (``max_latency`` 10 ms), against the same call with ``publish_immediately=True``.
   Target: at most 1.5x (waiting on the future commits the batch at once).
2. A call whose first five attempts fail with an injected ``ServiceUnavailable`` and whose
   sixth succeeds, against the same call succeeding at once, through the client's own
   retry: Pub/Sub ``publish(...).result()`` (``fail("Publish", ..., times=5)``) and Storage
   ``blob.download_as_bytes()`` (``fail("storage.objects.get", ..., times=5)``).
   Target: at most 20x (the client's backoff runs on virtual time).

Rounds alternate between the two sides of each pair, so drift in the machine's speed
reaches both alike; each side reports its median round. Nothing here asserts a time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from google.api_core import exceptions
from google.cloud import pubsub_v1, storage

from pytest_gcpfakes import GCPFakes

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PUBLISH_CALLS = int(os.environ.get("BENCH_PUBLISH_CALLS", "200"))  # per round
RETRY_CALLS = int(os.environ.get("BENCH_RETRY_CALLS", "20"))  # per round
TARGET_TIMER = 1.5
TARGET_RETRY = 20.0


def _seconds_per_call(call: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def publish_result(publish_immediately: bool) -> float:
    """Seconds per ``publish(...).result()`` in one round."""
    with GCPFakes(services=("pubsub",), publish_immediately=publish_immediately) as fakes:
        topic = fakes.pubsub.create_topic("bench-waits")
        publisher = pubsub_v1.PublisherClient()
        for _ in range(20):  # warm up
            publisher.publish(topic, b"x" * 100).result(timeout=30)
        seconds = _seconds_per_call(
            lambda: publisher.publish(topic, b"x" * 100).result(timeout=30), PUBLISH_CALLS
        )
        publisher.stop()
    return seconds


def pubsub_retry(failures: int) -> float:
    """Seconds per publish that fails ``failures`` times first, in one round."""
    with GCPFakes(services=("pubsub",)) as fakes:
        topic = fakes.pubsub.create_topic("bench-waits")
        publisher = pubsub_v1.PublisherClient()
        publisher.publish(topic, b"warm").result(timeout=30)

        def call() -> None:
            if failures:
                fakes.pubsub.fail("Publish", exceptions.ServiceUnavailable, times=failures)
            publisher.publish(topic, b"x" * 100).result(timeout=120)

        seconds = _seconds_per_call(call, RETRY_CALLS)
        if failures:
            retried = fakes.pubsub.retried_calls
            assert [c.retries for c in retried] == [failures] * RETRY_CALLS
        publisher.stop()
    return seconds


def storage_retry(failures: int) -> float:
    """Seconds per download that fails ``failures`` times first, in one round."""
    with GCPFakes(services=("storage",)) as fakes:
        fakes.storage.create_bucket("bench-waits")
        fakes.storage.put("bench-waits", "object", b"x" * 1024)
        blob = storage.Client().bucket("bench-waits").blob("object")
        blob.download_as_bytes()

        def call() -> None:
            if failures:
                fakes.storage.fail(
                    "storage.objects.get", exceptions.ServiceUnavailable, times=failures
                )
            blob.download_as_bytes()

        seconds = _seconds_per_call(call, RETRY_CALLS)
        if failures:
            retried = fakes.storage.retried_calls
            assert [c.retries for c in retried] == [failures] * RETRY_CALLS
    return seconds


def _pair(
    name: str, slow: Callable[[], float], fast: Callable[[], float], rounds: int = ROUNDS
) -> float:
    slow_rounds: list[float] = []
    fast_rounds: list[float] = []
    for index in range(rounds):
        order = [(slow, slow_rounds), (fast, fast_rounds)]
        for measure, into in order if index % 2 == 0 else reversed(order):
            into.append(measure())
    slow_s, fast_s = statistics.median(slow_rounds), statistics.median(fast_rounds)
    ratio = slow_s / fast_s
    print(f"{name:<44}{slow_s * 1e3:>10.3f}{fast_s * 1e3:>10.3f}{ratio:>8.2f}")
    return ratio


def measure(rounds: int = ROUNDS) -> dict[str, float]:
    """The three ratios (medians of alternating rounds), printed as they come."""
    print(f"{'pair (ms per call)':<44}{'measured':>10}{'baseline':>10}{'ratio':>8}")
    return {
        "publish_result_ratio_to_immediate": _pair(
            "publish().result(): default vs immediately",
            lambda: publish_result(publish_immediately=False),
            lambda: publish_result(publish_immediately=True),
            rounds,
        ),
        "pubsub_retry_ratio": _pair(
            "Pub/Sub publish: 5 failures vs none",
            lambda: pubsub_retry(5),
            lambda: pubsub_retry(0),
            rounds,
        ),
        "storage_retry_ratio": _pair(
            "Storage download: 5 failures vs none",
            lambda: storage_retry(5),
            lambda: storage_retry(0),
            rounds,
        ),
    }


def main() -> None:
    ratios = measure()
    timer = ratios["publish_result_ratio_to_immediate"]
    pubsub = ratios["pubsub_retry_ratio"]
    gcs = ratios["storage_retry_ratio"]
    print(
        f"targets: batch timer <= {TARGET_TIMER}x {'met' if timer <= TARGET_TIMER else 'NOT met'}; "
        f"retries <= {TARGET_RETRY}x: Pub/Sub {'met' if pubsub <= TARGET_RETRY else 'NOT met'}, "
        f"Storage {'met' if gcs <= TARGET_RETRY else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
