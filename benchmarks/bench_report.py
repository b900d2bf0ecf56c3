"""How long the usage report of a 1,000-test run takes to write and to open in Chromium.

A generated suite of 1,000 tests runs through pytest, each test sending two requests that
use one module-level PublisherClient at once (so every test is flagged and has a timeline):
the sample app of tests/usage/test_plugin_checks.py.
Measured: the run with and without ``--gcpfakes-report`` (what writing the report costs),
the page's size, and in headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium when both are installed) the time from navigation to the page drawn
(``domContentLoaded``: the page draws in an inline script) and to a click on another test
drawn, over alternating rounds. The baseline, opened in the same rounds, is the page of an
empty report: the skeleton, the CSS and the script with no data. Nothing is asserted.

    python benchmarks/bench_report.py [--tests N] [--rounds N] [--suite-rounds N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TESTS = """
import pytest
from app import two_at_once

@pytest.mark.parametrize("n", range({tests}))
def test_orders(fake_pubsub, n):
    fake_pubsub.create_topic("orders")
    two_at_once()
"""


def run_suite(work: Path, *args: str) -> float:
    """Seconds for one pytest run of the generated suite in ``work``."""
    env = dict(os.environ, DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA="true")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the generated suite failed:\n{done.stdout[-2000:]}{done.stderr}")
    return seconds


def _tests_module(relative: str, name: str) -> Any:
    """A helper module of the test suite (the sample app, the browser's flags): one copy."""
    path = ROOT / "tests" / relative
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def browser() -> Any | None:
    """Headless Chromium with a fresh profile, as tests/browser starts it, or None (with a
    line saying why)."""
    settings = _tests_module("browser/conftest.py", "gcpfakes_browser_settings")
    if not (Path(settings.CHROMIUM).exists() and Path(settings.CHROMEDRIVER).exists()):
        print("chromium / chromium-driver not installed: the opening times are not measured")
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("selenium not installed: the opening times are not measured")
        return None
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = settings.CHROMIUM
    for flag in settings.FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='bench-report-chromium-')}")
    return webdriver.Chrome(options=options, service=Service(settings.CHROMEDRIVER))


def open_page(driver: Any, page: Path) -> tuple[float, float, int]:
    """Milliseconds to the page drawn and to a second test drawn after a click; DOM size."""
    driver.get(page.as_uri())
    drawn = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return document.body.dataset.ready === 'true' ? n.domContentLoadedEventEnd : -1;"
    )
    click = driver.execute_script(
        "const rows = document.querySelectorAll('#tests tbody tr');"
        "if (rows.length < 2) return 0;"
        "const start = performance.now(); rows[1].click(); return performance.now() - start;"
    )
    size = driver.execute_script("return document.querySelectorAll('*').length")
    return float(drawn), float(click), int(size)


def spread(values: list[float], digits: int = 1) -> str:
    median = statistics.median(values)
    return (
        f"median {median:8.{digits}f}  min {min(values):8.{digits}f}  max {max(values):8.{digits}f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of opening the pages")
    parser.add_argument("--suite-rounds", type=int, default=3, help="rounds of the pytest runs")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    app = _tests_module("usage/test_plugin_checks.py", "gcpfakes_sample_app").APP
    (work / "app.py").write_text(app)
    (work / "test_orders.py").write_text(TESTS.format(tests=options.tests))
    empty = work / "empty.html"
    from pytest_gcpfakes.report._data import ReportData
    from pytest_gcpfakes.report._html import render

    empty.write_text(render(ReportData().document()), encoding="utf-8")

    print(f"== {options.tests} tests, each two requests sharing one PublisherClient at once")
    runs: dict[str, list[float]] = {"plain": [], "report": []}
    for _ in range(options.suite_rounds):  # alternating: a busy machine hits both alike
        runs["plain"].append(run_suite(work))
        runs["report"].append(
            run_suite(work, "--gcpfakes-report=report.html", "--gcpfakes-report-json=r.json")
        )
    plain, reported = (statistics.median(runs[name]) for name in ("plain", "report"))
    print(f"pytest run without the report (s)  {spread(runs['plain'], 2)}")
    print(f"pytest run writing the report (s)  {spread(runs['report'], 2)}")
    print(f"{'':35}ratio of the medians {reported / plain:.2f}x")
    page = work / "report.html"
    print(f"report.html                        {page.stat().st_size / 1e6:7.2f} MB")
    print(f"report JSON                        {(work / 'r.json').stat().st_size / 1e6:7.2f} MB")

    driver = browser()
    if driver is None:
        return
    try:
        open_page(driver, page)  # warm-up: the browser's first page pays its start-up
        results: dict[str, list[tuple[float, float, int]]] = {"report": [], "empty": []}
        for _ in range(options.rounds):
            for name, path in (("report", page), ("empty", empty)):
                results[name].append(open_page(driver, path))
    finally:
        driver.quit()
    print(f"== opening in headless Chromium, {options.rounds} alternating rounds (ms)")
    for name, rows in results.items():
        label = f"{options.tests}-test report" if name == "report" else "empty report (baseline)"
        print(f"{label:26} drawn   {spread([row[0] for row in rows])}  DOM {rows[-1][2]} elements")
    report_ms = statistics.median(row[0] for row in results["report"])
    empty_ms = statistics.median(row[0] for row in results["empty"])
    print(f"{'':26} ratio   {report_ms / empty_ms:.2f}x the empty page")
    print(
        f"{options.tests}-test report      click on a test drawn in "
        f"{spread([row[1] for row in results['report']])}"
    )


if __name__ == "__main__":
    main()
