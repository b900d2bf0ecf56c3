"""The sharing, leak and use-after-close verdicts, on recordings built by hand."""

from __future__ import annotations

import dataclasses
import itertools
import random

from pytest_gcpfakes.usage._analysis import find_leaks, find_sharing, find_use_after_close
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Finding, Recording, RequestInfo, Use


class Rec:
    """A recording written in logical order: each call is the next tick of the clock."""

    def __init__(self) -> None:
        self.seq = itertools.count(1)
        self.clients: dict[int, ClientInfo] = {}
        self.requests: dict[int, RequestInfo] = {}
        self.uses: list[Use] = []

    def client(
        self, cls: str = "PublisherClient", *, line: int = 12, request: int | None = None
    ) -> int:
        serial = len(self.clients) + 1
        self.clients[serial] = ClientInfo(
            serial=serial,
            class_name=cls,
            created_at=CallSite("app.py", line, "make"),
            created_thread="MainThread",
            created_thread_ident=1,
            created_request=request,
            pid=7,
            created_seq=next(self.seq),
        )
        return serial

    def start(self, path: str = "/publish", *, thread: str = "") -> int:
        serial = len(self.requests) + 1
        self.requests[serial] = RequestInfo(
            serial, "GET", path, thread or f"Thread-{serial}", 100 + serial, 7, next(self.seq)
        )
        return serial

    def end(self, request: int) -> None:
        self.requests[request] = dataclasses.replace(self.requests[request], end_seq=next(self.seq))

    def use(self, client: int, request: int | None, *, line: int = 31) -> None:
        thread = self.requests[request].thread if request is not None else "MainThread"
        site = CallSite("app.py", line, "view")
        self.uses.append(Use(client, "publish", thread, 1, request, 7, site, next(self.seq)))

    def close(self, client: int) -> None:
        self.clients[client] = dataclasses.replace(self.clients[client], closed_seq=next(self.seq))

    def build(self) -> Recording:
        return Recording(
            tuple(self.clients.values()), tuple(self.requests.values()), tuple(self.uses)
        )


def _kinds(findings: list[Finding]) -> list[tuple[str, int, tuple[int, ...]]]:
    return [(finding.kind, finding.client, finding.requests) for finding in findings]


def test_overlapping_windows_fail() -> None:
    rec = Rec()
    client = rec.client()
    a, b = rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, a)
    rec.use(client, b)
    failures, near = find_sharing(rec.build())
    assert _kinds(failures) == [("shared", client, (a, b))]
    assert near == []


def test_one_use_inside_another_requests_window_fails() -> None:
    rec = Rec()
    client = rec.client()
    a, b = rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, a)
    failures, _ = find_sharing(rec.build())
    assert _kinds(failures) == [("shared", client, (a, b))]


def test_touching_windows_of_live_requests_are_a_near_miss() -> None:
    rec = Rec()
    client = rec.client()
    a, b = rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, a)
    rec.use(client, b)  # the next tick after a's last use: touching, not overlapping
    rec.use(client, b)
    failures, near = find_sharing(rec.build())
    assert failures == []
    assert _kinds(near) == [("near-miss", client, (a, b))]


def test_sequential_requests_sharing_a_client_pass() -> None:
    rec = Rec()
    client = rec.client()
    for _ in range(3):
        request = rec.start()
        rec.use(client, request)
        rec.use(client, request)
        rec.end(request)
    assert find_sharing(rec.build()) == ([], [])


def test_sequential_reuse_fails_when_strict() -> None:
    rec = Rec()
    client = rec.client()
    a = rec.start()
    rec.use(client, a)
    rec.end(a)
    b = rec.start()
    rec.use(client, b)
    rec.end(b)
    failures, near = find_sharing(rec.build(), strict=True)
    assert _kinds(failures) == [("shared-sequentially", client, (a, b))]
    assert near == []


def test_concurrent_sharing_stays_shared_when_strict() -> None:
    rec = Rec()
    client = rec.client()
    a, b = rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, a)
    failures, _ = find_sharing(rec.build(), strict=True)
    assert _kinds(failures) == [("shared", client, (a, b))]


def test_one_request_per_client_passes_when_strict() -> None:
    rec = Rec()
    for _ in range(3):
        request = rec.start()
        rec.use(rec.client(), request)
    assert find_sharing(rec.build(), strict=True) == ([], [])


def test_request_less_uses_never_count() -> None:
    rec = Rec()
    client = rec.client()
    a = rec.start()
    rec.use(client, a)
    rec.use(client, None)  # a subscriber callback, the batch commit thread, the test body
    rec.use(client, a)
    rec.end(a)
    rec.use(client, None)
    assert find_sharing(rec.build(), strict=True) == ([], [])


def test_allowed_clients_are_skipped() -> None:
    rec = Rec()
    allowed, judged = rec.client(), rec.client(line=13)
    a, b = rec.start(), rec.start()
    for client in (allowed, judged):
        rec.use(client, a)
        rec.use(client, b)
        rec.use(client, a)
    failures, _ = find_sharing(rec.build(), allow=frozenset({allowed}))
    assert _kinds(failures) == [("shared", judged, (a, b))]


def test_a_shared_finding_lists_only_the_requests_that_overlapped() -> None:
    rec = Rec()
    client = rec.client()
    early = rec.start()
    rec.use(client, early)
    rec.end(early)
    a, b, c = rec.start(), rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, c)
    rec.use(client, a)
    failures, near = find_sharing(rec.build())
    assert _kinds(failures) == [("shared", client, (a, b, c))]
    assert near == []  # b and c touched, but the client already fails


def test_a_request_still_running_overlaps_every_later_one() -> None:
    rec = Rec()
    client = rec.client()
    running = rec.start()
    rec.use(client, running)
    later = rec.start()
    rec.use(client, later)
    rec.end(later)
    _, near = find_sharing(rec.build())
    assert _kinds(near) == [("near-miss", client, (running, later))]


def test_sharing_evidence_is_each_windows_first_and_last_use() -> None:
    rec = Rec()
    client = rec.client()
    a, b = rec.start(), rec.start()
    rec.use(client, a, line=1)
    rec.use(client, b, line=2)
    rec.use(client, a, line=3)
    rec.use(client, a, line=4)
    (finding,), _ = find_sharing(rec.build())
    assert [use.site.lineno for use in finding.uses] == [1, 2, 4]


def test_sharing_summary_names_class_and_creation_site_only() -> None:
    rec = Rec()
    client = rec.client("storage.Client", line=40)
    a, b = rec.start(), rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, a)
    (finding,), _ = find_sharing(rec.build())
    assert finding.summary == "shared-client storage.Client app.py:40"


def _pairwise(rec: Recording, strict: bool) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """The definition, quadratically: (client, request) pairs failing, and near-missing."""
    windows: dict[tuple[int, int], list[int]] = {}
    for use in rec.uses:
        if use.request is not None:
            windows.setdefault((use.client, use.request), []).append(use.seq)
    failing, near = set(), set()
    for (client, r1), seqs1 in windows.items():
        for (other_client, r2), seqs2 in windows.items():
            if other_client != client or r1 == r2:
                continue
            if min(seqs1) <= max(seqs2) and min(seqs2) <= max(seqs1):
                failing.add((client, r1))
            elif rec.request(r1).overlaps(rec.request(r2)):
                near.add((client, r1))
    failing_clients = {client for client, _ in failing}
    if strict:
        by_client: dict[int, set[int]] = {}
        for client, request in windows:
            by_client.setdefault(client, set()).add(request)
        failing |= {
            (client, request)
            for client, requests in by_client.items()
            if len(requests) > 1 and client not in failing_clients
            for request in requests
        }
    failing_clients = {client for client, _ in failing}
    return failing, {pair for pair in near if pair[0] not in failing_clients}


def test_verdicts_match_the_pairwise_definition_on_random_recordings() -> None:
    rng = random.Random(5)
    for _ in range(200):
        rec = Rec()
        clients = [rec.client() for _ in range(rng.randint(1, 3))]
        live: list[int] = []
        for _ in range(rng.randint(1, 25)):
            roll = rng.random()
            if roll < 0.25 or not live:
                live.append(rec.start())
            elif roll < 0.4:
                rec.end(live.pop(rng.randrange(len(live))))
            else:
                rec.use(rng.choice(clients), rng.choice([*live, None]))
        built = rec.build()
        for strict in (False, True):
            failures, near = find_sharing(built, strict=strict)
            got_failing = {(f.client, r) for f in failures for r in f.requests}
            got_near = {(f.client, r) for f in near for r in f.requests}
            assert (got_failing, got_near) == _pairwise(built, strict)


def test_client_left_open_by_its_request_leaks() -> None:
    rec = Rec()
    request = rec.start("/upload")
    client = rec.client("storage.Client", line=40, request=request)
    rec.use(client, request)
    rec.end(request)
    (finding,) = find_leaks(rec.build())
    assert _kinds([finding]) == [("leaked", client, (request,))]
    assert finding.summary == "leaked-client storage.Client app.py:40 GET /upload"


def test_client_closed_before_its_request_ends_does_not_leak() -> None:
    rec = Rec()
    request = rec.start()
    client = rec.client(request=request)
    rec.use(client, request)
    rec.close(client)
    rec.end(request)
    assert find_leaks(rec.build()) == []


def test_client_closed_only_after_its_request_ended_leaks() -> None:
    rec = Rec()
    request = rec.start()
    client = rec.client(request=request)
    rec.end(request)
    rec.close(client)
    assert _kinds(find_leaks(rec.build())) == [("leaked", client, (request,))]


def test_client_reused_by_a_later_request_is_not_a_leak() -> None:
    rec = Rec()
    first = rec.start()
    client = rec.client(request=first)  # a lazy global, or a lazily filled pool
    rec.use(client, first)
    rec.end(first)
    later = rec.start()
    rec.use(client, later)
    rec.end(later)
    assert find_leaks(rec.build()) == []


def test_a_later_use_outside_any_request_is_not_reuse() -> None:
    rec = Rec()
    request = rec.start()
    client = rec.client(request=request)
    rec.end(request)
    rec.use(client, None)
    assert _kinds(find_leaks(rec.build())) == [("leaked", client, (request,))]


def test_client_created_outside_any_request_never_leaks() -> None:
    rec = Rec()
    client = rec.client()
    request = rec.start()
    rec.use(client, request)
    rec.end(request)
    assert find_leaks(rec.build()) == []


def test_a_request_still_running_cannot_leak_yet() -> None:
    rec = Rec()
    request = rec.start()
    rec.client(request=request)
    assert find_leaks(rec.build()) == []


def test_use_after_close_is_reported_with_each_late_use() -> None:
    rec = Rec()
    client = rec.client("SubscriberClient", line=30)
    request = rec.start("/pull")
    rec.use(client, request, line=31)
    rec.close(client)
    rec.use(client, request, line=32)
    rec.use(client, None, line=33)
    (finding,) = find_use_after_close(rec.build())
    assert _kinds([finding]) == [("used-after-close", client, (request,))]
    assert [use.site.lineno for use in finding.uses] == [32, 33]
    assert finding.summary == "use-after-close SubscriberClient app.py:30"


def test_uses_before_close_are_fine() -> None:
    rec = Rec()
    client = rec.client()
    rec.use(client, None)
    rec.close(client)
    rec.client()
    rec.use(2, None)  # another client, never closed
    assert find_use_after_close(rec.build()) == []
