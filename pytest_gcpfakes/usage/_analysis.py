"""Verdicts over a ``Recording``: sharing, leaks, use after close, processes. Pure, no state.

The sharing check works on *windows* (DESIGN §4): the window of request R on client C runs from
R's first to R's last use of C, in logical order (``seq``). Two requests share C concurrently when
their windows on C overlap (closed intervals: a use inside another request's window counts).
Lifetimes of requests decide near misses: lifetimes overlapped, windows did not.

Everything is a sort plus a sweep, O(n log n) in the number of uses, so that a long test with
100,000 uses is judged in well under half a second. Uses made outside any request (library
threads, subscriber callbacks, import time, the test body) never count towards sharing or reuse.

Evidence in ``Finding.uses``: for sharing verdicts the first and last use of each request
involved (the ends of its window); for leaks the creating request's last use, if any; for use
after close every use after the close.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pytest_gcpfakes.usage._model import ClientInfo, Finding, Recording, RequestInfo, Use

SHARED = "shared"
SHARED_SEQUENTIALLY = "shared-sequentially"
NEAR_MISS = "near-miss"
LEAKED = "leaked"
USED_AFTER_CLOSE = "used-after-close"
CROSS_PROCESS = "cross-process"

# The first word of a Finding's summary line, per kind: what a human greps CI logs for.
_SUMMARY_PREFIX = {
    SHARED: "shared-client",
    SHARED_SEQUENTIALLY: "shared-sequentially",
    NEAR_MISS: "near-miss",
    LEAKED: "leaked-client",
    USED_AFTER_CLOSE: "use-after-close",
    CROSS_PROCESS: "cross-process",
}


@dataclass(frozen=True)
class Window:
    """One request's uses of one client: its first and last use, and how many there were."""

    request: int
    first: Use
    last: Use
    count: int
    end: int = -1  # when the last of these calls returned (window end); -1: last.end

    @property
    def stop(self) -> int:
        """The window's end: the latest return among its calls."""
        return self.end if self.end >= 0 else self.last.end


@dataclass(frozen=True)
class WindowStats:
    """A window and how it relates to the other requests' windows on the same client."""

    window: Window
    at_once: int  # other requests whose windows on this client overlap this one
    near: int  # other requests whose lifetimes overlapped this one while their windows did not


def printable(text: str) -> str:
    """Return ``text`` as is when it prints on one line, else its ``repr()``.

    Paths and scope names come from users and HTTP clients; a newline in one must not forge a
    line of a report.
    """
    return text if text.isprintable() else repr(text)


def request_label(requests: dict[int, RequestInfo], serial: int) -> str:
    """``GET /upload``, or ``request #7`` when the recording lacks that request."""
    info = requests.get(serial)
    return printable(info.label) if info is not None else f"request #{serial}"


def summary_key(kind: str, client: ClientInfo, route: str | None = None) -> str:
    """The de-duplication key: kind, class, creation site [, route]; no serials, no idents."""
    parts = [_SUMMARY_PREFIX.get(kind, kind), client.class_name, str(client.created_at)]
    if route is not None:
        parts.append(route)
    return " ".join(parts)


def request_windows(
    rec: Recording, *, allow: frozenset[int] = frozenset()
) -> dict[int, list[WindowStats]]:
    """Per client serial, each request's window on it with its overlap counts, by first use."""
    requests = {info.serial: info for info in rec.requests}
    first: dict[tuple[int, int], Use] = {}
    last: dict[tuple[int, int], Use] = {}
    count: dict[tuple[int, int], int] = {}
    stop: dict[tuple[int, int], int] = {}
    # Recordings are built in order (Timsort passes over them in linear time), but hand-made
    # and merged ones need not be.
    for use in sorted(rec.uses, key=_seq):
        if use.request is None or use.client in allow:
            continue
        key = (use.client, use.request)
        if key not in first:
            first[key] = use
        last[key] = use
        count[key] = count.get(key, 0) + 1
        # A call is in use until it returns: a long call stretches the window.
        stop[key] = max(stop.get(key, use.end), use.end)
    grouped: dict[int, list[Window]] = {}
    for key, use in first.items():
        grouped.setdefault(key[0], []).append(Window(key[1], use, last[key], count[key], stop[key]))
    result: dict[int, list[WindowStats]] = {}
    for client, windows in grouped.items():
        # Already in order of first use: ``first`` was filled in seq order.
        at_once = _window_overlaps(windows)
        lifetime = _lifetime_overlaps(windows, requests)
        result[client] = [
            WindowStats(window, both, alive - both)
            for window, both, alive in zip(windows, at_once, lifetime, strict=True)
        ]
    return result


def _seq(use: Use) -> int:
    return use.seq


def _window_overlaps(windows: list[Window]) -> list[int]:
    """For each window, how many of the others overlap it (closed intervals), by bisection."""
    starts = sorted(window.first.seq for window in windows)
    ends = sorted(window.stop for window in windows)
    total = len(windows)
    counts = []
    for window in windows:
        ended_before = bisect_left(ends, window.first.seq)
        started_after = total - bisect_right(starts, window.stop)
        counts.append(total - 1 - ended_before - started_after)
    return counts


def _lifetime_overlaps(windows: list[Window], requests: dict[int, RequestInfo]) -> list[int]:
    """For each window's request, how many of the others were alive at the same time.

    A lifetime is stretched to cover its window, so that overlapping windows always imply
    overlapping lifetimes and ``near = alive - at_once`` never goes negative, even for a
    recording whose uses fall outside their request's recorded start and end.
    """
    spans: list[tuple[float, float]] = []
    for window in windows:
        info = requests.get(window.request)
        start: float = window.first.seq
        end: float = window.stop + 1
        if info is not None:
            start = min(start, info.start_seq)
            end = max(end, math.inf if info.end_seq is None else info.end_seq)
        spans.append((start, end))
    starts = sorted(start for start, _ in spans)
    ends = sorted(end for _, end in spans)
    total = len(spans)
    counts = []
    for start, end in spans:  # half-open, as RequestInfo.overlaps
        ended_before = bisect_right(ends, start)
        started_after = total - bisect_left(starts, end)
        counts.append(total - 1 - ended_before - started_after)
    return counts


def find_sharing(
    rec: Recording, *, allow: frozenset[int] = frozenset(), strict: bool = False
) -> tuple[list[Finding], list[Finding]]:
    """Return (failures, near misses): one Finding per client, ordered by client serial.

    ``allow`` holds client serials (the caller maps classes and objects to them). A client that
    fails gets no near-miss Finding as well: its message already lists every request that used
    it.
    """
    clients = {info.serial: info for info in rec.clients}
    failures: list[Finding] = []
    near_misses: list[Finding] = []
    for serial, stats in sorted(request_windows(rec, allow=allow).items()):
        client = clients.get(serial)
        concurrent = [item for item in stats if item.at_once]
        if concurrent:
            failures.append(_sharing_finding(SHARED, serial, client, concurrent))
        elif strict and len(stats) > 1:
            failures.append(_sharing_finding(SHARED_SEQUENTIALLY, serial, client, stats))
        else:
            near = [item for item in stats if item.near]
            if near:
                near_misses.append(_sharing_finding(NEAR_MISS, serial, client, near))
    return failures, near_misses


def _sharing_finding(
    kind: str, serial: int, client: ClientInfo | None, stats: list[WindowStats]
) -> Finding:
    evidence: list[Use] = []
    for item in stats:
        evidence.append(item.window.first)
        if item.window.last is not item.window.first:
            evidence.append(item.window.last)
    return Finding(
        kind=kind,
        client=serial,
        requests=tuple(item.window.request for item in stats),
        uses=tuple(sorted(evidence, key=_seq)),
        summary=summary_key(kind, client) if client is not None else f"{kind} #{serial}",
    )


def find_leaks(
    rec: Recording, *, still_referenced: Callable[[int], bool] | None = None
) -> list[Finding]:
    """Clients created in a request, still open when it ended, and used by no other request.

    Any other request's use counts as reuse, even one made while the creating request still
    ran: a lazy global built by one request and picked up by a concurrent one is shared, not
    abandoned, and the sharing check is the one to judge it.

    ``still_referenced(serial)`` tells whether the client object is still reachable. When
    given, a client the app still holds (a lazy global or a thread-local built by the only
    request of a test) is not abandoned; a per-request client left on ``flask.g`` is
    garbage once its request ends, so it still counts.
    """
    requests = {info.serial: info for info in rec.requests}
    creators = {info.serial: info.created_request for info in rec.clients}
    reused: set[int] = set()
    last_use: dict[int, Use] = {}
    for use in rec.uses:
        if use.request is None:
            continue
        if use.request != creators.get(use.client):
            reused.add(use.client)
        elif use.client not in last_use or use.seq > last_use[use.client].seq:
            last_use[use.client] = use
    findings = []
    for client in sorted(rec.clients, key=lambda info: info.serial):
        if client.created_request is None or client.serial in reused:
            continue
        request = requests.get(client.created_request)
        if request is None or request.end_seq is None:
            continue  # still running: it may yet close the client
        if client.closed_seq is not None and client.closed_seq <= request.end_seq:
            continue
        if still_referenced is not None and still_referenced(client.serial):
            continue
        evidence = last_use.get(client.serial)
        findings.append(
            Finding(
                kind=LEAKED,
                client=client.serial,
                requests=(request.serial,),
                uses=(evidence,) if evidence is not None else (),
                summary=summary_key(LEAKED, client, printable(request.label)),
            )
        )
    return findings


def find_use_after_close(rec: Recording) -> list[Finding]:
    """Every client with at least one use logically after it was closed."""
    clients = {info.serial: info for info in rec.clients}
    closed = {info.serial: info.closed_seq for info in rec.clients if info.closed_seq is not None}
    late: dict[int, list[Use]] = {}
    for use in rec.uses:
        closed_seq = closed.get(use.client)
        if closed_seq is not None and use.seq > closed_seq:
            late.setdefault(use.client, []).append(use)
    findings = []
    for serial in sorted(late):
        uses = sorted(late[serial], key=_seq)
        findings.append(
            Finding(
                kind=USED_AFTER_CLOSE,
                client=serial,
                requests=tuple(_unique(use.request for use in uses if use.request is not None)),
                uses=tuple(uses),
                summary=summary_key(USED_AFTER_CLOSE, clients[serial]),
            )
        )
    return findings


def find_cross_process(rec: Recording) -> list[Finding]:
    """Every client used in a process other than the one that created it (fork sharing).

    Evidence: the first use in each other process, in order of those processes' first use.
    """
    clients = {info.serial: info for info in rec.clients}
    first_per_pid: dict[int, dict[int, Use]] = {}
    for use in sorted(rec.uses, key=_seq):
        client = clients.get(use.client)
        if client is not None and use.pid != client.pid:
            first_per_pid.setdefault(use.client, {}).setdefault(use.pid, use)
    return [
        Finding(
            kind=CROSS_PROCESS,
            client=serial,
            requests=tuple(_unique(u.request for u in uses.values() if u.request is not None)),
            uses=tuple(uses.values()),
            summary=summary_key(CROSS_PROCESS, clients[serial]),
        )
        for serial, uses in sorted(first_per_pid.items())
    ]


def _unique(items: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(items))
