"""Verdicts over a ``Recording``: sharing, leaks, use after close, processes. Pure, no state.

The sharing check works on *windows* (DESIGN §4): the window of request R on client C runs from
R's first to R's last use of C, in logical order (``seq``). Two requests share C concurrently when
their windows on C overlap (closed intervals: a use inside another request's window counts).
Lifetimes of requests decide near misses: lifetimes overlapped, windows did not.

Each check is one pass over the uses, which a recording keeps in logical order (a recording
that is not, hand-made or merged, is sorted first). Only the windows are sorted, a few ints
each, so that the cost per use stays flat up to a million uses (docs/performance.md). The pass
touches only the state of the requests running at that moment, which keeps it in the CPU cache
however long the recording is. Uses made outside any request (library threads, subscriber
callbacks, import time, the test body) never count towards sharing or reuse.

Evidence in ``Finding.uses``: for sharing verdicts the first and last use of each request
involved (the ends of its window); for leaks the creating request's last use, if any; for use
after close every use after the close.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
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
    gathered, counts = _window_counts(rec, allow)
    return {
        client: [
            WindowStats(
                Window(
                    gathered.requests[i],
                    gathered.firsts[i],
                    gathered.lasts[i],
                    gathered.counts[i],
                    gathered.stops[i],
                ),
                both,
                lived - both,
            )
            for i, both, lived in zip(indices, at_once, alive, strict=True)
        ]
        for client, (indices, at_once, alive) in counts.items()
    }


class _Gathered:
    """Every window of a recording, as columns indexed by window number (see ``_windows``).

    Columns, not an object or a list per window: a few big lists and dicts of ints give
    the garbage collector nothing to walk, where a list per window (tens of thousands in a
    big recording) set off full collections of the whole heap in the middle of the pass.
    """

    def __init__(self) -> None:
        self.requests: list[int] = []
        self.firsts: list[Use] = []
        self.lasts: list[Use] = []
        self.counts: list[int] = []
        self.stops: list[int] = []  # the latest return among the window's calls
        self.starts: list[int] = []  # the first use's seq
        self.last_seqs: list[int] = []
        self.by_client: dict[int, list[int]] = {}  # window numbers, by first use


def _window_counts(
    rec: Recording, allow: frozenset[int]
) -> tuple[_Gathered, dict[int, tuple[list[int], list[int], list[int]]]]:
    """The gathered windows, and per client: its window numbers, how many other windows
    overlap each, and how many other requests were alive beside each window's request.

    The counts work on plain ints: the uses the windows point to lie all over a big
    recording's heap, and reading them there missed the CPU cache on every window.
    """
    gathered = _windows(rec.uses, allow)
    lifetimes = _lifetimes(rec.requests)
    result = {}
    for client, indices in gathered.by_client.items():
        starts = [gathered.starts[i] for i in indices]
        stops = [gathered.stops[i] for i in indices]
        requests = [gathered.requests[i] for i in indices]
        result[client] = (
            indices,
            _window_overlaps(starts, stops),
            _lifetime_overlaps(requests, starts, stops, lifetimes),
        )
    return gathered, result


def _windows(uses: Sequence[Use], allow: frozenset[int]) -> _Gathered:
    """Every request's window on every client, numbered in order of first use.

    One pass in logical order. The window of a use is found by request, then by client:
    few requests run at any moment, so what a use touches stays small and hot however long
    the recording is (one dict keyed by ``(client, request)`` over a million uses missed
    the CPU cache on most lookups, and cost twice as much per use as over ten thousand).
    """
    gathered = _Gathered()
    requests = gathered.requests
    firsts = gathered.firsts
    lasts = gathered.lasts
    counts = gathered.counts
    stops = gathered.stops
    starts = gathered.starts
    last_seqs = gathered.last_seqs
    by_client = gathered.by_client
    by_request: dict[int, dict[int, int]] = {}  # request -> client -> window number
    previous: float = -math.inf
    current_request: int | None = None
    current: dict[int, int] = {}
    for use in uses:
        seq = use.seq
        if seq < previous:
            # Recorded uses come in order; hand-made and merged recordings need not.
            return _windows(sorted(uses, key=_seq), allow)
        previous = seq
        request = use.request
        if request is None or (allow and use.client in allow):
            continue
        client = use.client
        end = use.end_seq
        if end is None:
            end = seq  # Use.end, inlined: this runs once per use
        if request != current_request:
            current_request = request
            found = by_request.get(request)
            if found is None:
                found = by_request[request] = {}
            current = found
        index = current.get(client)
        if index is None:
            index = current[client] = len(starts)
            requests.append(request)
            firsts.append(use)
            lasts.append(use)
            counts.append(1)
            stops.append(end)
            starts.append(seq)
            last_seqs.append(seq)
            numbers = by_client.get(client)
            if numbers is None:
                by_client[client] = [index]
            else:
                numbers.append(index)
        else:
            lasts[index] = use
            last_seqs[index] = seq
            counts[index] += 1
            if end > stops[index]:  # a call is in use until it returns
                stops[index] = end
    return gathered


def _seq(use: Use) -> int:
    return use.seq


def _lifetimes(requests: Iterable[RequestInfo]) -> dict[int, tuple[int, float]]:
    """Each request's lifetime as ints, a running request's to infinity."""
    return {
        info.serial: (info.start_seq, math.inf if info.end_seq is None else info.end_seq)
        for info in requests
    }


def _window_overlaps(starts: list[int], stops: list[int]) -> list[int]:
    """For each window, how many of the others overlap it (closed intervals), by bisection.

    ``starts`` come in order already (windows are listed by first use), so only the stops
    are sorted: plain ints, one per window, which costs far less than the pass over the uses.
    """
    ends = sorted(stops)
    total = len(starts)
    last = total - 1
    return [
        last - bisect_left(ends, start) - (total - bisect_right(starts, stop))
        for start, stop in zip(starts, stops, strict=True)
    ]


def _lifetime_overlaps(
    requests: list[int],
    starts: list[int],
    stops: list[int],
    lifetimes: dict[int, tuple[int, float]],
) -> list[int]:
    """For each window's request, how many of the others were alive at the same time.

    A lifetime is stretched to cover its window, so that overlapping windows always imply
    overlapping lifetimes and ``near = alive - at_once`` never goes negative, even for a
    recording whose uses fall outside their request's recorded start and end.
    """
    span_starts: list[float] = []
    span_ends: list[float] = []
    for request, start, stop in zip(requests, starts, stops, strict=True):
        end: float = stop + 1
        life = lifetimes.get(request)
        if life is not None:
            if life[0] < start:
                start = life[0]
            if life[1] > end:
                end = life[1]
        span_starts.append(start)
        span_ends.append(end)
    ordered_starts = sorted(span_starts)
    ordered_ends = sorted(span_ends)
    last = len(span_starts) - 1
    return [  # half-open, as RequestInfo.overlaps
        last - bisect_right(ordered_ends, start) - (last + 1 - bisect_left(ordered_starts, end))
        for start, end in zip(span_starts, span_ends, strict=True)
    ]


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
    gathered, counts = _window_counts(rec, allow)
    for serial, (indices, at_once, alive) in sorted(counts.items()):
        client = clients.get(serial)
        concurrent = [i for i, both in zip(indices, at_once, strict=True) if both]
        if concurrent:
            failures.append(_sharing_finding(SHARED, serial, client, gathered, concurrent))
        elif strict and len(indices) > 1:
            failures.append(
                _sharing_finding(SHARED_SEQUENTIALLY, serial, client, gathered, indices)
            )
        else:
            near = [
                i for i, both, lived in zip(indices, at_once, alive, strict=True) if lived - both
            ]
            if near:
                near_misses.append(_sharing_finding(NEAR_MISS, serial, client, gathered, near))
    return failures, near_misses


def _sharing_finding(
    kind: str, serial: int, client: ClientInfo | None, gathered: _Gathered, windows: list[int]
) -> Finding:
    """The Finding for ``windows`` (numbers in ``gathered``): each one's first and last use
    as evidence, in logical order.

    The order comes from the seqs kept in the windows, so that each use is read once, when
    the Finding takes it, not again by a sort key.
    """
    firsts, lasts = gathered.firsts, gathered.lasts
    starts, last_seqs = gathered.starts, gathered.last_seqs
    evidence: list[Use] = []
    seqs: list[int] = []
    for i in windows:
        first = firsts[i]
        last = lasts[i]
        evidence.append(first)
        seqs.append(starts[i])
        if last is not first:
            evidence.append(last)
            seqs.append(last_seqs[i])
    order = sorted(range(len(seqs)), key=seqs.__getitem__)  # stable, as sorting the uses
    return Finding(
        kind=kind,
        client=serial,
        requests=tuple(gathered.requests[i] for i in windows),
        uses=tuple([evidence[index] for index in order]),
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
