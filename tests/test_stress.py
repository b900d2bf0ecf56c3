"""The stress test: sixteen threads mix every kind of call through the real clients, with
faults injected, then the invariants are checked.

Pub/Sub: publish, pull, ack, nack, modack and streaming subscribe on two subscriptions of
one topic ("pulled", acked by unary RPCs, and "streamed", exactly-once, acked with
``ack_with_response()``). Every message published must be delivered at least once on each,
and none may be delivered after its ack was confirmed. Order between threads is a global
ticket: a delivery whose pull began (or whose callback ran) after an ack of the same message
had returned is a redelivery after its ack.

Storage: each thread uploads (multipart and resumable), downloads, reads ranges, lists,
and deletes objects under a prefix of its own, against a model of what it wrote, and all
threads increment shared counters by compare-and-swap (``if_generation_match`` on the
object's bytes, ``if_metageneration_match`` on its metadata): no increment may be lost, and
every listing must agree with the models.

``--gcpfakes-stress-seconds=N`` runs the threads for N seconds (default 3). A faulthandler
watchdog dumps every thread's stack if the test stalls; every wait here is bounded.
"""

from __future__ import annotations

import faulthandler
import itertools
import random
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage
from google.cloud.pubsub_v1.types import FlowControl
from google.cloud.storage.retry import DEFAULT_RETRY

THREADS = 16
SEED = 20_240_601
WAIT = 60.0  # seconds: a bound on each wait for the threads and the drain, never a sleep
WATCHDOG = 90.0  # seconds past the run: dump every thread (before tox's --timeout=120)
OBJECTS_PER_THREAD = 6
COUNTERS = 4
TALLIES = 2
PUBSUB_FAULT_PROBABILITY = 0.01
STORAGE_FAULT_PROBABILITY = 0.004
# google-cloud-storage 3.0 retries uploads and deletes by default; 2.x only when they carry
# a precondition. The workers ask 2.x for 3.0's policy, so an injected fault is retried.
RETRY_WRITES: dict[str, Any] = (
    {} if int(storage.__version__.split(".")[0]) >= 3 else {"retry": DEFAULT_RETRY}
)
RESUMABLE_CHUNK = 256 * 1024  # the smallest chunk size the client takes

# How often each thread picks each operation.
OPERATIONS = {
    "publish": 24,
    "pull": 12,
    "stream": 2,
    "upload": 10,
    "download": 8,
    "ranged_read": 8,
    "list": 5,
    "list_all": 2,
    "delete": 5,
    "cas": 8,
    "cas_metadata": 4,
}


class InjectedPubSubFault(exceptions.ServiceUnavailable):
    """The fault injected into Pub/Sub calls; counts how often it was raised."""

    raised: ClassVar[list[None]] = []  # one item per fault (list.append is atomic)

    def __init__(self, message: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        InjectedPubSubFault.raised.append(None)


class InjectedStorageFault(exceptions.ServiceUnavailable):
    """The fault injected into Storage calls (answered as a 503); counts them."""

    raised: ClassVar[list[None]] = []

    def __init__(self, message: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        InjectedStorageFault.raised.append(None)


@dataclass
class Ledger:
    """What every thread saw, in the order of one global ticket counter."""

    tickets: Iterator[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    published: dict[str, str] = field(default_factory=dict)  # key -> message id
    # subscription -> key -> tickets of each delivery (taken before the pull / in the callback)
    deliveries: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    acked: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    operations: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def ticket(self) -> int:
        return next(self.tickets)

    def delivered(self, subscription: str, key: str, ticket: int) -> None:
        with self.lock:
            self.deliveries[subscription][key].append(ticket)

    def confirm_ack(self, subscription: str, key: str) -> None:
        ticket = self.ticket()
        with self.lock:
            self.acked[subscription].setdefault(key, ticket)

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.outcomes[what] += n

    def error(self, where: str) -> None:
        with self.lock:
            self.errors.append(f"{where}:\n{traceback.format_exc()}")


def _injected(error: BaseException) -> bool:
    return "Injected by pytest-gcpfakes" in str(error)


@dataclass
class Stage:
    """The shared resources and clients of one run."""

    fakes: Any
    topic: str
    pulled: str
    streamed: str
    bucket: str
    publisher: Any
    subscriber: Any
    ledger: Ledger
    stop: threading.Event
    start: threading.Barrier
    publish_futures: list[Any] = field(default_factory=list)
    ack_futures: list[Any] = field(default_factory=list)
    cas_done: Counter[str] = field(default_factory=Counter)


class Worker:
    """One of the sixteen threads: a random mix of operations until told to stop."""

    def __init__(self, index: int, stage: Stage) -> None:
        self.index = index
        self.stage = stage
        self.ledger = stage.ledger
        self.rng = random.Random(SEED + index)
        self.prefix = f"w{index:02d}/"
        self.model: dict[str, bytes] = {}  # this thread's objects: name -> bytes
        self.versions = itertools.count()
        self.sequence = itertools.count()
        self.gcs: Any = None
        self.bucket: Any = None
        self.cas_done: Counter[str] = Counter()
        names = list(OPERATIONS)
        weights = [OPERATIONS[name] for name in names]
        self._choose: Callable[[], str] = lambda: self.rng.choices(names, weights)[0]

    def run(self) -> None:
        stage = self.stage
        with closing(storage.Client()) as gcs:
            self.gcs = gcs
            self.bucket = gcs.bucket(stage.bucket)
            stage.start.wait(WAIT)
            while not stage.stop.is_set():
                operation = self._choose()
                try:
                    getattr(self, operation)()
                except Exception:
                    self.ledger.error(f"thread {self.index}, {operation}")
                    return
                with self.ledger.lock:
                    self.ledger.operations[operation] += 1

    # -- Pub/Sub ----------------------------------------------------------------------------

    def publish(self) -> None:
        key = f"{self.index}:{next(self.sequence)}"
        size = self.rng.choice((0, 10, 100, 1000, 10_000))
        data = key.encode() + b"." + self.rng.randbytes(size)
        future = self.stage.publisher.publish(self.stage.topic, data, worker=str(self.index))

        def published(done: Any) -> None:
            try:
                message_id = done.result()
            except exceptions.GoogleAPICallError as error:
                # Retried by the publisher; one that still fails is not published, so it
                # is owed to no one. Only an injected fault may end a publish this way.
                self.ledger.count("publish failed (injected)" if _injected(error) else "x")
                if not _injected(error):
                    self.ledger.errors.append(f"publish of {key} failed: {error!r}")
                return
            with self.ledger.lock:
                self.ledger.published[key] = message_id

        future.add_done_callback(published)
        with self.ledger.lock:
            self.stage.publish_futures.append(future)

    def pull(self) -> None:
        stage, ledger = self.stage, self.ledger
        ticket = ledger.ticket()
        try:
            response = stage.subscriber.pull(
                subscription=stage.pulled,
                max_messages=self.rng.randint(1, 20),
                return_immediately=True,
            )
        except exceptions.ServiceUnavailable as error:
            if not _injected(error):
                raise
            ledger.count("pull failed after retries (injected)")
            return
        received = list(response.received_messages)
        for item in received:
            ledger.delivered("pulled", _key(item.message.data), ticket)
        acks, nacks = [], []
        for item in received:
            roll = self.rng.random()
            if roll < 0.15:
                nacks.append(item)
            elif roll < 0.3:
                # Extend, then ack: the lease survives the modack.
                self._call(
                    stage.subscriber.modify_ack_deadline,
                    "modack",
                    subscription=stage.pulled,
                    ack_ids=[item.ack_id],
                    ack_deadline_seconds=self.rng.choice((30, 60, 120)),
                )
                acks.append(item)
            else:
                acks.append(item)
        if nacks:
            self._call(
                stage.subscriber.modify_ack_deadline,
                "nack",
                subscription=stage.pulled,
                ack_ids=[item.ack_id for item in nacks],
                ack_deadline_seconds=0,
            )
        if acks and self._call(
            stage.subscriber.acknowledge,
            "ack",
            subscription=stage.pulled,
            ack_ids=[item.ack_id for item in acks],
        ):
            for item in acks:
                ledger.confirm_ack("pulled", _key(item.message.data))
        ledger.count("pulled messages", len(received))
        ledger.count("nacked (pull)", len(nacks))

    def _call(self, method: Callable[..., Any], what: str, **kwargs: Any) -> bool:
        """Call a unary RPC; False if an injected fault outlasted the client's retries."""
        try:
            method(**kwargs)
        except exceptions.ServiceUnavailable as error:
            if not _injected(error):
                raise
            self.ledger.count(f"{what} failed after retries (injected)")
            return False
        self.ledger.count(what)
        return True

    def stream(self) -> None:
        """Open a short streaming pull, handle what it brings, close it."""
        stage = self.stage
        wanted = self.rng.randint(1, 10)
        handled = threading.Semaphore(0)
        rng = random.Random(self.rng.random())
        future = stage.subscriber.subscribe(
            stage.streamed,
            _stream_callback(stage, rng, lambda: handled.release()),
            flow_control=FlowControl(max_messages=self.rng.randint(1, 20)),
            await_callbacks_on_shutdown=True,
        )
        # Bounded: returns at once when messages come, after 0.2 s on an empty subscription.
        give_up = time.monotonic() + 0.2
        for _ in range(wanted):
            if not handled.acquire(timeout=max(0.0, give_up - time.monotonic())):
                break
        future.cancel()
        future.result(timeout=WAIT)

    # -- Storage ----------------------------------------------------------------------------

    def _name(self) -> str:
        return f"{self.prefix}obj-{self.rng.randrange(OBJECTS_PER_THREAD)}"

    def upload(self) -> None:
        name = self._name()
        blob = self.bucket.blob(name)
        if self.rng.random() < 0.1:  # resumable: two chunks
            size = RESUMABLE_CHUNK + self.rng.randint(1, 1000)
            blob.chunk_size = RESUMABLE_CHUNK
            self.ledger.count("resumable uploads")
        else:
            size = self.rng.choice((0, 1, 100, 5000, 70_000))
        data = f"{name}#{next(self.versions)}|".encode() + self.rng.randbytes(size)
        blob.upload_from_string(data, **RETRY_WRITES)
        self.model[name] = data
        self.ledger.count("bytes uploaded", len(data))

    def download(self) -> None:
        name = self._name()
        blob = self.bucket.blob(name)
        try:
            data = blob.download_as_bytes()
        except exceptions.NotFound:
            assert name not in self.model, f"{name} was written but is not found"
            self.ledger.count("downloads of absent objects (NotFound)")
            return
        assert data == self.model.get(name), f"{name}: read {data[:40]!r}..."
        self.ledger.count("bytes downloaded", len(data))

    def ranged_read(self) -> None:
        if not self.model:
            return self.upload()
        name = self.rng.choice(sorted(self.model))
        expected = self.model[name]
        start = self.rng.randrange(len(expected))
        end = self.rng.randrange(start, len(expected))
        data = self.bucket.blob(name).download_as_bytes(start=start, end=end)
        assert data == expected[start : end + 1], f"{name}[{start}:{end}]"
        self.ledger.count("ranged reads")
        return None

    def list(self) -> None:
        """Listing my prefix gives exactly my model (no one else writes under it)."""
        listed = [b.name for b in self.gcs.list_blobs(self.bucket, prefix=self.prefix)]
        assert listed == sorted(self.model), f"{self.prefix}: {listed} != {sorted(self.model)}"

    def list_all(self) -> None:
        """A paged listing of the whole bucket, while others write: sorted, no duplicates,
        and my own objects exactly as I left them."""
        blobs = self.gcs.list_blobs(self.bucket, page_size=self.rng.randint(1, 40))
        pages = [[blob.name for blob in page] for page in blobs.pages]
        listed = [name for page in pages for name in page]
        assert listed == sorted(set(listed)), f"a listing out of order or with duplicates: {pages}"
        mine = [n for n in listed if n.startswith(self.prefix)]
        assert mine == sorted(self.model), f"{self.prefix}: {mine} != {sorted(self.model)}"
        self.ledger.count("pages listed", len(pages))

    def delete(self) -> None:
        name = self._name()
        try:
            self.bucket.blob(name).delete(**RETRY_WRITES)
        except exceptions.NotFound:
            assert name not in self.model, f"{name} was written but delete found nothing"
            self.ledger.count("deletes of absent objects (NotFound)")
            return
        assert name in self.model, f"{name} was never written but delete found it"
        del self.model[name]

    def cas(self) -> None:
        """Increment a shared counter: read it with its generation, write it back only if
        that generation is still current; on a conflict, read again."""
        name = f"counter-{self.rng.randrange(COUNTERS)}"
        while True:
            blob = self.bucket.get_blob(name)
            try:
                # The generation just read: gone (404) once another thread wrote over it.
                value = int(blob.download_as_bytes())
                self.bucket.blob(name).upload_from_string(
                    str(value + 1), if_generation_match=blob.generation
                )
            except (exceptions.PreconditionFailed, exceptions.NotFound):
                self.ledger.count("compare-and-swap conflicts")
                continue
            self.cas_done[name] += 1
            return

    def cas_metadata(self) -> None:
        """Increment a count in an object's metadata, guarded by its metageneration."""
        name = f"tally-{self.rng.randrange(TALLIES)}"
        while True:
            blob = self.bucket.get_blob(name)
            blob.metadata = {"n": str(int(blob.metadata["n"]) + 1)}
            try:
                blob.patch(if_metageneration_match=blob.metageneration)
            except exceptions.PreconditionFailed:
                self.ledger.count("compare-and-swap conflicts")
                continue
            self.cas_done[name] += 1
            return


def _key(data: bytes) -> str:
    return data.split(b".", 1)[0].decode()


def _stream_callback(stage: Stage, rng: random.Random, handled: Callable[[], None]) -> Any:
    """A streaming-pull callback on "streamed": record, then ack or nack with a response."""
    ledger = stage.ledger
    lock = threading.Lock()

    def callback(message: Any) -> None:
        key = _key(message.data)
        ledger.delivered("streamed", key, ledger.ticket())
        with lock:
            nack = rng.random() < 0.15
        if nack:
            future = message.nack_with_response()
            ledger.count("nacked (stream)")
        else:
            future = message.ack_with_response()

            def confirmed(done: Any) -> None:
                if done.exception() is None:
                    ledger.confirm_ack("streamed", key)
                else:
                    ledger.count(f"stream acks refused ({type(done.exception()).__name__})")

            future.add_done_callback(confirmed)
        with ledger.lock:
            stage.ack_futures.append(future)
        handled()

    return callback


def _dump_and_fail(what: str) -> None:
    faulthandler.dump_traceback(all_threads=True)
    pytest.fail(f"{what} within {WAIT:g} s; every thread's stack is above (stderr).")


def test_sixteen_threads_mixing_every_call_lose_nothing(
    gcpfakes: Any, stress_seconds: float
) -> None:
    # A stall becomes a dump of every thread's stack, then the bounded waits below fail.
    faulthandler.dump_traceback_later(stress_seconds + WATCHDOG, exit=False)
    try:
        _run(gcpfakes, stress_seconds)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _run(fakes: Any, seconds: float) -> None:
    pubsub, gcs_fake = fakes.pubsub, fakes.storage
    topic = pubsub.create_topic("stress")
    pulled = pubsub.create_subscription("pulled", "stress", ack_deadline_seconds=60)
    streamed = pubsub.create_subscription(
        "streamed", "stress", ack_deadline_seconds=60, enable_exactly_once_delivery=True
    )
    for i in range(COUNTERS):
        gcs_fake.put("stress", f"counter-{i}", b"0")
    with closing(storage.Client()) as gcs:
        for i in range(TALLIES):
            tally = gcs.bucket("stress").blob(f"tally-{i}")
            tally.metadata = {"n": "0"}
            tally.upload_from_string(b"")
    pubsub.fail("Publish", InjectedPubSubFault, probability=PUBSUB_FAULT_PROBABILITY, seed=1)
    pubsub.fail("Pull", InjectedPubSubFault, probability=PUBSUB_FAULT_PROBABILITY, seed=2)
    pubsub.fail("Acknowledge", InjectedPubSubFault, probability=PUBSUB_FAULT_PROBABILITY, seed=3)
    pubsub.fail(
        "ModifyAckDeadline", InjectedPubSubFault, probability=PUBSUB_FAULT_PROBABILITY, seed=4
    )
    pubsub.fail("StreamingPull", InjectedPubSubFault, probability=0.05, seed=5)
    for seed, method in enumerate(
        (
            "storage.objects.insert",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.patch",
            "storage.objects.delete",
        ),
        start=6,
    ):
        gcs_fake.fail(
            method, InjectedStorageFault, probability=STORAGE_FAULT_PROBABILITY, seed=seed
        )
    pubsub_faults_before = len(InjectedPubSubFault.raised)
    storage_faults_before = len(InjectedStorageFault.raised)

    ledger = Ledger()
    with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as subscriber:
        stage = Stage(
            fakes=fakes,
            topic=topic,
            pulled=pulled,
            streamed=streamed,
            bucket="stress",
            publisher=publisher,
            subscriber=subscriber,
            ledger=ledger,
            stop=threading.Event(),
            start=threading.Barrier(THREADS + 1),
        )
        # One stream stays open for the whole run, beside the short ones the threads open.
        background = subscriber.subscribe(
            streamed,
            _stream_callback(stage, random.Random(SEED), lambda: None),
            await_callbacks_on_shutdown=True,
        )
        workers = [Worker(i, stage) for i in range(THREADS)]
        threads = [threading.Thread(target=w.run, name=f"stress-{w.index:02d}") for w in workers]
        for thread in threads:
            thread.start()
        stage.start.wait(WAIT)  # every thread is ready: the clock starts for all at once
        began = time.monotonic()
        stage.stop.wait(seconds)  # the run itself: a bounded wait that nothing sets early
        stage.stop.set()
        give_up = time.monotonic() + WAIT
        for thread in threads:
            thread.join(max(0.0, give_up - time.monotonic()))
        ran = time.monotonic() - began
        if any(thread.is_alive() for thread in threads):
            _dump_and_fail("the threads did not stop")
        if ledger.errors:
            pytest.fail(
                f"{len(ledger.errors)} unexpected errors; the first:\n"
                + "\n".join(ledger.errors[:3]),
                pytrace=False,
            )

        for future in list(stage.publish_futures):
            future.exception(timeout=WAIT)
        background.cancel()
        background.result(timeout=WAIT)
        for future in list(stage.ack_futures):
            future.exception(timeout=WAIT)
        # The faults were for the run: the drain and the checks see a quiet service.
        pubsub.faults.clear()
        gcs_fake.app.faults.clear()

        # Drain both subscriptions through the clients: whatever is still there is delivered.
        stranded = _drain_pulled(stage)
        _drain_streamed(stage)

    _check_pubsub(stage, pubsub)
    cas = _check_storage(stage, workers)
    injected_pubsub = len(InjectedPubSubFault.raised) - pubsub_faults_before
    injected_storage = len(InjectedStorageFault.raised) - storage_faults_before
    assert ledger.operations["stream"] > 0 or seconds < 1
    print(
        _figures(ledger, ran, injected_pubsub, injected_storage, stranded, cas),
    )


def _drain_pulled(stage: Stage) -> int:
    """Pull and ack until every published message was acked on "pulled"; return how many
    leases were left stranded (an ack that failed after the client's retries)."""
    ledger, pubsub = stage.ledger, stage.fakes.pubsub
    stranded = len(pubsub.state("pulled").outstanding)
    if stranded:  # no one holds them any more: let their deadlines pass
        stage.fakes.clock.advance(121)
    give_up = time.monotonic() + WAIT
    while set(ledger.published) - set(ledger.acked["pulled"]):
        if time.monotonic() > give_up:
            _dump_and_fail('"pulled" was not drained')
        ticket = ledger.ticket()
        response = stage.subscriber.pull(subscription=stage.pulled, max_messages=1000)
        received = list(response.received_messages)
        for item in received:
            ledger.delivered("pulled", _key(item.message.data), ticket)
        if received:
            stage.subscriber.acknowledge(
                subscription=stage.pulled, ack_ids=[item.ack_id for item in received]
            )
            for item in received:
                ledger.confirm_ack("pulled", _key(item.message.data))
    return stranded


def _drain_streamed(stage: Stage) -> None:
    """Stream "streamed" until every published message had its ack confirmed."""
    ledger = stage.ledger
    progress = threading.Condition()

    def handled() -> None:
        with progress:
            progress.notify_all()

    def drained() -> bool:
        with ledger.lock:
            return not set(ledger.published) - set(ledger.acked["streamed"])

    future = stage.subscriber.subscribe(
        stage.streamed,
        _stream_callback(stage, random.Random(SEED - 1), handled),
        await_callbacks_on_shutdown=True,
    )
    give_up = time.monotonic() + WAIT
    with progress:
        while not drained() and time.monotonic() < give_up:
            # Woken by each message; the short bound re-checks acks confirmed later.
            progress.wait(min(0.05, max(0.0, give_up - time.monotonic())))
    future.cancel()
    future.result(timeout=WAIT)
    for ack in list(stage.ack_futures):
        ack.exception(timeout=WAIT)
    if not drained():
        _dump_and_fail('"streamed" was not drained')


def _check_pubsub(stage: Stage, pubsub: Any) -> None:
    ledger = stage.ledger
    published = set(ledger.published)
    assert published, "nothing was published"
    for subscription in ("pulled", "streamed"):
        deliveries = ledger.deliveries[subscription]
        missing = published - set(deliveries)
        assert not missing, f"{len(missing)} messages never delivered on {subscription}"
        phantoms = set(deliveries) - published
        assert not phantoms, f"{len(phantoms)} messages delivered but never published"
        acked = ledger.acked[subscription]
        after_ack = sorted(
            key
            for key, tickets in deliveries.items()
            if key in acked and any(t > acked[key] for t in tickets)
        )
        assert not after_ack, (
            f"{len(after_ack)} messages delivered on {subscription} after their ack was "
            f"confirmed: {after_ack[:10]}"
        )
        state = pubsub.state(subscription)
        assert not state.backlog, (subscription, state)
        assert not state.outstanding, (subscription, state)
    # Each message id is the one its publish future returned, once per message.
    assert len(set(ledger.published.values())) == len(published)
    assert {m.message_id for m in pubsub.published("stress")} >= set(ledger.published.values())


def _check_storage(stage: Stage, workers: list[Worker]) -> dict[str, int]:
    """Every object is as its thread left it, and no increment was lost; return the counts."""
    done: Counter[str] = Counter()
    for worker in workers:
        done.update(worker.cas_done)
    expected_names = sorted(
        [name for w in workers for name in w.model]
        + [f"counter-{i}" for i in range(COUNTERS)]
        + [f"tally-{i}" for i in range(TALLIES)]
    )
    with closing(storage.Client()) as gcs:
        bucket = gcs.bucket(stage.bucket)
        listed = [blob.name for blob in gcs.list_blobs(bucket)]
        assert listed == expected_names
        for worker in workers:
            for name, data in worker.model.items():
                assert bucket.blob(name).download_as_bytes() == data, name
        for i in range(COUNTERS):
            name = f"counter-{i}"
            assert int(bucket.blob(name).download_as_bytes()) == done[name], name
        for i in range(TALLIES):
            name = f"tally-{i}"
            assert int(bucket.get_blob(name).metadata["n"]) == done[name], name
    return dict(done)


def _figures(
    ledger: Ledger,
    ran: float,
    injected_pubsub: int,
    injected_storage: int,
    stranded: int,
    cas: dict[str, int],
) -> str:
    operations = sum(ledger.operations.values())
    deliveries = {
        sub: sum(len(t) for t in keys.values()) for sub, keys in ledger.deliveries.items()
    }
    lines = [
        f"stress: {THREADS} threads for {ran:.1f} s: {operations} operations "
        f"({operations / ran:.0f}/s)",
        "  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(ledger.operations.items())),
        f"  messages published {len(ledger.published)}; deliveries "
        + ", ".join(f"{s} {n}" for s, n in sorted(deliveries.items())),
        f"  faults injected: Pub/Sub {injected_pubsub}, Storage {injected_storage}; "
        f"stranded leases expired at the drain {stranded}",
        f"  compare-and-swap increments {sum(cas.values())}",
        "  " + ", ".join(f"{k} {v}" for k, v in sorted(ledger.outcomes.items())),
        "  lost: none (every message delivered and acked on both subscriptions, none "
        "after its ack; every object and counter as written)",
    ]
    return "\n".join(lines)
