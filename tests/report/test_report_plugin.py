"""``--gcpfakes-report`` and ``--gcpfakes-report-json`` through pytester: the page parsed
with html.parser (self-contained, the embedded data), the JSON beside it, verdicts, xdist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _report_samples import APP, TESTS, Page

pytestmark = pytest.mark.usefixtures("clean_env")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(app=APP, test_report=TESTS)
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--gcpfakes-report=out/report.html", *args
    )


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["nodeid"].split("::")[1]: test for test in document["tests"]}


def test_report_is_one_self_contained_page_with_every_test_and_its_verdict(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, "--gcpfakes-report-json=out/report.json")
    result.assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["gcpfakes: report written to out/report.json", "gcpfakes: report written to *.html"]
    )
    page = Page((pytester.path / "out" / "report.html").read_text(encoding="utf-8"))

    # Nothing is fetched: no external script, stylesheet, image or font; a CSP that forbids it.
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        assert not str(attrs.get("href") or "").startswith(("http:", "https:", "//")), attrs
        assert tag != "link", attrs
    csp = [a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    ]
    assert [tag for tag, _ in page.tags].count("style") == 1
    assert "@import" not in page.texts.get("style", "")
    assert page.texts["summary"] == (
        "7 tests: 1 failed, 1 error, 3 passed, 1 xfailed, 1 skipped. 5 used the GCP fakes; "
        "1 had a client in use by concurrent requests."
    )

    document = page.data()
    assert document == json.loads((pytester.path / "out" / "report.json").read_text())
    assert (document["kind"], document["version"]) == ("gcpfakes-report", 1)
    tests = by_name(document)
    assert {name: test["outcome"] for name, test in tests.items()} == {
        "test_shared": "passed",
        "test_storage": "passed",
        "test_without_fakes": "passed",
        "test_fails": "failed",
        "test_skipped": "skipped",
        "test_xfailed": "xfailed",
        "test_teardown_error": "error",
    }
    assert tests["test_without_fakes"]["usage"] is None
    assert tests["test_skipped"]["usage"] is None  # its fixtures never ran
    (storage_client,) = tests["test_storage"]["usage"]["clients"]
    assert (storage_client["class_name"], storage_client["closed_seq"] is not None) == (
        "storage.Client",
        True,
    )
    assert storage_client["created_at"]["display"] == "test_report.py:12"
    assert tests["test_storage"]["flagged"] == []


def test_report_marks_the_flagged_client_and_its_overlapping_uses(
    pytester: pytest.Pytester,
) -> None:
    run(pytester, "-k", "shared").assert_outcomes(passed=1)
    document = Page((pytester.path / "out" / "report.html").read_text(encoding="utf-8")).data()
    (test,) = document["tests"]
    usage = test["usage"]
    (client,) = usage["clients"]
    assert (client["label"], client["created_at"]["display"]) == ("PublisherClient #1", "app.py:5")
    assert test["flagged"] == [client["serial"]]
    assert sorted(r["label"] for r in usage["requests"]) == ["GET /orders", "GET /orders"]
    assert sorted(r["thread"] for r in usage["requests"]) == ["request-0", "request-1"]
    # Each request used the client before and after the barrier: the first request's first
    # use and the last request's last use are alone; the two in the middle overlap.
    uses = sorted(usage["uses"], key=lambda use: use["seq"])
    assert [use["method"] for use in uses] == ["get_topic"] * 4
    assert test["overlapping"] == [uses[1]["seq"], uses[2]["seq"]]
    assert [f["kind"] for f in usage["findings"]] == ["shared"]


def test_report_json_alone_writes_no_page(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP, test_report=TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--gcpfakes-report-json=report.json", "-k", "storage"
    )
    result.assert_outcomes(passed=1, deselected=6)
    document = json.loads((pytester.path / "report.json").read_text())
    assert [test["nodeid"] for test in document["tests"]] == ["test_report.py::test_storage"]
    assert document["totals"] == {"passed": 1}
    assert not list(pytester.path.glob("*.html"))


def test_report_under_xdist_is_one_page_merged_from_the_workers(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    result = run(pytester, "-p", "xdist", "-n", "2", "--gcpfakes-report-json=out/report.json")
    result.assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1, errors=1)
    assert result.stdout.str().count("gcpfakes: report written to") == 2
    document = json.loads((pytester.path / "out" / "report.json").read_text())
    tests = by_name(document)
    assert len(tests) == len(document["tests"]) == 7
    assert tests["test_shared"]["flagged"] == [1]
    assert len(tests["test_shared"]["overlapping"]) == 2
    assert tests["test_teardown_error"]["outcome"] == "error"
    pids = {
        test["usage"]["clients"][0]["pid"]
        for test in document["tests"]
        if test["usage"] and test["usage"]["clients"]
    }
    assert len(pids) in (1, 2)  # the workers' own pids, not the controller's
    page = Page((pytester.path / "out" / "report.html").read_text(encoding="utf-8"))
    assert page.data()["tests"] == document["tests"]


def test_no_report_option_adds_nothing_to_the_reports(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        seen = []

        def pytest_runtest_logreport(report):
            seen.append(hasattr(report, "gcpfakes_usage"))

        def pytest_sessionfinish():
            assert seen and not any(seen), seen
        """
    )
    pytester.makepyfile(app=APP, test_report=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "storage")
    result.assert_outcomes(passed=1, deselected=6)
    assert "report written" not in result.stdout.str()


def test_report_path_in_a_new_directory_is_created(tmp_path: Path) -> None:
    from pytest_gcpfakes.report._data import ReportData, write

    data = ReportData()
    data.add("t.py::test", "call", "passed", 0.5)
    (html, json_path) = (tmp_path / "a" / "r.html", tmp_path / "b" / "r.json")
    written = write(data.document(), html=str(html), json_path=str(json_path))
    assert written == [json_path, html]
    assert Page(html.read_text(encoding="utf-8")).data()["tests"][0]["outcome"] == "passed"
