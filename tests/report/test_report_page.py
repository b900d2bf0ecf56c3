"""The report page and document without pytester: size bounds, escaping, verdicts, overlaps."""

from __future__ import annotations

import json

import pytest
from _report_samples import Page, document, recording, usage

from pytest_gcpfakes.report._data import ReportData, flagged_and_overlapping, phase_outcome
from pytest_gcpfakes.report._html import render


def test_page_of_a_1000_test_report_is_a_small_dom_and_the_data() -> None:
    doc = document(1000, big=1)
    page = Page(render(doc))
    # The page draws one page of tests and one test at a time in the browser: before the
    # script runs it is a constant skeleton, whatever the number of tests.
    assert len(page.tags) < 100
    assert len(Page(render(document(10))).tags) == len(page.tags)
    assert page.data() == json.loads(json.dumps(doc))
    assert len(page.data()["tests"]) == 1000


def test_text_that_looks_like_markup_stays_data() -> None:
    data = ReportData()
    nodeid = "t.py::test[</script><script>alert(1)</script><!--]"
    data.add(nodeid, "call", "passed", 0.1)
    page = Page(render(data.document()))
    assert len(page.scripts) == 2
    assert page.data()["tests"][0]["nodeid"] == nodeid


@pytest.mark.parametrize(
    ("when", "outcome", "wasxfail", "verdict"),
    [
        ("setup", "passed", False, "passed"),
        ("setup", "failed", False, "error"),
        ("setup", "skipped", False, "skipped"),
        ("call", "failed", False, "failed"),
        ("call", "skipped", True, "xfailed"),
        ("call", "passed", True, "xpassed"),
        ("teardown", "failed", False, "error"),
    ],
)
def test_phase_outcome_uses_pytest_words(
    when: str, outcome: str, wasxfail: bool, verdict: str
) -> None:
    assert phase_outcome(when, outcome, wasxfail) == verdict


def test_a_failed_test_with_a_teardown_error_stays_failed_and_a_skip_is_not_undone() -> None:
    data = ReportData()
    for phase, outcome in (("setup", "passed"), ("call", "failed"), ("teardown", "failed")):
        data.add("t.py::failed", phase, outcome, 0.1)
    for phase, outcome in (("setup", "skipped"), ("teardown", "passed")):
        data.add("t.py::skipped", phase, outcome, 0.1)
    doc = data.document()
    assert [(t["outcome"], t["duration"]) for t in doc["tests"]] == [
        ("failed", 0.3),
        ("skipped", 0.2),
    ]
    assert doc["totals"] == {"failed": 1, "skipped": 1}


def test_overlapping_uses_are_those_inside_another_requests_window() -> None:
    # Requests 1 and 2 interleave: 1 uses at seq 3, 5; 2 at 4, 6. Request 1's first use
    # (3) is before 2's window opens and 2's last (6) after 1's closed.
    payload = usage(recording(requests=2, uses_per_request=2))
    seqs = [use["seq"] for use in payload["uses"]]
    assert seqs == [3, 4, 5, 6]
    assert flagged_and_overlapping(payload) == ([1], [4, 5])


def test_no_sharing_no_flags() -> None:
    payload = usage(recording(requests=1, uses_per_request=3))
    assert flagged_and_overlapping(payload) == ([], [])


def test_the_default_run_does_not_collect_the_browser_tests() -> None:
    """tox -e py needs no browser: tests/browser's files are named browser_*.py, which only
    tox -e browser (-o python_files=browser_*.py) collects."""
    from pathlib import Path

    folder = Path(__file__).parent.parent / "browser"
    names = sorted(path.name for path in folder.glob("*.py"))
    assert names == ["browser_report.py", "conftest.py"]
