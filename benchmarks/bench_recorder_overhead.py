"""What recording one use costs: an instrumented client method against the same method
unwrapped, measured in the same run. Target: at most 3 microseconds added per use.

``Bucket.blob()`` is the probe: it does no I/O, so the difference is the recorder's own
work (caller check, request lookup, call site, logical clock, one append).
"""

from __future__ import annotations

import statistics
import time

from google.cloud import storage

from pytest_gcpfakes import GCPFakes
from pytest_gcpfakes.usage._recorder import recorder

ROUNDS = 20_000


def _per_call(call: object, calls: int = ROUNDS) -> float:
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            call()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def measure() -> dict[str, float]:
    """Seconds per ``Bucket.blob()`` recorded and unwrapped, and per faked client call
    (``get_topic`` in-process), to put the recorder's cost beside."""
    from google.cloud import pubsub_v1

    with GCPFakes(services=("storage", "pubsub")) as fakes:
        bucket = storage.Client().bucket("bench-bucket")
        wrapped = storage.Bucket.blob
        unwrapped = wrapped.__wrapped__  # type: ignore[attr-defined]
        recorder.begin()
        instrumented = _per_call(lambda: bucket.blob("name"))
        plain = _per_call(lambda: unwrapped(bucket, "name"))
        topic = fakes.pubsub.create_topic("bench")
        publisher = pubsub_v1.PublisherClient()
        for _ in range(200):
            publisher.get_topic(topic=topic)
        faked_call = _per_call(lambda: publisher.get_topic(topic=topic), calls=2_000)
        publisher.stop()
    added = instrumented - plain
    return {
        "plain": plain,
        "instrumented": instrumented,
        "us_per_use": added * 1e6,
        "faked_call": faked_call,
        "overhead_ratio": (faked_call + added) / faked_call,
    }


def main() -> None:
    with GCPFakes(services=("storage",)):
        bucket = storage.Client().bucket("bench-bucket")
        wrapped = storage.Bucket.blob
        unwrapped = wrapped.__wrapped__  # type: ignore[attr-defined]
        recorder.begin()
        instrumented = _per_call(lambda: bucket.blob("name"))
        recorded = len(recorder.recording().uses)
        plain = _per_call(lambda: unwrapped(bucket, "name"))
    overhead = instrumented - plain
    print(f"{'Bucket.blob()':<24}{'plain (µs)':>12}{'recorded (µs)':>15}{'added (µs)':>12}")
    print(f"{'':<24}{plain * 1e6:>12.2f}{instrumented * 1e6:>15.2f}{overhead * 1e6:>12.2f}")
    print(f"uses recorded: {recorded}; target: at most 3.00 µs added per use")


if __name__ == "__main__":
    main()
