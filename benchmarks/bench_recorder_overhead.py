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


def _per_call(call: object) -> float:
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(ROUNDS):
            call()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) / ROUNDS)
    return statistics.median(samples)


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
