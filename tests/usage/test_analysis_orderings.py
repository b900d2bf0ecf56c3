"""The sharing analysis against a plain, quadratic reading of its definition, on orderings
that a one-pass sweep can get wrong: equal logical times, requests interleaved use by use,
calls that return long after later uses started, uses outside their request's lifetime,
requests that never end, and recordings whose uses are not in logical order.

The reference compares every pair of windows and sorts nothing cleverly; the analysis must
give the same Findings (kinds, clients, requests, evidence in order) and the same window
counts the report prints.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from pytest_gcpfakes.usage._analysis import (
    NEAR_MISS,
    SHARED,
    SHARED_SEQUENTIALLY,
    find_sharing,
    request_windows,
    summary_key,
)
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Finding, Recording, RequestInfo, Use


@dataclass
class _Window:
    request: int
    uses: list[Use]

    @property
    def start(self) -> int:
        return self.uses[0].seq

    @property
    def stop(self) -> int:
        return max(use.end for use in self.uses)


def _reference_windows(
    rec: Recording, allow: frozenset[int]
) -> dict[int, list[tuple[_Window, int, int]]]:
    """Per client, each window with (at_once, near), by every pair of windows."""
    ordered = sorted(rec.uses, key=lambda use: use.seq)  # stable: equal times keep their order
    windows: dict[int, dict[int, _Window]] = {}
    for use in ordered:
        if use.request is None or use.client in allow:
            continue
        per_client = windows.setdefault(use.client, {})
        per_client.setdefault(use.request, _Window(use.request, [])).uses.append(use)
    requests = {info.serial: info for info in rec.requests}

    def lifetime(window: _Window) -> tuple[float, float]:
        start: float = window.start
        end: float = window.stop + 1
        info = requests.get(window.request)
        if info is not None:
            start = min(start, info.start_seq)
            end = max(end, math.inf if info.end_seq is None else info.end_seq)
        return start, end

    result: dict[int, list[tuple[_Window, int, int]]] = {}
    for client, per_client in windows.items():
        listed = list(per_client.values())
        stats = []
        for window in listed:
            others = [other for other in listed if other is not window]
            at_once = sum(1 for o in others if o.start <= window.stop and window.start <= o.stop)
            start, end = lifetime(window)
            alive = sum(1 for o in others if lifetime(o)[0] < end and start < lifetime(o)[1])
            stats.append((window, at_once, alive - at_once))
        result[client] = stats
    return result


def _reference_sharing(
    rec: Recording, allow: frozenset[int], strict: bool
) -> tuple[list[Finding], list[Finding]]:
    clients = {info.serial: info for info in rec.clients}
    failures: list[Finding] = []
    near_misses: list[Finding] = []

    def finding(kind: str, client: int, windows: list[_Window]) -> Finding:
        evidence = []
        for window in windows:
            evidence.append(window.uses[0])
            if len(window.uses) > 1:
                evidence.append(window.uses[-1])
        return Finding(
            kind=kind,
            client=client,
            requests=tuple(window.request for window in windows),
            uses=tuple(sorted(evidence, key=lambda use: use.seq)),
            summary=summary_key(kind, clients[client]),
        )

    for client, stats in sorted(_reference_windows(rec, allow).items()):
        concurrent = [window for window, at_once, _ in stats if at_once]
        near = [window for window, _, near in stats if near]
        if concurrent:
            failures.append(finding(SHARED, client, concurrent))
        elif strict and len(stats) > 1:
            failures.append(finding(SHARED_SEQUENTIALLY, client, [w for w, _, _ in stats]))
        elif near:
            near_misses.append(finding(NEAR_MISS, client, near))
    return failures, near_misses


def _recording(rng: random.Random, *, shuffled: bool) -> Recording:
    """Threads interleaved use by use, with equal times, long calls and stray uses."""
    seq = 0

    def tick() -> int:
        nonlocal seq
        seq += rng.choice((0, 0, 1, 1, 1, 2))  # a third of events share a time with another
        return seq

    clients = tuple(
        ClientInfo(
            serial, "PublisherClient", CallSite("app.py", serial, "make"), "Main", 1, None, 7, 0
        )
        for serial in range(1, rng.randint(2, 5))
    )
    requests: dict[int, RequestInfo] = {}
    live: list[int] = []
    uses: list[Use] = []
    for _ in range(rng.randint(5, 60)):
        roll = rng.random()
        if roll < 0.2 or not live:
            serial = len(requests) + 1
            requests[serial] = RequestInfo(serial, "GET", "/r", f"T{serial}", serial, 7, tick())
            live.append(serial)
        elif roll < 0.3:
            serial = live.pop(rng.randrange(len(live)))
            info = requests[serial]
            requests[serial] = RequestInfo(
                serial, "GET", "/r", info.thread, serial, 7, info.start_seq, tick()
            )
        else:
            # Mostly a live request; now and then one that ended (a use outside its
            # lifetime) or none at all.
            request = rng.choice([*live, *live, *live, *requests, None])
            start = tick()
            end = rng.choice((None, start, start + rng.randint(0, 6)))  # long calls stretch
            client = rng.choice(clients).serial
            site = CallSite("app.py", 100 + len(uses), "view")
            thread = f"T{request}"
            uses.append(Use(client, "publish", thread, 1, request, 7, site, start, end))
    if shuffled:
        rng.shuffle(uses)
    return Recording(clients, tuple(requests.values()), tuple(uses))


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_sharing_matches_the_pairwise_reference_on_tricky_orderings(shuffled: bool) -> None:
    rng = random.Random(14)
    for _ in range(400):
        rec = _recording(rng, shuffled=shuffled)
        allow = frozenset(client.serial for client in rec.clients if rng.random() < 0.15)
        for strict in (False, True):
            assert find_sharing(rec, allow=allow, strict=strict) == _reference_sharing(
                rec, allow, strict
            )


def test_window_counts_match_the_pairwise_reference() -> None:
    rng = random.Random(41)
    for _ in range(300):
        rec = _recording(rng, shuffled=rng.random() < 0.5)
        expected = {
            client: [
                (w.request, w.uses[0], w.uses[-1], len(w.uses), w.stop, at_once, near)
                for w, at_once, near in stats
            ]
            for client, stats in _reference_windows(rec, frozenset()).items()
        }
        got = {
            client: [
                (
                    item.window.request,
                    item.window.first,
                    item.window.last,
                    item.window.count,
                    item.window.stop,
                    item.at_once,
                    item.near,
                )
                for item in stats
            ]
            for client, stats in request_windows(rec).items()
        }
        assert got == expected


def _use(client: int, request: int, seq: int, end: int | None = None) -> Use:
    return Use(
        client, "publish", f"T{request}", 1, request, 7, CallSite("app.py", seq, "v"), seq, end
    )


def _client() -> ClientInfo:
    return ClientInfo(1, "PublisherClient", CallSite("app.py", 1, "make"), "Main", 1, None, 7, 0)


def test_windows_touching_at_one_equal_time_are_concurrent() -> None:
    # Request 1's last use and request 2's first happen at the same logical time: the
    # windows are closed intervals, so they overlap.
    requests = (
        RequestInfo(1, "GET", "/a", "T1", 1, 7, 1, 6),
        RequestInfo(2, "GET", "/b", "T2", 2, 7, 2, 9),
    )
    uses = (_use(1, 1, 3), _use(1, 1, 5), _use(1, 2, 5), _use(1, 2, 8))
    (finding,), near = find_sharing(Recording((_client(),), requests, uses))
    assert (finding.kind, finding.requests, near) == (SHARED, (1, 2), [])
    assert finding.uses == uses


def test_a_long_call_stretches_its_window_over_a_later_request() -> None:
    # Request 1 made one call at 3 that returned at 9; request 2 used the client at 6, in
    # between, while its uses listed in the wrong order (as a merged recording may be).
    requests = (
        RequestInfo(1, "GET", "/a", "T1", 1, 7, 1, 10),
        RequestInfo(2, "GET", "/b", "T2", 2, 7, 2, 11),
    )
    uses = (_use(1, 2, 6), _use(1, 1, 3, end=9))
    (finding,), _ = find_sharing(Recording((_client(),), requests, uses))
    assert finding.requests == (1, 2)
    assert finding.uses == (uses[1], uses[0])
