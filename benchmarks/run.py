"""Every benchmark in one command: ``python benchmarks/run.py [--quick] [--json PATH]``.

Each comparison is measured side by side in one run: the backends of a comparison take
turns round by round (each round starts one backend later), and every figure is the
median of its rounds, printed with the fastest and slowest round. Competitors that are
missing (gcloud, the throwaway venvs of ``_common.py``, a server that does not start) are
reported as ``null`` with the reason printed; nothing here asserts a time.

Sections (each also runs on its own, see README.md):

- ``pubsub``: 10,000 messages published, pulled and acked (messages per second) on
  gcpfakes, the client floor, Google's emulator, server mode (``gcpfakes serve``) and
  pytest-pubsub; unary calls and GAPIC publish against their floors
  (``bench_pubsub_unary.py``); ``publish().result()`` and five retries (``bench_waits.py``).
- ``storage``: 1,000 uploads and 1,000 downloads of 1 KiB (operations per second) on
  gcpfakes, the client floor, gcp-storage-emulator, fake-gcs-server and server mode.
- ``suite``: the 100-test suite of ``suite/`` end to end on three stacks (``bench_suite.py``).
- ``recorder``, ``fixtures``, ``memory``: the usage recorder's cost, a test with both
  fixtures against an empty test, RSS per stored byte.
- ``scaling``: cost per operation at 1x, 10x and 100x the work (a listing in a bucket of
  1,000 to 100,000 objects, a backlog of 1,000 to 100,000 messages pulled and acked, the
  analyses of 10,000 to 1,000,000 recorded uses), as a table and a PNG plot
  (``--plot``, default ``docs/_static/scaling.png``; needs matplotlib, in the ``[bench]``
  extra).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")

import _common  # noqa: E402
import bench_pubsub_throughput as throughput  # noqa: E402
import bench_pubsub_unary  # noqa: E402
import bench_recorder_overhead  # noqa: E402
import bench_storage  # noqa: E402
import bench_suite  # noqa: E402
import bench_usage_analysis  # noqa: E402
import bench_waits  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import pubsub_v1, storage  # noqa: E402

from pytest_gcpfakes import GCPFakes  # noqa: E402

ROOT = HERE.parent
PLOT = ROOT / "docs" / "_static" / "scaling.png"


@dataclass(frozen=True)
class Settings:
    messages: int
    pubsub_rounds: int
    storage_ops: int
    storage_rounds: int
    unary_calls: int
    wait_rounds: int
    suite_rounds: int
    fixture_tests: int
    memory_objects: int
    scaling_repeats: int


FULL = Settings(
    messages=10_000,
    pubsub_rounds=5,
    storage_ops=1_000,
    storage_rounds=5,
    unary_calls=3_000,
    wait_rounds=7,
    suite_rounds=3,
    fixture_tests=200,
    memory_objects=64,
    scaling_repeats=5,
)
QUICK = Settings(
    messages=2_000,
    pubsub_rounds=2,
    storage_ops=200,
    storage_rounds=2,
    unary_calls=700,
    wait_rounds=3,
    suite_rounds=1,
    fixture_tests=60,
    memory_objects=16,
    scaling_repeats=2,
)


# ---------------------------------------------------------------------------------------
# Alternating rounds of whole workloads


@dataclass
class Leg:
    """One backend of a comparison: ``run()`` returns seconds for one round's work."""

    run: Callable[[], float]
    around: Callable[[], AbstractContextManager[object]] = nullcontext


def alternate(legs: dict[str, Leg | str], rounds: int) -> tuple[dict[str, list[float]], dict]:
    """Seconds per round of each leg, rounds rotating the order; a leg given as a string
    (or one that raises) is not measured, with the reason kept."""
    why: dict[str, str] = {name: leg for name, leg in legs.items() if isinstance(leg, str)}
    live = [name for name, leg in legs.items() if not isinstance(leg, str)]
    samples: dict[str, list[float]] = {name: [] for name in live}
    for index in range(rounds):
        for offset in range(len(live)):
            name = live[(index + offset) % len(live)]
            if name in why:
                continue
            leg = legs[name]
            assert isinstance(leg, Leg)
            try:
                with leg.around():
                    cpu = time.process_time()
                    samples[name].append(leg.run())
                    CPU_SAMPLES.setdefault(name, []).append(time.process_time() - cpu)
            except Exception as error:
                why[name] = f"{type(error).__name__}: {str(error)[:300]}"
                print(f"  {name}: failed, not measured further ({why[name]})", flush=True)
        print(f"  round {index + 1} of {rounds} done", flush=True)
    return {name: s for name, s in samples.items() if s and name not in why}, why


CPU_SAMPLES: dict[str, list[float]] = {}
"""CPU seconds of this process per round, by leg, for the comparison being measured (cleared
before each). For the in-process legs (gcpfakes, floor) it is all their work, and other load
on a shared machine moves it far less than the wall clock."""


def cpu_ratio(name: str, base: str) -> float | None:
    """Median CPU seconds of ``name`` over ``base``'s (in-process legs only)."""
    if not CPU_SAMPLES.get(name) or not CPU_SAMPLES.get(base):
        return None
    return round(statistics.median(CPU_SAMPLES[name]) / statistics.median(CPU_SAMPLES[base]), 3)


def spread(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
    }


def ops_table(
    title: str, unit_work: float, samples: dict[str, list[float]], why: dict[str, str]
) -> str:
    """Operations per second: median (slowest round - fastest round), and the ratio to
    gcpfakes' median."""
    lines = [
        f"| {title} | ops/s median | ops/s range | vs gcpfakes |",
        "|---|---:|---:|---:|",
    ]
    ours = statistics.median(samples["gcpfakes"]) if "gcpfakes" in samples else None
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = f"{median / ours:.2f}x slower" if ours else "n/a"
        lines.append(
            f"| {name} | {unit_work / median:,.0f} | "
            f"{unit_work / max(values):,.0f}-{unit_work / min(values):,.0f} | {ratio} |"
        )
    for name, reason in why.items():
        lines.append(f"| {name} | null | | | <!-- {reason} -->")
    return "\n".join(lines)


def _ops(unit_work: float, samples: dict[str, list[float]], name: str) -> float | None:
    if name not in samples:
        return None
    return round(unit_work / statistics.median(samples[name]), 1)


# ---------------------------------------------------------------------------------------
# Pub/Sub


def _pubsub_round(publisher: Any, subscriber: Any, project: str) -> Callable[[], float]:
    def run() -> float:
        return throughput.one_round(publisher, subscriber, project).total

    return run


def pubsub_section(settings: Settings, stack: ExitStack, cli: dict[str, str] | str) -> dict:
    throughput.MESSAGES = settings.messages
    legs: dict[str, Leg | str] = {}

    fakes = stack.enter_context(GCPFakes(services=("pubsub",)))
    from pytest_gcpfakes import _registry

    _registry.deactivate(fakes.pubsub)  # current only around its own rounds
    around_ours = _common.activated(fakes.pubsub)
    with around_ours():
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    stack.callback(_inside, around_ours, lambda: throughput.close_clients(publisher, subscriber))
    legs["gcpfakes"] = Leg(_pubsub_round(publisher, subscriber, fakes.project), around_ours)

    floor_handle = _common.PubSubCannedHandle(
        throughput.CannedBackend(fakes.pubsub.backend), fakes.config
    )
    activated_floor = _common.activated(floor_handle)

    @contextmanager
    def around_floor() -> Iterator[None]:
        with activated_floor():
            yield
        throughput.forget_unclaimed()  # what a fake's backend would have claimed

    with around_floor():
        floor_pub, floor_sub = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    stack.callback(_inside, around_floor, lambda: throughput.close_clients(floor_pub, floor_sub))
    legs["floor"] = Leg(_pubsub_round(floor_pub, floor_sub, fakes.project), around_floor)

    address, why = stack.enter_context(_common.pubsub_emulator())
    if address is None:
        legs["emulator"] = why
    else:
        em_pub, em_sub = _channel_clients(address)
        stack.callback(throughput.close_clients, em_pub, em_sub)
        # Warm the emulator's JIT as the other legs are warm.
        throughput.one_round(em_pub, em_sub, f"bench-{uuid.uuid4().hex[:12]}")
        legs["emulator"] = Leg(_pubsub_round(em_pub, em_sub, f"bench-{uuid.uuid4().hex[:12]}"))

    if isinstance(cli, str):
        legs["server_mode"] = cli
    else:
        srv_pub, srv_sub = _channel_clients(cli["PUBSUB_EMULATOR_HOST"])
        stack.callback(throughput.close_clients, srv_pub, srv_sub)
        legs["server_mode"] = Leg(_pubsub_round(srv_pub, srv_sub, "bench-project"))

    python = throughput.pytest_pubsub_python()
    if isinstance(python, str):
        legs["pytest_pubsub"] = python
    else:
        legs["pytest_pubsub"] = Leg(lambda: _pytest_pubsub_round(python))

    for leg in legs.values():  # warm every path once before timing
        if isinstance(leg, Leg):
            with leg.around():
                leg.run()
    print(f"Pub/Sub throughput: {settings.pubsub_rounds} alternating rounds", flush=True)
    CPU_SAMPLES.clear()
    samples, why = alternate(legs, settings.pubsub_rounds)
    return {
        "samples": samples,
        "why": why,
        "messages": settings.messages,
        "cpu_ratio_to_floor": cpu_ratio("gcpfakes", "floor"),
    }


def _channel_clients(address: str) -> tuple[Any, Any]:
    """The real clients on gRPC channels of their own to ``address``."""
    import grpc
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(address))
    )
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(address))
    )
    return publisher, subscriber


def _pytest_pubsub_round(python: Path) -> float:
    args = [str(throughput.MESSAGES), str(throughput.PULL_BATCH), str(throughput.PAYLOAD_BYTES)]
    done = subprocess.run(
        [str(python), "-c", throughput.PYTEST_PUBSUB_WORKLOAD, *args, "1"],
        capture_output=True,
        text=True,
        timeout=throughput.WORKLOAD_SECONDS,
        check=True,
    )
    [(publish, pull_ack)] = json.loads(done.stdout)
    return float(publish + pull_ack)


def _inside(
    context: Callable[[], AbstractContextManager[object]], action: Callable[[], object]
) -> None:
    with context():
        action()


# ---------------------------------------------------------------------------------------
# Storage


def _storage_round(client: storage.Client, names: list[str]) -> Callable[[], float]:
    def run() -> float:
        result = bench_storage._round(client, names)
        return (result.upload + result.download) * len(names)

    return run


def _server_storage_client(url: str, stack: ExitStack) -> storage.Client:
    client = storage.Client(
        project="bench-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )
    client._http.request = _common.with_timeout(client._http.request)
    stack.callback(client.close)
    client.create_bucket(bench_storage.BUCKET, timeout=_common.HTTP_SECONDS)
    return client


def storage_section(settings: Settings, stack: ExitStack, cli: dict[str, str] | str) -> dict:
    bench_storage.OPS = settings.storage_ops
    names = bench_storage._names()
    legs: dict[str, Leg | str] = {}
    from pytest_gcpfakes import _registry

    fakes = stack.enter_context(GCPFakes(services=("storage",)))
    fakes.storage.create_bucket(bench_storage.BUCKET)
    _registry.deactivate(fakes.storage)
    around_ours = _common.activated(fakes.storage)
    with around_ours():
        client = storage.Client()
    recorder = _common.StorageRecorder(fakes.storage.app)
    with _common.activated(_common.StorageCannedHandle(recorder, fakes.config))():
        bench_storage._round(client, names[:50])  # records the answers
    if set(recorder.answers) != {"upload", "download"}:
        raise RuntimeError(f"recorded {sorted(recorder.answers)}, not upload and download")
    floor = _common.StorageCannedHandle(_common.StorageCannedApp(recorder.answers), fakes.config)
    legs["gcpfakes"] = Leg(_storage_round(client, names), around_ours)
    legs["floor"] = Leg(_storage_round(client, names), _common.activated(floor))

    python = _common.gcs_venv_python()
    servers: dict[str, Callable[[Path, int], list[str]]] = {
        "gcp_storage_emulator": _common.storage_emulator_command,
        "fake_gcs_server": _common.fake_gcs_server_command,
    }
    for name, command in servers.items():
        if isinstance(python, str):
            legs[name] = python
            continue
        port = _common.free_port()
        url = f"http://{_common.LOOPBACK}:{port}"
        try:
            why = stack.enter_context(_common.loopback_server(name, command(python, port), url))
        except (OSError, subprocess.SubprocessError) as error:
            why = f"cannot start it: {error}"
        if why is not None:
            legs[name] = why
            continue
        legs[name] = Leg(_storage_round(_server_storage_client(url, stack), names))
    if isinstance(cli, str):
        legs["server_mode"] = cli
    else:
        server_client = _server_storage_client(cli["STORAGE_EMULATOR_HOST"], stack)
        legs["server_mode"] = Leg(_storage_round(server_client, names))
    for leg in legs.values():
        if isinstance(leg, Leg):
            with leg.around():
                leg.run()
    print(f"Storage: {settings.storage_rounds} alternating rounds", flush=True)
    CPU_SAMPLES.clear()
    samples, why = alternate(legs, settings.storage_rounds)
    return {
        "samples": samples,
        "why": why,
        "ops": 2 * len(names),
        "cpu_ratio_to_floor": cpu_ratio("gcpfakes", "floor"),
    }


# ---------------------------------------------------------------------------------------
# Fixtures: a test with both fixtures against an empty test, in one pytest run

_FIXTURE_TESTS = """
import pytest

N = {count}


@pytest.mark.parametrize("i", range(N))
def test_pair(i, request):
    if i % 2:
        request.getfixturevalue("fake_pubsub")
        request.getfixturevalue("fake_storage")
"""

_FIXTURE_PLUGIN = """
import json, os, statistics

costs = {"empty": [], "both": []}


def pytest_runtest_logreport(report):
    index = int(report.nodeid.rsplit("[", 1)[1].rstrip("]"))
    kind = "both" if index % 2 else "empty"
    if report.when == "setup":
        costs[kind].append(report.duration)
    else:
        costs[kind][-1] += report.duration


def pytest_sessionfinish(session):
    with open(os.environ["FIXTURE_COSTS"], "w") as out:
        json.dump(costs, out)
"""


def fixtures_section(settings: Settings) -> dict:
    """Tests alternate: even ones empty, odd ones with ``fake_pubsub`` and ``fake_storage``;
    each test's cost is its setup, call and teardown durations as pytest reports them."""
    with tempfile.TemporaryDirectory(prefix="bench-fixtures-") as tmp:
        folder = Path(tmp)
        (folder / "test_fixture_cost.py").write_text(
            _FIXTURE_TESTS.format(count=settings.fixture_tests * 2)
        )
        (folder / "costplugin.py").write_text(_FIXTURE_PLUGIN)
        costs = folder / "costs.json"
        env = dict(os.environ, FIXTURE_COSTS=str(costs), PYTHONPATH=str(folder))
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "costplugin", "-p", "no:cacheprovider"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        data = json.loads(costs.read_text())
    # The first of each kind pays imports and first-use set-up: left out.
    empty = statistics.median(data["empty"][1:])
    both = statistics.median(data["both"][1:])
    return {
        "setup_teardown_ms": round(both * 1e3, 3),
        "empty_test_ms": round(empty * 1e3, 3),
        "ratio_to_empty_test": round(both / empty, 2),
    }


# ---------------------------------------------------------------------------------------
# Memory (bench_storage.py's child process)


def memory_section(settings: Settings) -> dict:
    env = dict(os.environ, BENCH_MEMORY_OBJECTS=str(settings.memory_objects))
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_storage.py"), "--memory"],
        env=env,
        capture_output=True,
        text=True,
        timeout=bench_storage.MEMORY_SECONDS,
        check=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("MEMORY_JSON "):
            result: dict = json.loads(line.removeprefix("MEMORY_JSON "))
            result["objects"] = settings.memory_objects
            result["stored_bytes"] = settings.memory_objects * bench_storage.MEMORY_OBJECT_BYTES
            return result
    raise RuntimeError(f"the memory child printed no figure: {done.stdout[-300:]}")


# ---------------------------------------------------------------------------------------
# Scaling


SCALES = (1, 10, 100)


def scaling_listing(repeats: int) -> dict[int, tuple[float, float]]:
    """Seconds per listing (``prefix`` and ``delimiter``: 100 objects and 10 prefixes come
    back) in a bucket of 1,000 / 10,000 / 100,000 objects, through the real client."""
    result: dict[int, tuple[float, float]] = {}
    for scale in SCALES:
        count = 1_000 * scale
        with GCPFakes(services=("storage",)) as fakes:
            fakes.storage.create_bucket("scaling")
            for i in range(count):
                # folder/sub/item: 10 subfolders of 10 objects under each of count/100 folders
                name = f"f{i // 100:05d}/s{i % 100 // 10}/{i % 10}"
                fakes.storage.put("scaling", name, b"x")
            client = storage.Client()
            folder = f"f{(count // 100) // 2:05d}/"

            def listing(client: storage.Client = client, folder: str = folder) -> None:
                blobs = client.list_blobs("scaling", prefix=folder, delimiter="/")
                list(blobs)
                assert len(blobs.prefixes) == 10, blobs.prefixes

            def listing_all(client: storage.Client = client, folder: str = folder) -> None:
                assert len(list(client.list_blobs("scaling", prefix=folder))) == 100

            listing()
            samples = []
            for _ in range(repeats):
                samples.append(_timed(lambda: [listing() or listing_all() for _ in range(20)], 40))
            result[count] = _medians(samples)
            client.close()
        _print_scaling(f"listing in a bucket of {count:,}", result[count], "a call")
    return result


def _timed(work: Callable[[], object], operations: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process) per operation of ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return (time.perf_counter() - wall) / operations, (time.process_time() - cpu) / operations


def _medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def _print_scaling(label: str, costs: tuple[float, float], unit: str) -> None:
    print(f"  {label}: {costs[0] * 1e6:,.1f} µs {unit} (CPU {costs[1] * 1e6:,.1f} µs)", flush=True)


def scaling_backlog(repeats: int) -> dict[int, tuple[float, float]]:
    """Seconds per message of a backlog of 1,000 / 10,000 / 100,000 messages pulled (up to
    1,000 a call) and acked through the real client (the median of ``repeats`` rounds;
    each round refills the backlog first, untimed)."""
    result: dict[int, tuple[float, float]] = {}
    for scale in SCALES:
        count = 1_000 * scale
        samples = []
        with GCPFakes(services=("pubsub",)) as fakes:
            topic = fakes.pubsub.create_topic("scaling")
            subscription = fakes.pubsub.create_subscription(
                "scaling-sub", "scaling", ack_deadline_seconds=600
            )
            publisher = pubsub_v1.PublisherClient(
                batch_settings=pubsub_v1.types.BatchSettings(max_messages=1_000)
            )
            subscriber = pubsub_v1.SubscriberClient()
            for _ in range(max(1, repeats if count < 100_000 else 2)):
                futures = [publisher.publish(topic, b"m%d" % i) for i in range(count)]
                for future in futures:
                    future.result(timeout=120)
                # The benchmark's own futures are not the backlog's: a hundred thousand of
                # them alive made every collection during the timed drain dearer.
                del futures

                def drain(
                    subscriber: Any = subscriber,
                    count: int = count,
                    subscription: str = subscription,
                ) -> None:
                    seen = 0
                    while seen < count:
                        response = subscriber.pull(subscription=subscription, max_messages=1_000)
                        received = response.received_messages
                        subscriber.acknowledge(
                            subscription=subscription, ack_ids=[r.ack_id for r in received]
                        )
                        seen += len(received)

                samples.append(_timed(drain, count))
            publisher.stop()
            subscriber.close()
        result[count] = _medians(samples)
        _print_scaling(f"backlog of {count:,}", result[count], "a message")
    return result


def scaling_uses(repeats: int) -> dict[int, tuple[float, float]]:
    """Seconds per use of the three analyses over 10,000 / 100,000 / 1,000,000 uses."""
    from pytest_gcpfakes.usage._analysis import find_leaks, find_sharing, find_use_after_close

    result: dict[int, tuple[float, float]] = {}
    for scale in SCALES:
        rec = bench_usage_analysis.build_recording(uses_wanted=10_000 * scale)
        count = len(rec.uses)

        def analyses(rec: Any = rec) -> None:
            find_sharing(rec)
            find_leaks(rec)
            find_use_after_close(rec)

        rounds = max(1, repeats if scale < 100 else 2)
        result[count] = _medians([_timed(analyses, count) for _ in range(rounds)])
        sort = _medians(
            [_timed(lambda rec=rec: sorted(rec.uses, key=_seq), count) for _ in range(rounds)]
        )
        SORT_COSTS[count] = sort
        SCAN_COSTS[count] = _medians(
            [_timed(lambda rec=rec: _read_each(rec.uses), count) for _ in range(rounds)]
        )
        _print_scaling(f"{count:,} uses", result[count], "a use")
        _print_scaling(f"  sorted() of {count:,} uses", sort, "a use")
        _print_scaling(f"  one pass over {count:,} uses", SCAN_COSTS[count], "a use")
    return result


SORT_COSTS: dict[int, tuple[float, float]] = {}
"""What ``sorted()`` of the same uses costs per use, by size: memory, not the analyses,
makes a use dearer in a bigger recording, and a plain sort pays that too."""
SCAN_COSTS: dict[int, tuple[float, float]] = {}
"""What one pass reading each use's seq costs per use, by size: the least any analysis
pays per use, and how much a bigger recording alone makes each use dearer."""


def _read_each(uses: list[Any]) -> int:
    total = 0
    for use in uses:
        total += use.seq
    return total


def _seq(use: Any) -> int:
    return int(use.seq)


def scaling_section(settings: Settings) -> dict:
    """Wall seconds per operation by size (``*_seconds_*``), and CPU seconds of this process
    (``*_cpu_seconds_*``: other work on a shared machine moves them less)."""
    measured = {
        "listing": scaling_listing(settings.scaling_repeats),
        "backlog": scaling_backlog(settings.scaling_repeats),
        "analysis": scaling_uses(settings.scaling_repeats),
    }
    units = {"listing": "call", "backlog": "message", "analysis": "use"}
    measured["sort"] = dict(SORT_COSTS)
    units["sort"] = "use"
    measured["scan"] = dict(SCAN_COSTS)
    units["scan"] = "use"
    result: dict[str, Any] = {}
    for name, costs in measured.items():
        result[f"{name}_seconds_per_{units[name]}"] = {k: w for k, (w, _) in costs.items()}
        result[f"{name}_cpu_seconds_per_{units[name]}"] = {k: c for k, (_, c) in costs.items()}
    result["analysis_ratio_to_sort_by_size"] = {
        k: round(result["analysis_cpu_seconds_per_use"][k] / c, 2)
        for k, c in result["sort_cpu_seconds_per_use"].items()
    }
    return result


def scaling_table(scaling: dict) -> str:
    rows = [
        ("listing (prefix + delimiter), µs a call", "listing_seconds_per_call", "objects"),
        ("  the same, CPU µs", "listing_cpu_seconds_per_call", "objects"),
        ("backlog pulled and acked, µs a message", "backlog_seconds_per_message", "messages"),
        ("  the same, CPU µs", "backlog_cpu_seconds_per_message", "messages"),
        ("three analyses, µs a use", "analysis_seconds_per_use", "uses"),
        ("  the same, CPU µs", "analysis_cpu_seconds_per_use", "uses"),
        ("`sorted()` of the same uses, CPU µs a use", "sort_cpu_seconds_per_use", "uses"),
        ("one pass reading each use, CPU µs a use", "scan_cpu_seconds_per_use", "uses"),
    ]
    lines = ["| measure | 1x | 10x | 100x | 100x / 1x |", "|---|---:|---:|---:|---:|"]
    for label, key, unit in rows:
        values = scaling.get(key)
        if not values:
            lines.append(f"| {label} | null | null | null | null |")
            continue
        items = sorted((int(k), v) for k, v in values.items())
        cells = [f"{_us(v)} ({k:,} {unit})" for k, v in items]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {items[-1][1] / items[0][1]:.2f} |")
    return "\n".join(lines)


def _us(seconds: float) -> str:
    """µs with one decimal, or two significant digits below 1 µs (a pass over uses)."""
    us = seconds * 1e6
    return f"{us:,.1f}" if us >= 1 else f"{us:.2g}"


def plot(scaling: dict, path: Path) -> str | None:
    """Cost per operation against the work, one panel per measure; the reason if not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return f"matplotlib is not installed (pip install -e '.[bench]'): {error}"
    panels = [
        ("listing_seconds_per_call", "listing, µs a call", "objects in the bucket"),
        ("backlog_seconds_per_message", "pull + ack, µs a message", "messages in the backlog"),
        ("analysis_seconds_per_use", "analyses, µs a use", "recorded uses"),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for axis, (key, ylabel, xlabel) in zip(axes, panels, strict=True):
        top = 0.0
        for variant, label in ((key, "wall"), (key.replace("_seconds", "_cpu_seconds"), "CPU")):
            items = sorted((int(k), v * 1e6) for k, v in scaling.get(variant, {}).items())
            if not items:
                continue
            axis.plot([k for k, _ in items], [v for _, v in items], marker="o", label=label)
            top = max(top, *(v for _, v in items))
        axis.set_xscale("log")
        axis.set_ylim(bottom=0, top=top * 1.5 or 1)
        axis.legend()
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
    figure.suptitle("Cost per operation at 1x, 10x and 100x the work (flat is the goal)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None


# ---------------------------------------------------------------------------------------
# Targets


def targets(report: dict) -> list[tuple[str, str, str, bool | None]]:
    """(measure, target, measured, met) for the targets table."""
    ps, st, su = report["pubsub"], report["storage"], report["suite"]
    rec, fx, mem = report["recorder"], report["fixtures"], report["memory"]

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    rows: list[tuple[str, str, str, bool | None]] = []

    def row(
        name: str,
        target: str,
        value: float | None,
        ok: Callable[[float], bool],
        cpu: float | None = None,
    ) -> None:
        shown = "null" if value is None else f"{value:.2f}x"
        if cpu is not None:
            shown += f" (CPU {cpu:.2f}x)"
        rows.append((name, target, shown, None if value is None else ok(value)))

    row(
        "Pub/Sub throughput (messages)",
        "≤ 1.1x the floor",
        ratio(ps.get("floor"), ps.get("gcpfakes")),
        lambda v: v <= 1.1,
        ps.get("cpu_ratio_to_floor"),
    )
    row(
        "unary Pub/Sub calls",
        "≤ 1.25x the floor",
        ps.get("unary_ratio_to_floor"),
        lambda v: v <= 1.25,
    )
    row(
        "GAPIC publish",
        "≤ 1.25x fresh ids",
        ps.get("publish_ratio_to_fresh_ids_floor"),
        lambda v: v <= 1.25,
    )
    row(
        "`publish().result()`",
        "≤ 1.5x immediate",
        ps.get("publish_result_ratio_to_immediate"),
        lambda v: v <= 1.5,
    )
    row(
        "five retries, then success",
        "≤ 20x no faults",
        ps.get("retry_ratio_to_clean_call"),
        lambda v: v <= 20,
    )
    row(
        "Storage vs floor",
        "≤ 1.3x the floor",
        ratio(st.get("floor"), st.get("gcpfakes")),
        lambda v: v <= 1.3,
        st.get("cpu_ratio_to_floor"),
    )
    row(
        "Storage vs gcp-storage-emulator",
        "≥ 5x faster",
        ratio(st.get("gcpfakes"), st.get("gcp_storage_emulator")),
        lambda v: v >= 5,
    )
    row(
        "Storage vs fake-gcs-server",
        "≥ 1.5x faster",
        ratio(st.get("gcpfakes"), st.get("fake_gcs_server")),
        lambda v: v >= 1.5,
    )
    row(
        "suite vs the emulators",
        "≥ 10x faster",
        ratio(su.get("emulators_s"), su.get("gcpfakes_s")),
        lambda v: v >= 10,
    )
    row(
        "recorder on a faked call",
        "≤ 1.15x",
        rec.get("overhead_ratio"),
        lambda v: v <= 1.15,
    )
    row(
        "three analyses of 100,000 uses",
        "≤ 25x sorting them",
        rec.get("analysis_ratio_to_sort"),
        lambda v: v <= 25,
    )
    scaling = report.get("scaling", {})
    flat, sort_flat = scaling.get("analysis_flatness"), scaling.get("sort_flatness")
    scan_flat = scaling.get("scan_flatness")
    rows.append(
        (
            "analyses, CPU per use at 1,000,000 / at 10,000 uses",
            "flat (≤ 1.5x, or no more than one pass over the uses grows)",
            "null"
            if flat is None or sort_flat is None
            else f"{flat:.2f}x (`sorted()`: {sort_flat:.2f}x, one pass: {scan_flat}x)",
            None
            if flat is None or sort_flat is None
            else flat <= 1.5 or (scan_flat is not None and flat <= scan_flat),
        )
    )
    row(
        "a test with both fixtures",
        "≤ 2x an empty test",
        fx.get("ratio_to_empty_test"),
        lambda v: v <= 2,
    )
    rows.append(
        (
            "memory",
            "≤ 1.2 bytes of RSS a stored byte",
            "null"
            if mem.get("rss_bytes_per_stored_byte") is None
            else f"{mem['rss_bytes_per_stored_byte']:.2f}",
            None
            if mem.get("rss_bytes_per_stored_byte") is None
            else mem["rss_bytes_per_stored_byte"] <= 1.2,
        )
    )
    return rows


def targets_table(rows: list[tuple[str, str, str, bool | None]]) -> str:
    lines = ["| measure | target | measured | met |", "|---|---|---:|---|"]
    for name, target, measured, met in rows:
        verdict = "not measured" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {target} | {measured} | {verdict} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------


@contextmanager
def section(name: str, failures: dict[str, str]) -> Iterator[None]:
    """Run one section; a failure is printed and kept, and the run goes on."""
    print(f"\n== {name} ==", flush=True)
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {str(error)[:500]}"
        print(f"{name}: FAILED ({failures[name]})", flush=True)
        traceback.print_exc()
    print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)


SECTIONS = (
    "pubsub",
    "storage",
    "unary",
    "waits",
    "suite",
    "recorder",
    "fixtures",
    "memory",
    "scaling",
)


def run(
    settings: Settings, plot_path: Path, only: tuple[str, ...] = SECTIONS
) -> tuple[dict, list[str]]:
    report: dict[str, Any] = {
        "pubsub": {},
        "storage": {},
        "suite": {},
        "recorder": {},
        "fixtures": {},
        "memory": {},
        "scaling": {},
    }
    tables: list[str] = []
    failures: dict[str, str] = {}
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _common.machine(),
        "quick": settings is QUICK,
        "load_average_at_start": _common.load_average(),
    }
    with ExitStack() as stack:
        cli: dict[str, str] | str = "not started"
        if "pubsub" in only or "storage" in only:
            # Server mode: `gcpfakes serve` in a process of its own, as a team replacing
            # the emulators runs it; no fake of this process is current around its rounds.
            try:
                cli = stack.enter_context(_common.gcpfakes_cli())
            except Exception as error:
                cli = f"`gcpfakes serve` did not start: {error}"
        if "pubsub" in only:
            with section("pubsub throughput", failures):
                got = pubsub_section(settings, stack, cli)
                samples, why = got["samples"], got["why"]
                for name in ("gcpfakes", "floor", "emulator", "pytest_pubsub", "server_mode"):
                    report["pubsub"][name] = _ops(got["messages"], samples, name)
                report["pubsub"]["null_reasons"] = why
                report["pubsub"]["cpu_ratio_to_floor"] = got["cpu_ratio_to_floor"]
                report["pubsub"]["spread_s"] = {n: spread(s) for n, s in samples.items()}
                tables.append(
                    f"Pub/Sub: {got['messages']:,} messages published, pulled and acked\n\n"
                    + ops_table("backend", got["messages"], samples, why)
                )
        if "storage" in only:
            with section("storage", failures):
                got = storage_section(settings, stack, cli)
                samples, why = got["samples"], got["why"]
                for name in (
                    "gcpfakes",
                    "floor",
                    "gcp_storage_emulator",
                    "fake_gcs_server",
                    "server_mode",
                ):
                    report["storage"][name] = _ops(got["ops"], samples, name)
                report["storage"]["null_reasons"] = why
                report["storage"]["cpu_ratio_to_floor"] = got["cpu_ratio_to_floor"]
                report["storage"]["spread_s"] = {n: spread(s) for n, s in samples.items()}
                tables.append(
                    f"Storage: {got['ops'] // 2:,} uploads and as many downloads of 1 KiB\n\n"
                    + ops_table("backend", got["ops"], samples, why)
                )
    if "unary" in only:
        with section("pubsub unary", failures):
            unary = bench_pubsub_unary.measure(settings.unary_calls)
            report["pubsub"]["unary_ratio_to_floor"] = round(unary["unary_ratio_to_floor"], 3)
            report["pubsub"]["publish_ratio_to_fresh_ids_floor"] = round(
                unary["publish_ratio_to_fresh_ids_floor"], 3
            )
            report["pubsub"]["unary_us"] = {
                name: {
                    "gcpfakes": round(unary["ours"][name] * 1e6, 1),
                    "floor": round(unary["floor"][name] * 1e6, 1),
                }
                for name in unary["calls"]
            }
    if "waits" in only:
        with section("waits", failures):
            bench_waits.PUBLISH_CALLS = 200 if settings is FULL else 60
            bench_waits.RETRY_CALLS = 20 if settings is FULL else 6
            waits = bench_waits.measure(settings.wait_rounds)
            report["pubsub"]["publish_result_ratio_to_immediate"] = round(
                waits["publish_result_ratio_to_immediate"], 3
            )
            report["pubsub"]["retry_ratio_to_clean_call"] = round(
                max(waits["pubsub_retry_ratio"], waits["storage_retry_ratio"]), 3
            )
            report["pubsub"]["retry_ratios"] = {
                "pubsub_publish": round(waits["pubsub_retry_ratio"], 3),
                "storage_download": round(waits["storage_retry_ratio"], 3),
            }
    if "suite" in only:
        with section("suite", failures):
            suite = bench_suite.measure(settings.suite_rounds)
            report["suite"] = suite
            tables.append(
                "Suite: 100 tests end to end, start-up included\n\n" + bench_suite.table(suite)
            )
    if "recorder" in only:
        with section("recorder", failures):
            rec = bench_recorder_overhead.measure()
            analysis = bench_usage_analysis.measure(100_000)
            report["recorder"] = {
                "us_per_use": round(rec["us_per_use"], 2),
                "overhead_ratio": round(rec["overhead_ratio"], 3),
                "faked_call_us": round(rec["faked_call"] * 1e6, 1),
                "analysis_seconds_100k_uses": round(analysis["analysis_seconds"], 4),
                "analysis_ratio_to_sort": round(
                    analysis["analysis_seconds"] / analysis["sort_seconds"], 2
                ),
            }
    if "fixtures" in only:
        with section("fixtures", failures):
            report["fixtures"] = fixtures_section(settings)
    if "memory" in only:
        with section("memory", failures):
            report["memory"] = memory_section(settings)
    if "scaling" in only:
        with section("scaling", failures):
            scaling = scaling_section(settings)
            uses = scaling["analysis_cpu_seconds_per_use"]
            sort = scaling["sort_cpu_seconds_per_use"]
            scaling["analysis_flatness"] = round(uses[max(uses)] / uses[min(uses)], 2)
            scaling["sort_flatness"] = round(sort[max(sort)] / sort[min(sort)], 2)
            scan = scaling["scan_cpu_seconds_per_use"]
            scaling["scan_flatness"] = round(scan[max(scan)] / scan[min(scan)], 2)
            report["scaling"] = {
                key: ({str(k): v for k, v in value.items()} if isinstance(value, dict) else value)
                for key, value in scaling.items()
            }
            tables.append("Scaling: cost per operation\n\n" + scaling_table(report["scaling"]))
            why_not = plot(report["scaling"], plot_path)
            if why_not:
                print(f"plot: not drawn ({why_not})")
            else:
                print(f"plot: {plot_path}")
    meta["load_average_at_end"] = _common.load_average()
    meta["failed_sections"] = failures
    report["run"] = meta
    try:
        rows = targets(report)
    except Exception as error:  # never lose a run's numbers to the summary
        traceback.print_exc()
        tables.insert(0, f"Targets: not tabulated ({type(error).__name__}: {error})")
    else:
        tables.insert(0, "Targets\n\n" + targets_table(rows))
    return report, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and less work")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH")
    parser.add_argument("--plot", metavar="PATH", default=str(PLOT), help="the scaling plot")
    parser.add_argument("--only", metavar="A,B", help=f"only these sections: {','.join(SECTIONS)}")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    only = tuple(args.only.split(",")) if args.only else SECTIONS
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    report, tables = run(settings, Path(args.plot), only)
    if args.json:  # first: the numbers survive whatever the printing below does
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    meta = report["run"]
    print()
    print(f"{meta['date']}, {meta['machine']}")
    print(
        f"load average (1, 5, 15 min): {meta['load_average_at_start']} at the start, "
        f"{meta['load_average_at_end']} at the end (other work on the machine adds noise)"
    )
    for table in tables:
        print()
        print(textwrap.dedent(table))
    for name in ("pubsub", "storage"):
        for backend, reason in report[name].get("null_reasons", {}).items():
            print(f"{name}.{backend}: null ({reason})")
    for name, reason in report["suite"].get("not_measured", {}).items():
        print(f"suite.{name}: null ({reason})")
    for name, reason in meta["failed_sections"].items():
        print(f"section {name} failed: {reason}")
    if args.json:
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
