"""Helpers the benchmark scripts share (imported from the scripts' own folder).

Competitors a benchmark compares against (pytest-pubsub, gcp-storage-emulator,
fake-gcs-server) live in throwaway venvs of their own, never in this project's environments.
A client floor swaps the fake's backend for canned answers behind the same interception.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
