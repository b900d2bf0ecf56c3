"""10,000 Pub/Sub messages published, pulled and acked: gcpfakes vs the emulator vs pytest-pubsub.

One workload for every backend: publish all messages and keep the futures, wait for every
future, then pull in batches of up to 1,000 and acknowledge each batch, until every message
came back once. Ratios are against gcpfakes measured in the same run.
Target ([10/12]): gcpfakes at most 1.1 times the client floor's time. The older target of
5 times faster than Google's emulator cannot be met with the real clients (the floor itself
is only about 1.3 times faster than the emulator), so the speedup over the emulator is
printed without a verdict.

- gcpfakes: the real ``pubsub_v1`` clients inside ``with GCPFakes(services=("pubsub",))``.
- client floor: the same clients and in-memory transport with a backend that answers
  publish, pull and acknowledge with prepared responses: what the client library (and the
  plugin's interception) costs by itself, which no backend under the real clients can beat.
- emulator: the same real clients with an explicit gRPC transport to
  ``gcloud beta emulators pubsub start`` on a free 127.0.0.1 port (start-up printed, not
  timed). Skipped with the reason when gcloud is missing or the emulator does not start.
- pytest-pubsub: a hand-written look-alike of the clients (no real client code runs), in a
  throwaway venv of its own (``$BENCH_PYTEST_PUBSUB_VENV``, default ``/tmp/bench-venv``),
  created on first use with ``python -m venv`` and ``pip install pytest-pubsub==0.1.1``.
  Skipped with the reason when that fails; it never enters this project's environments.

Then the library's batch timer: ``publish(...).result()`` one message at a time, with the
default ``BatchSettings`` (``max_latency`` 10 ms) and with ``publish_immediately=True``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PubSubCannedHandle, parity_harness, pubsub_emulator, throwaway_python
from google.cloud import pubsub_v1
from google.pubsub_v1 import types

from pytest_gcpfakes import GCPFakes, _registry
from pytest_gcpfakes.pubsub import _threads

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "10000"))
PULL_BATCH = 1000
PAYLOAD_BYTES = 100
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LATENCY_CALLS = int(os.environ.get("BENCH_LATENCY_CALLS", "500"))
WORKLOAD_SECONDS = 300.0
"""Upper bound on one round of the workload on any backend; past it the round fails."""
RPC_SECONDS = 30.0
"""Upper bound on one pull or acknowledge call."""
TARGET_VS_FLOOR = 1.1
ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("BENCH_PYTEST_PUBSUB_VENV", "/tmp/bench-venv"))
PYTEST_PUBSUB = "pytest-pubsub==0.1.1"


@dataclass(frozen=True)
class Round:
    publish: float
    """Seconds from the first ``publish()`` to the last future's result."""
    pull_ack: float
    """Seconds from then until every message was pulled and acknowledged."""

    @property
    def total(self) -> float:
        return self.publish + self.pull_ack


def _payload(i: int) -> bytes:
    return f"{i:08d}".encode().ljust(PAYLOAD_BYTES, b"x")


def _workload(
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    topic: str,
    subscription: str,
) -> Round:
    give_up = time.monotonic() + WORKLOAD_SECONDS

    def remaining() -> float:
        left = give_up - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the workload took more than {WORKLOAD_SECONDS:.0f} s")
        return left

    start = time.perf_counter()
    futures = [publisher.publish(topic, _payload(i)) for i in range(MESSAGES)]
    for future in futures:
        future.result(timeout=remaining())
    published = time.perf_counter()
    seen: set[str] = set()
    while len(seen) < MESSAGES:
        response = subscriber.pull(
            subscription=subscription,
            max_messages=PULL_BATCH,
            timeout=min(remaining(), RPC_SECONDS),
        )
        received = response.received_messages
        if not received:
            continue
        subscriber.acknowledge(
            subscription=subscription,
            ack_ids=[r.ack_id for r in received],
            timeout=min(remaining(), RPC_SECONDS),
        )
        seen.update(r.message.message_id for r in received)
    done = time.perf_counter()
    return Round(publish=published - start, pull_ack=done - published)


def one_round(
    publisher: pubsub_v1.PublisherClient, subscriber: pubsub_v1.SubscriberClient, project: str
) -> Round:
    """One round of the workload on a topic and subscription of its own."""
    name = f"bench-{uuid.uuid4().hex[:10]}"  # the emulator stalls on reused names
    topic = publisher.create_topic(name=f"projects/{project}/topics/{name}").name
    subscription = subscriber.create_subscription(
        name=f"projects/{project}/subscriptions/{name}",
        topic=topic,
        ack_deadline_seconds=60,
    ).name
    return _workload(publisher, subscriber, topic, subscription)


def _rounds(
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    project: str,
    after_round: Callable[[], None] = lambda: None,
) -> Round:
    """The median of ``ROUNDS`` rounds; ``after_round()`` runs after each, untimed."""
    results = []
    for _ in range(ROUNDS):
        results.append(one_round(publisher, subscriber, project))
        after_round()
    return sorted(results, key=lambda r: r.total)[len(results) // 2]


def close_clients(
    publisher: pubsub_v1.PublisherClient, subscriber: pubsub_v1.SubscriberClient
) -> None:
    publisher.stop()
    publisher.transport.close()
    subscriber.close()


# ---------------------------------------------------------------------------------------
# The backends. Each returns the median round, or a string saying why it was skipped.


def bench_gcpfakes() -> Round:
    with GCPFakes(services=("pubsub",)) as fakes:
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        try:
            return _rounds(publisher, subscriber, fakes.project)
        finally:
            close_clients(publisher, subscriber)


class CannedBackend:
    """Prepared answers to publish, pull and acknowledge; anything else goes to the fake.

    The plugin's ``publish()`` interception records each message's calling thread, which
    a fake's backend claims as the message arrives. This one claims nothing, so after
    each round the floor forgets the records (:func:`forget_unclaimed`, untimed): kept,
    they piled up by 10,000 a round (to the 100,000 cap), a heap every later garbage
    collection of both legs traversed, and a cleared pile charged to whichever leg hit
    the cap.
    """

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.publish_responses: dict[int, types.PublishResponse] = {}
        self.pull_responses = [
            types.PullResponse(
                received_messages=[
                    {"ack_id": f"ack-{i}", "message": {"data": _payload(i), "message_id": str(i)}}
                    for i in range(first, min(first + PULL_BATCH, MESSAGES))
                ]
            )
            for first in range(0, MESSAGES, PULL_BATCH)
        ]
        self.pulls = 0

    def call(self, rpc: str, request: Any, timeout: float | None) -> Any:
        if rpc == "publish":
            count = len(request.messages)
            if count not in self.publish_responses:
                ids = [str(i) for i in range(count)]
                self.publish_responses[count] = types.PublishResponse(message_ids=ids)
            return self.publish_responses[count]
        if rpc == "pull":
            self.pulls += 1
            return self.pull_responses[(self.pulls - 1) % len(self.pull_responses)]
        if rpc == "acknowledge":
            return None
        return self.fallback.call(rpc, request, timeout)


def forget_unclaimed() -> None:
    """Drop the publisher-thread records the floor's backend never claims (see above)."""
    _threads.forget_all()


def bench_client_floor() -> Round:
    with GCPFakes(services=("pubsub",)) as fakes:
        handle = PubSubCannedHandle(CannedBackend(fakes.pubsub.backend), fakes.config)
        _registry.activate(handle)
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        try:
            return _rounds(publisher, subscriber, fakes.project, after_round=forget_unclaimed)
        finally:
            close_clients(publisher, subscriber)
            _registry.deactivate(handle)


def bench_emulator() -> Round | str:
    with pubsub_emulator() as (address, why):
        if address is None:
            return why
        # The parity suite's harness builds clients with explicit gRPC transports to it.
        harness = parity_harness()
        publisher = harness.channel_publisher(address)
        subscriber = harness.channel_subscriber(address)
        try:
            # The emulator has no reset: a project of its own (ids of 6+ characters).
            return _rounds(publisher, subscriber, f"bench-{uuid.uuid4().hex[:12]}")
        finally:
            close_clients(publisher, subscriber)


PYTEST_PUBSUB_WORKLOAD = """
import json, sys, time
from pytest_pubsub.publisher import MockPublisherClient
from pytest_pubsub.registry import PubSubBroker
from pytest_pubsub.subscriber import MockSubscriberClient

messages, batch, size, rounds = map(int, sys.argv[1:5])
results = []
for r in range(rounds):
    broker = PubSubBroker()
    publisher = MockPublisherClient(broker)
    subscriber = MockSubscriberClient(broker)
    topic = publisher.topic_path("bench-project", f"bench-{r}")
    subscription = subscriber.subscription_path("bench-project", f"bench-{r}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    start = time.perf_counter()
    futures = [
        publisher.publish(topic, f"{i:08d}".encode().ljust(size, b"x")) for i in range(messages)
    ]
    for future in futures:
        future.result(timeout=60)
    published = time.perf_counter()
    seen = set()
    while len(seen) < messages:
        received = subscriber.pull(subscription=subscription, max_messages=batch).received_messages
        if not received:
            raise SystemExit(f"pytest-pubsub returned {len(seen)} of {messages} messages")
        subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in received])
        seen.update(m.message.message_id for m in received)
    results.append((published - start, time.perf_counter() - published))
print(json.dumps(results))
"""


def pytest_pubsub_python() -> Path | str:
    return throwaway_python(VENV, (PYTEST_PUBSUB,), "pytest_pubsub")


def bench_pytest_pubsub() -> Round | str:
    python = pytest_pubsub_python()
    if isinstance(python, str):
        return python
    args = [str(MESSAGES), str(PULL_BATCH), str(PAYLOAD_BYTES), str(ROUNDS)]
    try:
        done = subprocess.run(
            [str(python), "-c", PYTEST_PUBSUB_WORKLOAD, *args],
            capture_output=True,
            text=True,
            timeout=WORKLOAD_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the workload took more than {WORKLOAD_SECONDS:.0f} s"
    if done.returncode != 0:
        return f"the workload exited with {done.returncode}: {done.stderr.strip()[-500:]}"
    results = [Round(publish, pull_ack) for publish, pull_ack in json.loads(done.stdout)]
    return sorted(results, key=lambda r: r.total)[len(results) // 2]


# ---------------------------------------------------------------------------------------
# The batch timer


def publish_result_latency(**options: bool) -> float:
    """Mean seconds of one ``publish(...).result()`` at a time on gcpfakes."""
    with GCPFakes(services=("pubsub",), **options) as fakes:
        topic = fakes.pubsub.create_topic("latency")
        publisher = pubsub_v1.PublisherClient()
        try:
            for i in range(20):  # warm up
                publisher.publish(topic, _payload(i)).result(timeout=10)
            start = time.perf_counter()
            for i in range(LATENCY_CALLS):
                publisher.publish(topic, _payload(i)).result(timeout=10)
            return (time.perf_counter() - start) / LATENCY_CALLS
        finally:
            publisher.stop()


def main() -> None:
    print(
        f"{MESSAGES:,} messages of {PAYLOAD_BYTES} bytes: publish all, wait for every future, "
        f"then pull (up to {PULL_BATCH:,} a call) and acknowledge; median of {ROUNDS} rounds"
    )
    backends: dict[str, Callable[[], Round | str]] = {
        "gcpfakes": bench_gcpfakes,
        "client floor": bench_client_floor,
        "emulator": bench_emulator,
        "pytest-pubsub": bench_pytest_pubsub,
    }
    results = {name: bench() for name, bench in backends.items()}
    ours = results["gcpfakes"]
    assert isinstance(ours, Round)
    print()
    print(
        f"{'backend':<15}{'seconds':>9}{'messages/s':>12}{'publish s':>11}{'pull+ack s':>12}"
        f"{'vs gcpfakes':>13}"
    )
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<15}{'skipped':>9}  {result}")
            continue
        print(
            f"{name:<15}{result.total:>9.2f}{MESSAGES / result.total:>12,.0f}"
            f"{result.publish:>11.2f}{result.pull_ack:>12.2f}"
            f"{result.total / ours.total:>12.2f}x"
        )
    floor = results["client floor"]
    assert isinstance(floor, Round)
    ratio = ours.total / floor.total
    verdict = "met" if ratio <= TARGET_VS_FLOOR else "NOT met"
    print(f"target: gcpfakes at most {TARGET_VS_FLOOR}x the client floor: {ratio:.2f}x ({verdict})")
    emulator = results["emulator"]
    if isinstance(emulator, Round):
        print(
            f"gcpfakes is {emulator.total / ours.total:.1f}x faster than the emulator; the client "
            f"floor, {emulator.total / floor.total:.1f}x: no backend under the real clients can "
            "beat the floor"
        )
    if isinstance(results["pytest-pubsub"], Round):
        print(
            "pytest-pubsub runs look-alike classes, no google-cloud-pubsub code: the same calls"
            " and sizes,\nbut publish() appends to a deque and returns a done future (no"
            " batching, commit threads,\nprotobuf requests or retries) and pull/acknowledge are"
            " dict operations."
        )
    print()
    print(f"publish(...).result() one at a time, {LATENCY_CALLS} calls, on gcpfakes:")
    batched = publish_result_latency()
    immediate = publish_result_latency(publish_immediately=True)
    print(f"{'settings':<26}{'ms per call':>12}")
    print(f"{'default (10 ms timer)':<26}{batched * 1e3:>12.3f}")
    print(f"{'publish_immediately=True':<26}{immediate * 1e3:>12.3f}")
    print(f"ratio default / immediate: {batched / immediate:.1f}x")


if __name__ == "__main__":
    main()
