"""The report page in headless Chromium: it loads cleanly, draws the flagged test's
timeline, highlights a client's uses on a click, stays small on a 1,000-test run, and is
photographed (the screenshot is a test artifact; docs/_static/report.png is one of them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _report_samples import APP, TESTS, document

from pytest_gcpfakes.report._html import render

pytestmark = pytest.mark.usefixtures("clean_env")


def write_report(work: Path, files: dict[str, str]) -> Path:
    """Run pytest with ``--gcpfakes-report`` over ``files`` in ``work``; return the page."""
    # pytester is function-scoped; a module's tests share one run, made the same way.
    import subprocess
    import sys

    for name, text in files.items():
        (work / name).write_text(text)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    subprocess.run(
        [*command, "--gcpfakes-report=report.html"],
        cwd=work,
        check=False,
        capture_output=True,
        timeout=120,
    )
    report = work / "report.html"
    assert report.exists(), "the run wrote no report"
    return report


@pytest.fixture(scope="module")
def flagged_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report written by a real run: one test with a shared client, and one per outcome."""
    return write_report(tmp_path_factory.mktemp("run"), {"app.py": APP, "test_report.py": TESTS})


SHOWCASE = """
from concurrency_app import app
from pytest_gcpfakes import concurrent_requests, rendezvous


def test_orders_and_uploads(fake_pubsub, fake_storage):
    fake_pubsub.create_topic("orders")
    fake_storage.create_bucket("uploads")
    with rendezvous(4):  # all four requests in their first client call at once
        concurrent_requests(
            app,
            [
                ("POST", "/orders"),
                ("POST", "/files/a.txt", {"data": b"a"}),
                ("POST", "/orders"),
                ("POST", "/files/b.txt", {"data": b"b"}),
            ],
        )


def test_download(fake_storage):
    fake_storage.put("uploads", "a.txt", "a")
    assert app.test_client().get("/files/a.txt").data == b"a"


def test_upload_of_an_empty_file(fake_storage):
    fake_storage.create_bucket("uploads")
    assert app.test_client().post("/files/empty.txt", data=b"").status_code == 204
"""


@pytest.fixture(scope="module")
def showcase_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs' screenshot: the concurrency recipes' app (tests/docs), four requests at
    once, two of them through its module-level publisher, two with a client each; and two
    more tests, one failing."""
    app = Path(__file__).parent.parent / "docs" / "concurrency_app.py"
    files = {"concurrency_app.py": app.read_text(), "test_orders.py": SHOWCASE}
    return write_report(tmp_path_factory.mktemp("showcase"), files)


def open_page(browser: Any, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(path.as_uri())
    WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script("return document.body.dataset.ready") == "true"
    )


def console_errors(browser: Any) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def count(browser: Any, selector: str) -> int:
    script = f"return document.querySelectorAll({json.dumps(selector)}).length"
    return int(browser.execute_script(script))


def test_page_loads_with_no_console_errors(browser: Any, flagged_report: Path) -> None:
    browser.get_log("browser")  # drop what an earlier page said
    open_page(browser, flagged_report)
    assert console_errors(browser) == []
    assert count(browser, "#tests tbody tr") == 7


def test_timeline_is_drawn_for_the_flagged_test(browser: Any, flagged_report: Path) -> None:
    open_page(browser, flagged_report)
    # The page opens on the first flagged test.
    assert browser.find_element("id", "detail-title").text == "test_report.py::test_shared"
    assert count(browser, "#timeline svg g.lane") == 2
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#timeline .lane-label')].map(n => n.textContent)"
    )
    assert sorted(labels) == ["GET /orders#1 request-0", "GET /orders#2 request-1"] or sorted(
        labels
    ) == ["GET /orders#1 request-1", "GET /orders#2 request-0"]
    assert count(browser, "#timeline .mark") == 4
    assert count(browser, "#timeline .mark.overlap") == 2
    assert count(browser, "#timeline .life") == 2
    assert count(browser, "#clients tbody tr") == 1
    assert count(browser, "#requests tbody tr") == 2


def test_uses_outside_any_request_get_a_lane_per_thread(browser: Any, flagged_report: Path) -> None:
    open_page(browser, flagged_report)
    browser.find_element("css selector", '#tests tr[data-nodeid$="::test_storage"]').click()
    assert browser.find_element("id", "detail-title").text == "test_report.py::test_storage"
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#timeline .lane-label')].map(n => n.textContent)"
    )
    assert labels == ["outside any requestMainThread"]
    assert count(browser, "#timeline .mark") == 2  # create_bucket, close
    assert count(browser, "#timeline .mark.overlap, #timeline .life") == 0


def test_click_on_the_shared_client_highlights_its_uses(browser: Any, flagged_report: Path) -> None:
    open_page(browser, flagged_report)
    assert count(browser, "#timeline svg.focus") == 0
    browser.find_element("css selector", "#clients tr.client").click()
    assert count(browser, "#timeline svg.focus") == 1
    assert count(browser, "#timeline .mark.hl") == 4
    assert count(browser, "#clients tr.client.active") == 1
    assert count(browser, "#legend .client-key.active") == 1
    # A second click on the same client clears the highlight.
    browser.find_element("css selector", "#legend .client-key").click()
    assert count(browser, "#timeline svg.focus, #timeline .mark.hl") == 0
    # The keyboard does the same: Enter on the client's legend key.
    from selenium.webdriver.common.keys import Keys

    browser.find_element("css selector", "#legend .client-key").send_keys(Keys.ENTER)
    assert count(browser, "#timeline .mark.hl") == 4


def test_screenshot_of_the_flagged_test_is_written(
    browser: Any, showcase_report: Path, artifacts: Path
) -> None:
    open_page(browser, showcase_report)
    assert console_errors(browser) == []
    assert count(browser, "#timeline g.lane") == 4
    # The publisher and each upload's own client: three colours, one per client.
    fills = browser.execute_script(
        "return [...new Set([...document.querySelectorAll('#timeline .mark')]"
        ".map(n => n.getAttribute('fill')))]"
    )
    assert len(fills) == 3
    assert count(browser, "#timeline .mark.overlap") >= 2
    shot = artifacts / "report.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_a_1000_test_report_stays_a_small_page(
    browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    page = tmp_path / "big.html"
    page.write_text(render(document(1000, big=1)), encoding="utf-8")
    open_page(browser, page)
    assert console_errors(browser) == []
    assert count(browser, "#tests tbody tr") == 50  # one page of tests
    assert count(browser, "*") < 1_000
    # The test with 500 requests and 5,000 uses: 40 lanes a page, every mark drawn.
    browser.find_elements("css selector", "#tests tbody tr")[1].click()
    assert count(browser, "#timeline g.lane") == 40
    assert count(browser, "#timeline .mark") == 400
    assert count(browser, "#requests tbody tr") == 50
    assert count(browser, "*") < 3_000
    browser.find_element("css selector", "#lanes-pager button:last-child").click()
    assert count(browser, "#timeline g.lane") == 40
    browser.save_screenshot(str(artifacts / "report-1000-tests.png"))
    assert console_errors(browser) == []


def test_dense_lanes_are_aggregated(browser: Any, tmp_path: Path) -> None:
    from _report_samples import recording, usage

    from pytest_gcpfakes.report._data import ReportData

    data = ReportData()
    dense = usage(recording(requests=2, uses_per_request=2000))
    data.add("t.py::dense", "call", "passed", 1.0, usage=dense)
    page = tmp_path / "dense.html"
    page.write_text(render(data.document()), encoding="utf-8")
    open_page(browser, page)
    # 4,000 uses in two lanes: at most 120 marks a lane, each standing for a bin of uses.
    assert count(browser, "#timeline .mark") <= 240
    assert console_errors(browser) == []


def test_lanes_name_the_process_when_several_took_part(browser: Any, tmp_path: Path) -> None:
    import dataclasses

    from _report_samples import recording, usage

    from pytest_gcpfakes.report._data import ReportData

    rec = recording(requests=2, uses_per_request=2)
    # Request 2 ran in a forked worker: its request and its uses carry the child's pid.
    rec = dataclasses.replace(
        rec,
        requests=tuple(
            dataclasses.replace(r, pid=5151) if r.serial == 2 else r for r in rec.requests
        ),
        uses=tuple(dataclasses.replace(u, pid=5151) if u.request == 2 else u for u in rec.uses),
    )
    data = ReportData()
    data.add("t.py::forked", "call", "passed", 1.0, usage=usage(rec))
    page = tmp_path / "forked.html"
    page.write_text(render(data.document()), encoding="utf-8")
    open_page(browser, page)
    subs = browser.execute_script(
        "return [...document.querySelectorAll('#timeline .lane-label .sub')]"
        ".map(n => n.textContent)"
    )
    # A long thread name is shortened; the pid is always shown whole.
    assert subs == [
        "#1 Thread-1 (process_request_thr… pid 4242",
        "#2 Thread-2 (process_request_thr… pid 5151",
    ]
