"""Real gunicorn, two sync workers, against the test's fakes: the ``--preload`` hazard.

gunicorn runs as a subprocess with ``gcpfakes_server.env``; the plugin's start-up hook
fakes its clients and records them. Two requests meet at a barrier served by the test (so
both are in flight at once and each worker serves one); their effects land in the test's
``fake_pubsub`` / ``fake_storage``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_gcpfakes import GCPFakesServer, assert_no_cross_process_sharing
from pytest_gcpfakes.server._http import HttpServer, serve_wsgi

APPS = Path(__file__).parent / "apps"
WAIT = 60  # seconds: a bound on waiting for events, never a sleep


class _Barrier:
    """A WSGI app whose every GET waits until ``parties`` GETs are waiting."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=WAIT)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            self.barrier.wait()
            status = "200 OK"
        except threading.BrokenBarrierError:
            status = "504 Gateway Timeout"
        start_response(status, [("Content-Length", "0")])
        return [b""]


@pytest.fixture
def barrier() -> Iterator[HttpServer]:
    server = serve_wsgi(_Barrier(2))
    yield server
    server.stop()


@contextlib.contextmanager
def _gunicorn(server: GCPFakesServer, barrier: HttpServer, *args: str) -> Iterator[str]:
    env = {
        **server.env,
        "BARRIER_URL": barrier.url,
        "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0", *args],
        cwd=APPS,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    url = ""
    lines: list[str] = []
    for line in process.stderr:  # gunicorn logs where it listens once it does
        lines.append(line)
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1)
            break
    assert url, "gunicorn did not start:\n" + "".join(lines)
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    drain.start()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(WAIT)
        drain.join(WAIT)
        process.stderr.close()


def _two_requests_at_once(url: str) -> list[int]:
    """POST twice at once; each blocks at the barrier until the other is in flight."""
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda name: requests.post(f"{url}/work/{name}", timeout=WAIT), ["a", "b"])
        )
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return [int(answer.json()["pid"]) for answer in answers]


@pytest.fixture
def arranged(fake_pubsub: Any, fake_storage: Any) -> None:
    fake_pubsub.create_topic("events")
    fake_storage.create_bucket("uploads")


def test_preload_with_module_level_clients_is_flagged_with_the_worker_pids(
    arranged: None,
    fake_pubsub: Any,
    fake_storage: Any,
    gcpfakes_server: GCPFakesServer,
    barrier: HttpServer,
) -> None:
    with _gunicorn(gcpfakes_server, barrier, "--preload", "preload_app:app") as url:
        workers = _two_requests_at_once(url)
    assert len(set(workers)) == 2  # each worker served one request
    assert sorted(m.data for m in fake_pubsub.published("events")) == [b"a", b"b"]
    assert {m.attributes["pid"] for m in fake_pubsub.published("events")} == {
        str(pid) for pid in workers
    }
    assert fake_storage.objects("uploads") == ["a", "b"]
    with pytest.raises(AssertionError) as caught:
        assert_no_cross_process_sharing()
    report = str(caught.value)
    assert report.startswith("2 clients were used in a process other than the one that created")
    assert "PublisherClient #" in report
    assert "storage.Client #" in report
    # Created in the master (one pid), used in both workers (two others).
    assert re.search(r"PublisherClient #\d+, created at \S*preload_app\.py:16 ", report)
    for pid in workers:
        assert f"- pid {pid}  POST /work/" in report
    assert "post_fork" in report


def test_clients_built_after_fork_pass(
    arranged: None,
    fake_pubsub: Any,
    fake_storage: Any,
    gcpfakes_server: GCPFakesServer,
    barrier: HttpServer,
    gcp_usage: Any,
) -> None:
    args = ("-c", str(APPS / "gunicorn_conf.py"), "per_worker_app:app")
    with _gunicorn(gcpfakes_server, barrier, *args) as url:
        workers = _two_requests_at_once(url)
    assert len(set(workers)) == 2
    assert sorted(m.data for m in fake_pubsub.published("events")) == [b"a", b"b"]
    assert fake_storage.objects("uploads") == ["a", "b"]
    assert_no_cross_process_sharing()
    # Each worker's clients were recorded with that worker's pid.
    assert {c.pid for c in gcp_usage.clients if c.class_name == "PublisherClient"} >= set(workers)
