"""Helpers the benchmark scripts share (imported from the scripts' own folder).

Competitors a benchmark compares against (pytest-pubsub, gcp-storage-emulator,
fake-gcs-server) live in throwaway venvs of their own, never in this project's environments.
A client floor swaps the fake's backend for canned answers behind the same interception.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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
