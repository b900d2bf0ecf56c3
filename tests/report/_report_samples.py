"""Report documents of any size, built from the recorder's own model and JSON export, for
the tests that bound the page's size (here and in tests/browser), and the page parsed."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pytest_gcpfakes.report._data import ReportData
from pytest_gcpfakes.usage import _analysis, _report
from pytest_gcpfakes.usage._model import CallSite, ClientInfo, Recording, RequestInfo, Use

# The Flask app of tests/usage (one global client that two requests use at once, a barrier
# making it certain) and a test module with one test of each outcome, run by pytester here
# and in tests/browser.
sys.path.insert(0, str(Path(__file__).parent.parent / "usage"))
from test_plugin_checks import APP as APP

TESTS = """
import pytest
from google.cloud import storage
from app import two_at_once


def test_shared(fake_pubsub):
    fake_pubsub.create_topic("orders")
    two_at_once()


def test_storage(fake_storage):
    client = storage.Client()
    client.create_bucket("uploads")
    client.close()


def test_without_fakes():
    pass


def test_fails(fake_pubsub):
    assert 1 == 2


@pytest.mark.skip(reason="not today")
def test_skipped(fake_pubsub):
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_xfailed(fake_pubsub):
    assert False


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")


def test_teardown_error(fake_pubsub, broken_teardown):
    pass
"""


SITE = CallSite("app.py", 31, "orders")


def recording(*, requests: int, uses_per_request: int, clients: int = 1) -> Recording:
    """``requests`` requests, in pairs whose uses interleave (so each pair shares every
    client at once), each using the clients in turn."""
    pid = 4242
    infos = tuple(
        ClientInfo(
            serial=serial,
            class_name="PublisherClient",
            created_at=CallSite("app.py", 12, "<module>"),
            created_thread="MainThread",
            created_thread_ident=1,
            created_request=None,
            pid=pid,
            created_seq=serial,
        )
        for serial in range(1, clients + 1)
    )
    seq = clients + 1
    reqs, uses = [], []
    for first in range(1, requests + 1, 2):
        pair = [number for number in (first, first + 1) if number <= requests]
        start = seq
        for index in range(uses_per_request):
            for number in pair:
                seq += 1
                thread = f"Thread-{number} (process_request_thread)"
                client = infos[index % clients].serial
                uses.append(Use(client, "publish", thread, number, number, pid, SITE, seq, seq))
        seq += 1
        for number in pair:
            thread = f"Thread-{number} (process_request_thread)"
            reqs.append(RequestInfo(number, "GET", "/orders", thread, number, pid, start, seq))
    return Recording(clients=infos, requests=tuple(reqs), uses=tuple(uses))


def usage(rec: Recording) -> dict[str, Any]:
    """What ``gcp_usage.to_dict()`` gives for ``rec`` (sharing verdicts only)."""
    failures, near = _analysis.find_sharing(rec)
    return _report.to_json(rec, [*failures, *near])


def document(
    tests: int, *, requests: int = 3, uses_per_request: int = 4, big: int | None = None
) -> dict[str, Any]:
    """A report of ``tests`` tests; test number ``big`` (if any) has 500 requests and
    5,000 uses over 4 clients, the rest ``requests`` requests each."""
    data = ReportData()
    small = usage(recording(requests=requests, uses_per_request=uses_per_request))
    for number in range(tests):
        nodeid = f"tests/test_orders.py::test_orders[{number}]"
        outcome = "failed" if number % 7 == 3 else "passed"
        if number == big:
            payload = usage(recording(requests=500, uses_per_request=10, clients=4))
        else:
            payload = small
        data.add(nodeid, "setup", "passed", 0.001)
        data.add(nodeid, "call", outcome, 0.01)
        data.add(nodeid, "teardown", "passed", 0.001, usage=payload)
    return data.document()


class Page(HTMLParser):
    """The parts of the page the tests read: every element, the scripts, the totals line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "input", "br", "link", "img"):
            self._open.append((tag, dict(attrs), []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, attrs, parts = self._open.pop()
            text = "".join(parts)
            if self._open:
                self._open[-1][2].append(text)
            if name == "script":
                self.scripts.append((attrs, text))
            if attrs.get("id"):
                self.texts[str(attrs["id"])] = text
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def data(self) -> dict[str, Any]:
        (text,) = [text for attrs, text in self.scripts if attrs.get("id") == "gcpfakes-data"]
        document: dict[str, Any] = json.loads(text)
        return document
