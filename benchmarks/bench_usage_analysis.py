"""How long the sharing, leak and use-after-close analyses take on 100,000 recorded uses.

The target (issue 5) is 0.5 s for 100,000 uses, which an O(n log n) sort-and-sweep meets and a
pairwise comparison of requests does not. The baseline, measured in the same run, is a plain
``sorted()`` of the same uses by logical time: the floor any ordering-based analysis pays.

The synthetic recording: ~1,000 requests, up to 8 live at once, over 50 clients: 10 module-level
globals shared by every request, 20 pooled clients handed from request to request, and 20 made
per request (half closed in time); one global is closed halfway through and used after; ~100
uses per request.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from collections.abc import Callable

from pytest_gcpfakes.usage._analysis import find_leaks, find_sharing, find_use_after_close
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Recording, RequestInfo, Use

USES = 100_000
REQUESTS = 1_000
LIVE = 8
ROUNDS = 5
TARGET_SECONDS = 0.5


def build_recording(seed: int = 5, uses_wanted: int = USES) -> Recording:
    """A recording shaped like a busy threaded Flask app under test, with ``uses_wanted``
    uses (requests scale with it: about 100 uses a request)."""
    requests_wanted = max(1, uses_wanted // 100)
    rng = random.Random(seed)
    seq = 0

    def tick() -> int:
        nonlocal seq
        seq += 1
        return seq

    def client(serial: int, request: int | None) -> ClientInfo:
        site = CallSite("app.py", 10 + serial, "make")
        return ClientInfo(serial, "PublisherClient", site, "MainThread", 1, request, 1, tick())

    clients = {serial: client(serial, None) for serial in range(1, 31)}  # globals and pool
    requests: dict[int, RequestInfo] = {}
    uses: list[Use] = []
    live: list[int] = []
    per_request: dict[int, int] = {}
    per_request_serials = iter(range(31, 10_000_000))
    started = 0
    site = CallSite("app.py", 100, "view")
    while started < requests_wanted or live:
        if started < requests_wanted and ((len(live) < LIVE and rng.random() < 0.5) or not live):
            started += 1
            requests[started] = RequestInfo(
                started, "GET", "/orders", f"Thread-{started}", started, 1, tick()
            )
            live.append(started)
            if started % 50 == 0:  # now and then a per-request client (20 in all)
                serial = next(per_request_serials)
                clients[serial] = client(serial, started)
                per_request[started] = serial
            continue
        request = rng.choice(live)
        if rng.random() < 0.01 or len(uses) >= uses_wanted:
            live.remove(request)
            own = per_request.get(request)
            if own is not None and own % 2:
                clients[own] = dataclasses.replace(clients[own], closed_seq=tick())
            requests[request] = dataclasses.replace(requests[request], end_seq=tick())
            continue
        roll = rng.random()
        if request in per_request and roll < 0.5:
            target = per_request[request]
        elif roll < 0.8:
            target = 11 + request % 20  # its pooled client
        else:
            target = rng.randint(1, 10)  # a global
        uses.append(Use(target, "publish", f"Thread-{request}", request, request, 1, site, tick()))
    clients[10] = dataclasses.replace(clients[10], closed_seq=uses[len(uses) // 2].seq)
    return Recording(tuple(clients.values()), tuple(requests.values()), tuple(uses))


def _median_seconds(call: Callable[[], object]) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(uses: int = USES, rounds: int = ROUNDS) -> dict[str, float]:
    """Median seconds of the three analyses (sharing, leaks, use after close) over ``uses``
    recorded uses, and of a plain ``sorted()`` of them by logical time."""
    rec = build_recording(uses_wanted=uses)
    samples_sort: list[float] = []
    samples_all: list[float] = []
    for _ in range(rounds):  # alternating: the baseline, then the analyses
        start = time.perf_counter()
        sorted(rec.uses, key=lambda use: use.seq)
        samples_sort.append(time.perf_counter() - start)
        start = time.perf_counter()
        find_sharing(rec)
        find_leaks(rec)
        find_use_after_close(rec)
        samples_all.append(time.perf_counter() - start)
    return {
        "uses": len(rec.uses),
        "analysis_seconds": statistics.median(samples_all),
        "sort_seconds": statistics.median(samples_sort),
    }


def main() -> None:
    rec = build_recording()
    requests = len(rec.requests)
    print(f"{len(rec.uses):,} uses, {requests:,} requests, {len(rec.clients)} clients")
    baseline = _median_seconds(lambda: sorted(rec.uses, key=lambda use: use.seq))
    timings = {
        "find_sharing": _median_seconds(lambda: find_sharing(rec)),
        "find_sharing strict": _median_seconds(lambda: find_sharing(rec, strict=True)),
        "find_leaks": _median_seconds(lambda: find_leaks(rec)),
        "find_use_after_close": _median_seconds(lambda: find_use_after_close(rec)),
    }
    failures, near = find_sharing(rec)
    print(
        f"verdicts: {len(failures)} shared, {len(near)} near misses, "
        f"{len(find_leaks(rec))} leaked, {len(find_use_after_close(rec))} used after close"
    )
    print(f"{'analysis':<24}{'time (ms)':>12}{'ratio':>12}")
    print(f"{'sorted() baseline':<24}{baseline * 1e3:>12.1f}{1:>12.1f}")
    for name, seconds in timings.items():
        print(f"{name:<24}{seconds * 1e3:>12.1f}{seconds / baseline:>12.1f}")
    total = timings["find_sharing"] + timings["find_leaks"] + timings["find_use_after_close"]
    verdict = "met" if total <= TARGET_SECONDS else "MISSED"
    print(f"all three: {total * 1e3:.1f} ms (target ≤ {TARGET_SECONDS * 1e3:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
