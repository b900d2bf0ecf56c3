"""Failure messages, the terminal summary and the JSON export, pinned to their full text."""

from __future__ import annotations

import dataclasses
import itertools
import json

from pytest_gcpfakes.usage._analysis import (
    find_cross_process,
    find_leaks,
    find_sharing,
    find_use_after_close,
)
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Recording, RequestInfo, Use
from pytest_gcpfakes.usage._report import (
    cross_process_message,
    leak_message,
    near_miss_note,
    sharing_message,
    summary_lines,
    to_json,
    use_after_close_message,
)

SERVER_THREAD = "Thread-{} (process_request_thread)"
DOCS = "Docs: https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html"


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
        thread = "MainThread" if request is None else self.requests[request].thread
        self.clients[serial] = ClientInfo(
            serial=serial,
            class_name=cls,
            created_at=CallSite("app.py", line, "make"),
            created_thread=thread,
            created_thread_ident=1,
            created_request=request,
            pid=7,
            created_seq=next(self.seq),
        )
        return serial

    def start(self, path: str = "/publish", *, thread: str = "", pid: int = 7) -> int:
        serial = len(self.requests) + 1
        self.requests[serial] = RequestInfo(
            serial=serial,
            method="GET",
            path=path,
            thread=thread or SERVER_THREAD.format(serial + 3),
            thread_ident=100 + serial,
            pid=pid,
            start_seq=next(self.seq),
        )
        return serial

    def end(self, request: int) -> None:
        self.requests[request] = dataclasses.replace(self.requests[request], end_seq=next(self.seq))

    def use(
        self,
        client: int,
        request: int | None,
        *,
        line: int = 31,
        method: str = "publish",
        pid: int | None = None,
    ) -> None:
        thread = self.requests[request].thread if request is not None else "MainThread"
        if pid is None:
            pid = self.requests[request].pid if request is not None else 7
        site = CallSite("app.py", line, "view")
        self.uses.append(Use(client, method, thread, 1, request, pid, site, next(self.seq)))

    def close(self, client: int, *, line: int | None = None) -> None:
        site = CallSite("app.py", line, "teardown") if line is not None else None
        self.clients[client] = dataclasses.replace(
            self.clients[client], closed_seq=next(self.seq), closed_at=site
        )

    def build(self) -> Recording:
        return Recording(
            tuple(self.clients.values()), tuple(self.requests.values()), tuple(self.uses)
        )


def _shared_publisher_and_passed_subscriber() -> Recording:
    """Three requests use a global publisher at once, a later one alone; a subscriber is passed
    from one live request to the next."""
    rec = Rec()
    publisher = rec.client()
    subscriber = rec.client("SubscriberClient", line=20)
    requests = [rec.start() for _ in range(3)]
    for request in requests:
        rec.use(publisher, request)
    for request in requests:
        rec.use(publisher, request, line=33)
    rec.use(subscriber, requests[0], line=40)
    rec.use(subscriber, requests[1], line=40)
    for request in requests:
        rec.end(request)
    later = rec.start("/later")
    rec.use(publisher, later, line=35)
    rec.end(later)
    return rec.build()


def test_sharing_message_lists_each_request_and_what_it_overlapped() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    failures, _ = find_sharing(rec)
    assert sharing_message(rec, failures, [], strict=False) == "\n".join(
        [
            "1 client was in use by concurrent requests.",
            "PublisherClient #1, created at app.py:12 in 'MainThread' (outside any request),"
            " used by:",
            "- GET /publish  thread='Thread-4 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /publish  thread='Thread-5 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /publish  thread='Thread-6 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /later  thread='Thread-7 (process_request_thread)'  at app.py:35",
            "summary: shared-client PublisherClient app.py:12",
            "Hint: create the client per request on flask.g and close it in teardown_appcontext"
            " (PublisherClient: stop() or `with`), or hand clients out from a pool, or allow it:"
            " assert_no_cross_request_sharing(allow=[PublisherClient]).",
            f"{DOCS}#sharing",
        ]
    )


def test_sharing_message_appends_near_misses_as_a_note() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    failures, near = find_sharing(rec)
    message = sharing_message(rec, failures, near, strict=False)
    head, note = message.split("\nNote: ")
    assert head == sharing_message(rec, failures, [], strict=False)
    assert "Note: " + note == near_miss_note(rec, near)


def test_near_miss_note_names_the_requests_that_were_live_together() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    _, near = find_sharing(rec)
    assert near_miss_note(rec, near) == "\n".join(
        [
            "Note: 1 client was passed between requests that were live at the same time, but"
            " never in use by two at once (a near miss, not a failure).",
            "SubscriberClient #2, created at app.py:20 in 'MainThread' (outside any request),"
            " used by:",
            "- GET /publish  thread='Thread-4 (process_request_thread)'  at app.py:40"
            "  live alongside 1 other",
            "- GET /publish  thread='Thread-5 (process_request_thread)'  at app.py:40"
            "  live alongside 1 other",
            "summary: near-miss SubscriberClient app.py:20",
            "Hint: if these requests can use one client at once in production, make the overlap"
            " certain in the test with rendezvous() or a threading.Barrier.",
        ]
    )


def test_strict_sharing_message_counts_sequential_reuse_too() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    failures, near = find_sharing(rec, strict=True)
    assert near == []
    assert sharing_message(rec, failures, near, strict=True) == "\n".join(
        [
            "2 clients were used by more than one request (strict=True).",
            "PublisherClient #1, created at app.py:12 in 'MainThread' (outside any request),"
            " used by:",
            "- GET /publish  thread='Thread-4 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /publish  thread='Thread-5 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /publish  thread='Thread-6 (process_request_thread)'  at app.py:31"
            "  at once with 2 others",
            "- GET /later  thread='Thread-7 (process_request_thread)'  at app.py:35",
            "summary: shared-client PublisherClient app.py:12",
            "SubscriberClient #2, created at app.py:20 in 'MainThread' (outside any request),"
            " used by:",
            "- GET /publish  thread='Thread-4 (process_request_thread)'  at app.py:40",
            "- GET /publish  thread='Thread-5 (process_request_thread)'  at app.py:40",
            "summary: shared-sequentially SubscriberClient app.py:20",
            "Hint: strict=True wants one client per request: create the client per request on"
            " flask.g and close it in teardown_appcontext (PublisherClient: stop() or `with`;"
            " SubscriberClient: close()), or allow it:"
            " assert_no_cross_request_sharing(allow=[PublisherClient, SubscriberClient],"
            " strict=True).",
            f"{DOCS}#sharing",
        ]
    )


def test_leak_message_says_whether_the_client_was_closed_too_late() -> None:
    rec = Rec()
    upload = rec.start("/upload")
    forgotten = rec.client("storage.Client", line=40, request=upload)
    rec.use(forgotten, upload, line=41, method="bucket")
    rec.end(upload)
    report = rec.start("/report")
    late = rec.client("SubscriberClient", line=50, request=report)
    rec.end(report)
    rec.close(late, line=60)
    built = rec.build()
    assert leak_message(built, find_leaks(built)) == "\n".join(
        [
            "2 clients were leaked: created in a request, not closed by its end, and not used"
            " by any later request.",
            "storage.Client #1, created at app.py:40 in 'Thread-4 (process_request_thread)'"
            " during GET /upload, never closed:",
            "- GET /upload  thread='Thread-4 (process_request_thread)'  last used it at app.py:41",
            "summary: leaked-client storage.Client app.py:40 GET /upload",
            "SubscriberClient #2, created at app.py:50 in 'Thread-5 (process_request_thread)'"
            " during GET /report, closed at app.py:60 only after the request ended:",
            "- GET /report  thread='Thread-5 (process_request_thread)'  never used it",
            "summary: leaked-client SubscriberClient app.py:50 GET /report",
            "Hint: close it when its request ends: keep it on flask.g and close it in"
            " teardown_appcontext (storage.Client: close(); SubscriberClient: close()), or keep"
            " it for later requests in a pool.",
            f"{DOCS}#leaks",
        ]
    )


def test_use_after_close_message_lists_each_late_use() -> None:
    rec = Rec()
    subscriber = rec.client("SubscriberClient", line=30)
    rec.use(subscriber, None, line=31, method="pull")
    rec.close(subscriber, line=35)
    pull = rec.start("/pull")
    rec.use(subscriber, pull, line=32, method="pull")
    rec.end(pull)
    rec.use(subscriber, None, line=33, method="acknowledge")
    built = rec.build()
    assert use_after_close_message(built, find_use_after_close(built)) == "\n".join(
        [
            "1 client was used after being closed.",
            "SubscriberClient #1, created at app.py:30 in 'MainThread' (outside any request),"
            " closed at app.py:35, then used by:",
            "- GET /pull  thread='Thread-4 (process_request_thread)'  at app.py:32  pull()",
            "- (outside any request)  thread='MainThread'  at app.py:33  acknowledge()",
            "summary: use-after-close SubscriberClient app.py:30",
            "Hint: close a client only when nothing will use it again (a per-request client in"
            " teardown_appcontext, which runs after the view and teardown_request), or create a"
            " new one after close().",
            f"{DOCS}#use-after-close",
        ]
    )


def test_cross_process_message_names_every_process_that_used_the_client() -> None:
    rec = Rec()
    publisher = rec.client()  # built in the master (pid 7), as with gunicorn --preload
    rec.use(publisher, None, line=14, method="topic_path")
    first = rec.start("/publish", thread="MainThread", pid=41)
    second = rec.start("/publish", thread="MainThread", pid=42)
    rec.use(publisher, first)
    rec.use(publisher, second)
    rec.use(publisher, first, line=33)  # a second use in pid 41 is no new evidence
    built = rec.build()
    assert cross_process_message(built, find_cross_process(built)) == "\n".join(
        [
            "1 client was used in a process other than the one that created it.",
            "PublisherClient #1, created at app.py:12 in 'MainThread' (outside any request),"
            " pid 7, then used in:",
            "- pid 41  GET /publish  thread='MainThread'  at app.py:31  publish()",
            "- pid 42  GET /publish  thread='MainThread'  at app.py:31  publish()",
            "summary: cross-process PublisherClient app.py:12",
            "Hint: build clients after the fork: in gunicorn's post_fork or post_worker_init"
            " hook, or lazily once per worker process; with --preload keep no module-level"
            " clients (a gRPC client does not survive fork(), and forked copies share one"
            " connection pool).",
            f"{DOCS}#processes",
        ]
    )


def test_a_client_used_only_in_the_process_that_made_it_is_not_cross_process() -> None:
    rec = Rec()
    worker = rec.start("/publish", thread="MainThread", pid=41)
    publisher = rec.client(request=None)
    rec.use(publisher, None)
    made_in_worker = rec.client(line=20)
    built = rec.build()
    per_worker = dataclasses.replace(built.clients[1], pid=41)
    built = dataclasses.replace(built, clients=(built.clients[0], per_worker))
    rec.use(made_in_worker, worker)
    built = dataclasses.replace(built, uses=tuple(rec.uses))
    assert find_cross_process(built) == []


def test_a_client_used_by_many_requests_lists_ten_of_them() -> None:
    rec = Rec()
    client = rec.client()
    requests = [rec.start() for _ in range(15)]
    for request in requests:
        rec.use(client, request)
    rec.use(client, requests[0])
    built = rec.build()
    failures, _ = find_sharing(built)
    lines = sharing_message(built, failures, [], strict=False).splitlines()
    assert lines[1:3] + lines[11:14] == [
        "PublisherClient #1, created at app.py:12 in 'MainThread' (outside any request), used by:",
        "- GET /publish  thread='Thread-4 (process_request_thread)'  at app.py:31"
        "  at once with 14 others",
        "- GET /publish  thread='Thread-13 (process_request_thread)'  at app.py:31"
        "  at once with 1 other",
        "- … and 5 more",
        "summary: shared-client PublisherClient app.py:12",
    ]


def test_a_report_names_twenty_clients_and_counts_the_rest() -> None:
    rec = Rec()
    clients = [rec.client(line=line) for line in range(1, 26)]
    a, b = rec.start(), rec.start()
    for client in clients:
        rec.use(client, a)
        rec.use(client, b)
        rec.use(client, a)
    built = rec.build()
    failures, _ = find_sharing(built)
    lines = sharing_message(built, failures, [], strict=False).splitlines()
    assert lines[0] == "25 clients were in use by concurrent requests."
    assert sum(line.startswith("summary: ") for line in lines) == 20
    assert lines[-3] == "… and 5 more clients"
    assert lines[-2].endswith("assert_no_cross_request_sharing(allow=[PublisherClient]).")


def test_thread_names_and_paths_cannot_forge_report_lines() -> None:
    rec = Rec()
    client = rec.client()
    a = rec.start("/a\nsummary: forged", thread="evil\nthread")
    b = rec.start()
    rec.use(client, a)
    rec.use(client, b)
    rec.use(client, a)
    built = rec.build()
    failures, _ = find_sharing(built)
    lines = sharing_message(built, failures, [], strict=False).splitlines()
    assert lines[2] == (
        "- 'GET /a\\nsummary: forged'  thread='evil\\nthread'  at app.py:31  at once with 1 other"
    )
    assert sum(line.startswith("summary: ") for line in lines) == 1


def test_summary_lines_give_each_client_its_requests_threads_and_verdicts() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    failures, near = find_sharing(rec)
    idle = dataclasses.replace(rec.clients[0], serial=3, class_name="storage.Client")
    extended = dataclasses.replace(rec, clients=(*rec.clients, idle))
    assert summary_lines(extended, [*failures, *near]) == [
        "PublisherClient #1  created at app.py:12  4 requests  threads"
        " 'Thread-4 (process_request_thread)', 'Thread-5 (process_request_thread)',"
        " 'Thread-6 (process_request_thread)' … and 1 more  shared",
        "SubscriberClient #2  created at app.py:20  2 requests  threads"
        " 'Thread-4 (process_request_thread)', 'Thread-5 (process_request_thread)'  near miss",
        "storage.Client #3  created at app.py:12  0 requests  unused  ok",
    ]


def test_json_export_round_trips_as_version_1() -> None:
    rec = _shared_publisher_and_passed_subscriber()
    failures, near = find_sharing(rec)
    document = to_json(rec, [*failures, *near])
    assert json.loads(json.dumps(document)) == document
    assert document["version"] == 1
    assert [client["label"] for client in document["clients"]] == [  # type: ignore[attr-defined]
        "PublisherClient #1",
        "SubscriberClient #2",
    ]
    assert document["findings"] == [
        {
            "kind": "shared",
            "client": 1,
            "requests": [1, 2, 3],
            "uses": [6, 7, 8, 9, 10, 11],
            "summary": "shared-client PublisherClient app.py:12",
        },
        {
            "kind": "near-miss",
            "client": 2,
            "requests": [1, 2],
            "uses": [12, 13],
            "summary": "near-miss SubscriberClient app.py:20",
        },
    ]
    assert document["uses"][0] == {  # type: ignore[index]
        "seq": 6,
        "end_seq": None,
        "client": 1,
        "method": "publish",
        "thread": "Thread-4 (process_request_thread)",
        "thread_ident": 1,
        "request": 1,
        "pid": 7,
        "site": {"filename": "app.py", "lineno": 31, "function": "view", "display": "app.py:31"},
    }
