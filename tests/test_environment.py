"""Emulator variables and forked processes: the in-process fakes stay in charge."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1, storage
from google.cloud.storage import transfer_manager

from pytest_gcpfakes import ForkedProcessError
from pytest_gcpfakes._errors import BlockedCallError, FakeNotActiveError


def test_pubsub_emulator_host_still_gets_the_in_process_fake(
    fake_pubsub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.create_topic(name=fake_pubsub.topic_path("emulated")).name
    publisher.publish(topic, b"x").result(timeout=30)
    assert [m.data for m in fake_pubsub.published("emulated")] == [b"x"]


def test_storage_emulator_host_still_gets_the_in_process_fake(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    storage.Client().create_bucket("emulated-bucket")
    assert fake_storage.buckets == ["emulated-bucket"]


def _in_forked_child(action: Any) -> str:
    """Run ``action`` in a child made by a bare ``os.fork()``; return what it raised."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # the child: report what the call raised, then leave at once
        outcome = "no error"
        try:
            action()
        except Exception as error:
            outcome = f"{type(error).__name__}: {error}"
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        return pipe.read().decode()


def test_a_forked_childs_write_lands_in_the_parents_fake(fake_storage: Any) -> None:
    client = storage.Client()
    client.create_bucket("parent-bucket")
    outcome = _in_forked_child(
        lambda: client.bucket("parent-bucket").blob("from-child").upload_from_string("kept")
    )
    assert outcome == "no error"
    assert fake_storage.get("parent-bucket", "from-child") == b"kept"


def test_a_forked_child_that_cannot_reach_the_fakes_fails_instead_of_writing_a_copy(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_gcpfakes import _processes

    def no_servers() -> None:
        raise OSError("no free port")

    monkeypatch.setattr(_processes, "host", no_servers)
    client = storage.Client()
    client.create_bucket("parent-bucket")
    outcome = _in_forked_child(
        lambda: client.bucket("parent-bucket").blob("from-child").upload_from_string("lost?")
    )
    child = outcome.split("forked process ", 1)[-1].split(",", 1)[0]
    assert outcome == (
        f"ForkedProcessError: 400 pytest-gcpfakes: this Cloud Storage call ran in forked "
        f"process {child}, which cannot reach the fakes of process {os.getpid()} (its servers "
        "did not start: OSError: no free port); its writes would be lost, so the call fails: "
        "fix the cause, or use threads instead."
    )
    assert child.isdigit()
    assert fake_storage.objects("parent-bucket") == []


def test_transfer_manager_thread_workers_reach_the_fake(fake_storage: Any, tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    bucket = storage.Client().create_bucket("transfer-bucket")
    results = transfer_manager.upload_many_from_filenames(
        bucket,
        ["a.txt", "b.txt"],
        source_directory=tmp_path,
        worker_type=transfer_manager.THREAD,
        raise_exception=True,
    )
    assert results == [None, None]
    assert fake_storage.objects("transfer-bucket") == ["a.txt", "b.txt"]


@pytest.mark.parametrize(
    "error",
    [
        FakeNotActiveError("storage"),
        ForkedProcessError("pubsub", 12, 34, "its servers did not start: OSError: x"),
        BlockedCallError("pubsub.googleapis.com:443", "pubsub"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_plugin_errors_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
