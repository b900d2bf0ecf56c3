"""google.cloud.storage.transfer_manager through the real client: thread workers, and the
library's defaults (process workers) reaching the same fake."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from google.cloud import storage
from google.cloud.storage import transfer_manager

MIB = 1024 * 1024
NAMES = [f"dir/file-{index}.txt" for index in range(6)]


@pytest.fixture
def bucket(fake_storage: Any) -> Any:
    with closing(storage.Client()) as gcs:
        yield gcs.create_bucket("transfers")


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5 * MIB + 123))
    return path


def test_upload_many_from_filenames_uploads_every_file(
    bucket: Any, fake_storage: Any, tmp_path: Path
) -> None:
    for name in NAMES:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(name)
    results = transfer_manager.upload_many_from_filenames(
        bucket, NAMES, source_directory=str(tmp_path), worker_type=transfer_manager.THREAD
    )
    assert results == [None] * len(NAMES)
    assert fake_storage.objects("transfers") == NAMES
    assert fake_storage.get("transfers", NAMES[0]) == NAMES[0].encode()


def test_upload_many_reports_a_precondition_failure_per_file(
    bucket: Any, fake_storage: Any, tmp_path: Path
) -> None:
    fake_storage.put("transfers", "taken.txt", "old")
    (tmp_path / "taken.txt").write_text("new")
    (tmp_path / "free.txt").write_text("new")
    results = transfer_manager.upload_many_from_filenames(
        bucket,
        ["taken.txt", "free.txt"],
        source_directory=str(tmp_path),
        skip_if_exists=True,
        worker_type=transfer_manager.THREAD,
    )
    assert type(results[0]).__name__ == "PreconditionFailed"
    assert results[1] is None
    assert fake_storage.get("transfers", "taken.txt") == b"old"


def test_download_many_to_path_writes_every_object(
    bucket: Any, fake_storage: Any, tmp_path: Path
) -> None:
    for name in NAMES:
        fake_storage.put("transfers", name, name)
    results = transfer_manager.download_many_to_path(
        bucket, NAMES, destination_directory=str(tmp_path), worker_type=transfer_manager.THREAD
    )
    assert results == [None] * len(NAMES)
    assert all((tmp_path / name).read_text() == name for name in NAMES)


def test_download_chunks_concurrently_reassembles_the_object(
    bucket: Any, fake_storage: Any, big: Path, tmp_path: Path
) -> None:
    fake_storage.put("transfers", "big.bin", big.read_bytes())
    target = tmp_path / "out.bin"
    transfer_manager.download_chunks_concurrently(
        bucket.blob("big.bin"), str(target), chunk_size=MIB, worker_type=transfer_manager.THREAD
    )
    assert target.read_bytes() == big.read_bytes()


def test_sliced_download_of_damaged_bytes_fails_the_crc32c_check(
    bucket: Any, fake_storage: Any, big: Path, tmp_path: Path
) -> None:
    data = big.read_bytes()
    fake_storage.put("transfers", "big.bin", data)
    # Flip the last byte: random data ends in b"\x00" one time in 256, and setting it
    # to zero would then change nothing.
    fake_storage.corrupt("transfers", "big.bin", data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(Exception, match="Checksum mismatch"):
        transfer_manager.download_chunks_concurrently(
            bucket.blob("big.bin"),
            str(tmp_path / "bad.bin"),
            chunk_size=MIB,
            worker_type=transfer_manager.THREAD,
        )


def test_upload_chunks_concurrently_joins_the_parts(
    bucket: Any, fake_storage: Any, big: Path
) -> None:
    blob = bucket.blob("joined.bin")
    blob.metadata = {"origin": "chunks"}
    blob.content_type = "application/x-test"
    transfer_manager.upload_chunks_concurrently(
        str(big), blob, chunk_size=MIB, worker_type=transfer_manager.THREAD
    )
    stored = fake_storage.object("transfers", "joined.bin")
    assert stored.data == big.read_bytes()
    assert (stored.content_type, dict(stored.metadata)) == (
        "application/x-test",
        {"origin": "chunks"},
    )
    assert bucket.get_blob("joined.bin").component_count == 6


def test_every_bulk_function_works_with_its_defaults(
    bucket: Any, fake_storage: Any, tmp_path: Path
) -> None:
    # No worker_type, no max_workers: the library's default pool of 8 processes, whose
    # workers build their own clients (transfer_manager pickles the client's settings only)
    # and reach this test's fake. Small files: each call's pool start is the cost (~0.5 s).
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    names = ["a.txt", "b.txt"]
    for name in names:
        (source / name).write_text(name)
    big = source / "big.bin"
    big.write_bytes(os.urandom(300 * 1024))
    checked: dict[str, Any] = {"raise_exception": True}
    assert transfer_manager.upload_many_from_filenames(
        bucket, names, source_directory=str(source), **checked
    ) == [None, None]
    assert transfer_manager.download_many_to_path(
        bucket, names, destination_directory=str(target), **checked
    ) == [None, None]
    assert sorted(p.name for p in target.iterdir()) == names
    transfer_manager.upload_many([(str(big), bucket.blob("copy/big.bin"))], **checked)
    transfer_manager.download_many(
        [(bucket.blob("copy/big.bin"), str(target / "big.bin"))], **checked
    )
    assert (target / "big.bin").read_bytes() == big.read_bytes()
    transfer_manager.upload_chunks_concurrently(str(big), bucket.blob("chunked.bin"))
    assert fake_storage.get("transfers", "chunked.bin") == big.read_bytes()
    transfer_manager.download_chunks_concurrently(
        bucket.blob("chunked.bin"), str(target / "chunked.bin")
    )
    assert (target / "chunked.bin").read_bytes() == big.read_bytes()
    assert fake_storage.objects("transfers") == ["a.txt", "b.txt", "chunked.bin", "copy/big.bin"]
