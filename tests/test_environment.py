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
from pytest_gcpfakes._errors import BlockedCallError, FakeNotActiveError, ProcessWorkersError


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


def test_client_call_in_forked_child_fails_instead_of_writing_a_copy(fake_storage: Any) -> None:
    client = storage.Client()
    client.create_bucket("parent-bucket")
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # the child: report what the call raised, then leave at once
        outcome = "no error"
        try:
            client.bucket("parent-bucket").blob("from-child").upload_from_string("lost?")
        except Exception as error:
            outcome = f"{type(error).__name__}: {error}"
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read().decode()
    assert outcome.startswith("ForkedProcessError: 400 pytest-gcpfakes: this Cloud Storage call")
    assert "use threads instead (transfer_manager: worker_type=transfer_manager.THREAD)" in outcome
    assert fake_storage.objects("parent-bucket") == []


def test_transfer_manager_process_workers_fail_up_front(fake_storage: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    bucket = storage.Client().create_bucket("transfer-bucket")
    with pytest.raises(ProcessWorkersError) as caught:
        transfer_manager.upload_many_from_filenames(bucket, ["a.txt"], source_directory=tmp_path)
    assert caught.value.message == (
        "pytest-gcpfakes: transfer_manager.upload_many() with worker_type=PROCESS (the "
        "default) runs in other processes, which cannot reach the in-memory fakes of this "
        "one; pass worker_type=transfer_manager.THREAD."
    )


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
        ForkedProcessError("pubsub", 12, 34),
        BlockedCallError("pubsub.googleapis.com:443", "pubsub"),
        ProcessWorkersError("upload_many"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_plugin_errors_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
