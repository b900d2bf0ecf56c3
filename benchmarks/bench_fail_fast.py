"""How fast a client call with no fake active fails, against the same call served by the fake.

The failure must come at once: no retry loop, no connection attempt, no credentials lookup.
The baseline is the same call succeeding against an active fake, measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from google.cloud import pubsub_v1, storage

from pytest_gcpfakes import FakeNotActiveError, GCPFakes, _activation

ROUNDS = 200


def _median_seconds(call: Callable[[], object], *, expect_error: bool) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        try:
            call()
        except FakeNotActiveError:
            if not expect_error:
                raise
        else:
            if expect_error:
                raise AssertionError("the call did not fail")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    rows = []
    _activation.install()  # as the pytest plugin does, for the whole run
    with GCPFakes() as fakes:
        publisher = pubsub_v1.PublisherClient()
        gcs = storage.Client()
        topic = fakes.pubsub.create_topic("bench")
        fakes.storage.create_bucket("bench-bucket")
        calls: dict[str, Callable[[], object]] = {
            "pubsub get_topic": lambda: publisher.get_topic(topic=topic),
            "storage get_bucket": lambda: gcs.get_bucket("bench-bucket"),
        }
        served = {name: _median_seconds(call, expect_error=False) for name, call in calls.items()}
    for name, call in calls.items():
        failed = _median_seconds(call, expect_error=True)
        rows.append((name, served[name], failed))
    print(f"{'call':<22}{'served (ms)':>14}{'no fake (ms)':>15}{'ratio':>8}")
    for name, ok, failed in rows:
        print(f"{name:<22}{ok * 1e3:>14.3f}{failed * 1e3:>15.3f}{failed / ok:>8.2f}")


if __name__ == "__main__":
    main()
