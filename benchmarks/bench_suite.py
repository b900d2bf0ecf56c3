"""The suite benchmark: what a team saves, end to end, start-up included.

``suite/`` holds a small Flask service (``suite/docstore``) and its pytest suite of 100
tests: publish and receive with ``subscribe()``, nack and redelivery, ack-deadline expiry,
dead-lettering, uploads, listings, preconditions and signed-URL round trips. The test
bodies are the same for every stack; ``SUITE_BACKEND`` in ``suite/conftest.py`` chooses:

- ``inprocess``: the plugin's in-process fakes;
- ``server``: server mode (``gcpfakes_server``: Pub/Sub over gRPC through the relay);
- ``emulators``: Google's Pub/Sub emulator and fake-gcs-server, started by the session
  (their start-up is part of the time), per-test clean-up, ``-p no:gcpfakes``.

Each round runs ``python -m pytest`` once per stack in a fresh process, in an order that
rotates from round to round, and times it from spawn to exit. A run that does not pass all
100 tests counts as a failure of that stack (its time is not used). Target: the in-process
suite at least 10x faster than the emulators (ratio of medians).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import Spread, load_average

SUITE = Path(__file__).resolve().parent / "suite"
TESTS = 100
TARGET = 10.0
RUN_SECONDS = 900.0
"""Upper bound on one run of the suite."""
STACKS: dict[str, tuple[str, list[str]]] = {
    "gcpfakes": ("inprocess", []),
    "server_mode": ("server", []),
    "emulators": ("emulators", ["-p", "no:gcpfakes"]),
}


def run_once(stack: str) -> tuple[float | None, str]:
    """Seconds for one run of the suite on ``stack``, or None and why it failed."""
    backend, options = STACKS[stack]
    env = dict(os.environ, SUITE_BACKEND=backend)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=SUITE, env=env, capture_output=True, text=True, timeout=RUN_SECONDS
        )
    except subprocess.TimeoutExpired:
        return None, f"took more than {RUN_SECONDS:.0f} s"
    seconds = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1:] or [done.stderr.strip()[-300:]]
    passed = re.search(r"(\d+) passed", tail[0])
    if done.returncode != 0 or passed is None or int(passed.group(1)) != TESTS:
        return None, f"exit {done.returncode}: {tail[0][:300]}"
    return seconds, tail[0]


def measure(rounds: int) -> dict[str, Any]:
    """Alternating rounds of the three stacks; medians, spreads and the ratios."""
    names = list(STACKS)
    samples: dict[str, list[float]] = {name: [] for name in names}
    why: dict[str, str] = {}
    for index in range(rounds):
        for offset in range(len(names)):
            name = names[(index + offset) % len(names)]
            if name in why:
                continue
            seconds, summary = run_once(name)
            if seconds is None:
                why[name] = summary
                print(f"suite on {name}: FAILED ({summary}); not measured further", flush=True)
                continue
            samples[name].append(seconds)
            print(f"suite on {name}, round {index + 1}: {seconds:.2f} s ({summary})", flush=True)
    spreads = {name: Spread.of(s) for name, s in samples.items() if s and name not in why}
    result: dict[str, Any] = {
        "gcpfakes_s": _median(spreads.get("gcpfakes")),
        "server_mode_s": _median(spreads.get("server_mode")),
        "emulators_s": _median(spreads.get("emulators")),
        "spread_s": {
            name: {"median": round(s.median, 3), "min": round(s.min, 3), "max": round(s.max, 3)}
            for name, s in spreads.items()
        },
        "rounds": rounds,
        "tests": TESTS,
        "not_measured": why,
    }
    ours, emulators, server = (spreads.get(n) for n in ("gcpfakes", "emulators", "server_mode"))
    result["speedup_vs_emulators"] = (
        round(emulators.median / ours.median, 2) if ours and emulators else None
    )
    result["server_mode_speedup_vs_emulators"] = (
        round(emulators.median / server.median, 2) if server and emulators else None
    )
    return result


def _median(spread: Spread | None) -> float | None:
    return None if spread is None else round(spread.median, 3)


def table(result: dict[str, Any]) -> str:
    lines = ["| stack | median s | min s | max s |", "|---|---:|---:|---:|"]
    labels = {
        "gcpfakes": "in-process fakes",
        "server_mode": "server mode (gcpfakes_server)",
        "emulators": "Pub/Sub emulator + fake-gcs-server",
    }
    for name, label in labels.items():
        spread = result["spread_s"].get(name)
        if spread is None:
            reason = result["not_measured"].get(name, "not run")
            lines.append(f"| {label} | null | | | <!-- {reason} -->")
        else:
            lines.append(
                f"| {label} | {spread['median']:.2f} | {spread['min']:.2f} | {spread['max']:.2f} |"
            )
    return "\n".join(lines)


def verdict(result: dict[str, Any]) -> str:
    speedup = result["speedup_vs_emulators"]
    if speedup is None:
        return f"target: in-process suite >= {TARGET:.0f}x faster than the emulators: not measured"
    met = "met" if speedup >= TARGET else "NOT met"
    return (
        f"target: in-process suite >= {TARGET:.0f}x faster than the emulators: {speedup}x ({met})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    start_load = load_average()
    result = measure(args.rounds)
    result["load_average"] = {"start": start_load, "end": load_average()}
    print()
    print(table(result))
    print()
    print(verdict(result))
    print(f"load average at the start {start_load}, at the end {load_average()}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
