"""Shared helpers for the test suite (the plugin itself is loaded through its entry point)."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from importlib import metadata

import pytest
from packaging.version import Version


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "since(distribution, version, feature): the test exercises a feature that is new in"
        " that release of a client library; it skips, naming both, on older ones",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test of a client feature the installed (older, supported) client lacks.

    The fakes serve clients that have the feature; the suite's ``min`` environment runs the
    oldest supported clients, where these tests say which release brought the feature.
    """
    for mark in item.iter_markers("since"):
        distribution, version, feature = mark.args
        installed = metadata.version(distribution)
        if Version(installed) < Version(version):
            pytest.skip(f"{feature} is new in {distribution} {version} (installed: {installed})")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gcpfakes-suite", "pytest-gcpfakes' own test suite").addoption(
        "--gcpfakes-stress-seconds",
        type=float,
        default=3.0,
        metavar="N",
        help="How long tests/test_stress.py runs its threads (default: 3 seconds).",
    )


@pytest.fixture
def stress_seconds(request: pytest.FixtureRequest) -> float:
    """How long the stress test runs its threads (``--gcpfakes-stress-seconds``)."""
    seconds = float(request.config.getoption("gcpfakes_stress_seconds"))
    if seconds <= 0:
        raise pytest.UsageError("--gcpfakes-stress-seconds takes a number of seconds above 0.")
    return seconds


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    """No credentials, no project and an empty HOME: a machine that never saw gcloud."""
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",
        "PUBSUB_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
        "CLOUDSDK_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


# -- no thread left behind ----------------------------------------------------------------------

# Threads the fakes start for a test: a stream's request reader, push delivery, a dead-letter
# forward, a live app and its requests, the servers' per-connection threads, the drivers of
# concurrent_requests. The servers' own threads (gcpfakes-grpc_N, gcpfakes-http-PORT,
# gcpfakes-switch-PORT) live as long as the servers, for the whole run: not a test's; a
# link connection's thread (gcpfakes-link-conn) as long as its caller, a process that may
# outlive a test (a pool started before it).
_FAKES_THREADS = re.compile(
    r"gcpfakes-(streaming-pull-reader|push-.*|live-app-\d+|link-stream-sender|switch-conn"
    r"|link-stream-reader|switch-pump)"
    r"|concurrent-request-\d+|Thread-\d+ \((_forward|process_request_thread)\)"
)
# The client libraries' threads (google-cloud-pubsub 2.44, google-api-core's bidi,
# google-cloud-storage 3.17's bucket metadata cache). At the end of a test none may be left:
# the session's settling stops the streams a test left open and commits pending batches, and
# the others are the threads of clients the test closed.
_CLIENT_THREADS = re.compile(
    r"Thread-(ConsumeBidirectionalStream|LeaseMaintainer|Heartbeater|CallbackRequestDispatcher"
    r"|RegularStreamShutdown|OnRpcTerminated|CommitBatchPublisher|PubSubBatchCommitter)"
    r"|ThreadPoolExecutor-ThreadScheduler_\d+"
    r"|Thread-\d+ \((_fetch_background|_verify_existence_background)\)"
)
_FINISHING_SECONDS = 10.0  # a bound on waiting for threads that are on their way out


def _watched(thread: threading.Thread) -> bool:
    return bool(_FAKES_THREADS.fullmatch(thread.name) or _CLIENT_THREADS.fullmatch(thread.name))


@pytest.fixture(autouse=True)
def _no_thread_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test (and its fixtures' teardown), none of the threads the fakes or the
    client libraries started during it may still run.

    Every test is watched, not only those that request the fixtures: a test may use
    ``GCPFakes()`` itself. Threads on their way out are joined, within a bound; what is left
    fails the test's teardown with each thread's stack.
    """
    before = set(threading.enumerate())
    yield
    started = [t for t in threading.enumerate() if t not in before and _watched(t)]
    give_up = time.monotonic() + _FINISHING_SECONDS
    for thread in started:
        if thread.ident is None:  # listed while still starting: nothing to join yet
            continue
        thread.join(max(0.0, give_up - time.monotonic()))
    left = [t for t in started if t.is_alive()]
    if not left:
        return
    frames = sys._current_frames()
    stacks = []
    for thread in left:
        frame = frames.get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "  (no frame)\n"
        stacks.append(f"- {thread.name!r}, still running at:\n{stack}")
    pytest.fail(
        f"{len(left)} thread(s) started during the test still run "
        f"{_FINISHING_SECONDS:g} s after its teardown:\n" + "".join(stacks),
        pytrace=False,
    )
