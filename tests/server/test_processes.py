"""Child processes reach the test's fakes: fork, spawn, forkserver, transfer_manager.

Each child runs a module-level function (spawn and forkserver children import this module
by name) and reports failure through its exit code; the parent then checks the effect
through ``fake_pubsub`` / ``fake_storage`` and the usage recorder.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1, storage
from google.cloud.storage import transfer_manager

from pytest_gcpfakes import GCPFakesServer, assert_no_cross_process_sharing

START_METHODS = ["fork", "spawn", "forkserver"]
TOPIC = "projects/test-project/topics/jobs"

publisher = pubsub_v1.PublisherClient()  # module level: built before any fork
gcs = storage.Client()


def publish_from_child(tag: str) -> None:
    """Publish with the module-level client, as a forked worker of a --preload app does."""
    publisher.publish(TOPIC, f"from {tag}".encode(), pid=str(os.getpid())).result(timeout=30)


def publish_with_own_client(tag: str) -> None:
    """Publish with a client built in the child, as a post_fork hook would."""
    own = pubsub_v1.PublisherClient()
    own.publish(TOPIC, f"own {tag}".encode()).result(timeout=30)


def receive_in_child() -> None:
    """Stream-pull one message in the child, ack it, and check its payload."""
    import threading

    got: list[bytes] = []
    done = threading.Event()

    def callback(message: Any) -> None:
        got.append(message.data)
        message.ack()
        done.set()

    with pubsub_v1.SubscriberClient() as subscriber:
        future = subscriber.subscribe("projects/test-project/subscriptions/jobs-sub", callback)
        try:
            assert done.wait(30), "no message reached the child's subscriber"
        finally:
            future.cancel()
            future.result(timeout=30)
    assert got == [b"for the child"]


def upload_from_child(name: str) -> None:
    bucket = storage.Client().bucket("shared")
    bucket.blob(name).upload_from_string(f"written by {os.getpid()}")
    assert bucket.blob("from-parent.txt").download_as_bytes() == b"parent"


def _run(method: str, target: Any, *args: Any) -> None:
    context = multiprocessing.get_context(method)
    process = context.Process(target=target, args=args)
    process.start()
    process.join(60)
    assert process.exitcode == 0, f"the {method} child failed (exit code {process.exitcode})"


@pytest.mark.parametrize("method", START_METHODS)
def test_a_child_process_publishes_into_the_tests_fake(fake_pubsub: Any, method: str) -> None:
    fake_pubsub.create_topic("jobs")
    _run(method, publish_with_own_client, method)
    assert [m.data for m in fake_pubsub.published("jobs")] == [f"own {method}".encode()]


@pytest.mark.parametrize("method", START_METHODS)
def test_a_child_process_reads_and_writes_the_tests_storage(fake_storage: Any, method: str) -> None:
    fake_storage.put("shared", "from-parent.txt", b"parent")
    _run(method, upload_from_child, f"{method}.txt")
    assert fake_storage.get("shared", f"{method}.txt").startswith(b"written by ")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_process_stream_pulls_and_acks(fake_pubsub: Any, method: str) -> None:
    fake_pubsub.create_topic("jobs")
    fake_pubsub.create_subscription("jobs-sub", "jobs")
    fake_pubsub.publish("jobs", b"for the child")
    _run(method, receive_in_child)
    state = fake_pubsub.state("jobs-sub")
    assert [m.data for m in state.acked] == [b"for the child"]
    assert state.unacked == 0


def test_a_forked_child_using_the_parents_client_is_recorded_with_its_pid(
    fake_pubsub: Any, gcp_usage: Any
) -> None:
    fake_pubsub.create_topic("jobs")
    _run("fork", publish_from_child, "fork")
    (message,) = fake_pubsub.published("jobs")
    child = int(message.attributes["pid"])
    assert child != os.getpid()
    pids = {use.pid for use in gcp_usage.uses if use.method == "publish"}
    assert child in pids
    with pytest.raises(AssertionError) as caught:
        assert_no_cross_process_sharing()
    report = str(caught.value)
    assert report.startswith("1 client was used in a process other than the one that created it.")
    assert f"- pid {child}  (outside any request)" in report
    assert "post_fork" in report


def test_a_client_built_in_the_child_is_not_cross_process(fake_pubsub: Any) -> None:
    fake_pubsub.create_topic("jobs")
    _run("fork", publish_with_own_client, "fork")
    assert_no_cross_process_sharing()


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    """Make ``request.param`` multiprocessing's default (transfer_manager uses the default)."""
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(request.param, force=True)
    yield str(request.param)
    multiprocessing.set_start_method(before, force=True)


def test_transfer_manager_process_workers_reach_the_fake(
    fake_storage: Any, tmp_path: Path, start_method: str
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    names = [f"file-{i}.txt" for i in range(3)]
    for name in names:
        (source / name).write_text(name)
    big = source / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    bucket = gcs.create_bucket(f"bulk-{start_method}")
    kwargs: dict[str, Any] = {"max_workers": 2, "raise_exception": True}

    results = transfer_manager.upload_many_from_filenames(
        bucket, names, source_directory=str(source), **kwargs
    )
    assert results == [None, None, None]
    assert fake_storage.objects(bucket.name) == names
    results = transfer_manager.download_many_to_path(
        bucket, names, destination_directory=str(target), **kwargs
    )
    assert sorted(p.name for p in target.iterdir()) == names
    uploads = [(str(source / n), bucket.blob(f"again/{n}")) for n in names]
    transfer_manager.upload_many(uploads, **kwargs)
    assert fake_storage.get(bucket.name, "again/file-0.txt") == b"file-0.txt"
    copies = [(bucket.blob(n), str(target / f"copy-{n}")) for n in names]
    transfer_manager.download_many(copies, **kwargs)
    assert (target / "copy-file-2.txt").read_text() == "file-2.txt"

    transfer_manager.upload_chunks_concurrently(
        str(big), bucket.blob("big.bin"), chunk_size=1024 * 1024, max_workers=2
    )
    assert fake_storage.get(bucket.name, "big.bin") == big.read_bytes()
    transfer_manager.download_chunks_concurrently(
        bucket.blob("big.bin"), str(target / "big.bin"), chunk_size=1024 * 1024, max_workers=2
    )
    assert (target / "big.bin").read_bytes() == big.read_bytes()


def child_subprocess_publish() -> None:
    """Entry point of a plain subprocess started with gcpfakes_server.env."""
    pubsub_v1.PublisherClient().publish(TOPIC, b"from a subprocess").result(timeout=30)
    storage.Client().bucket("shared").blob("sub.txt").upload_from_string("subprocess")


def test_a_subprocess_with_the_server_env_reaches_the_fakes_and_is_recorded(
    fake_pubsub: Any, fake_storage: Any, gcpfakes_server: GCPFakesServer, gcp_usage: Any
) -> None:
    import subprocess
    import sys

    fake_pubsub.create_topic("jobs")
    fake_storage.create_bucket("shared")
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); "
        "import test_processes; test_processes.child_subprocess_publish()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=gcpfakes_server.env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert [m.data for m in fake_pubsub.published("jobs")] == [b"from a subprocess"]
    assert fake_storage.get("shared", "sub.txt") == b"subprocess"
    child_pids = {c.pid for c in gcp_usage.clients} - {os.getpid()}
    assert len(child_pids) == 1
    classes = {c.class_name for c in gcp_usage.clients if c.pid in child_pids}
    assert classes == {"PublisherClient", "storage.Client"}


@pytest.fixture(scope="module", params=["fork", "spawn"])
def early_pool(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A worker pool started before any test's fakes are active (as a session fixture is)."""
    pool = multiprocessing.get_context(request.param).Pool(1)
    yield pool
    pool.close()
    pool.join()


def test_a_pool_started_before_the_fakes_reaches_each_tests_fakes(
    early_pool: Any, fake_storage: Any
) -> None:
    fake_storage.put("shared", "from-parent.txt", b"parent")
    early_pool.apply(upload_from_child, ("early.txt",))
    assert fake_storage.get("shared", "early.txt").startswith(b"written by ")


def test_a_pytest_run_started_from_a_test_keeps_its_own_fakes_and_recording(
    pytester: pytest.Pytester, gcpfakes_server: GCPFakesServer, fake_storage: Any
) -> None:
    assert os.environ["GCPFAKES_LINK"]  # the inner run inherits it, and attaches at start-up
    pytester.makepyfile(
        """
        from google.cloud import storage

        def test_inner(fake_storage, gcp_usage):
            storage.Client().create_bucket("inner")
            assert fake_storage.buckets == ["inner"]
            assert [c.class_name for c in gcp_usage.clients] == ["storage.Client"]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert fake_storage.buckets == []  # the inner run's writes stayed in its own fakes
