"""The documentation's code examples (docs/examples) are tests, and they pass.

The pages include these files rather than copy them, so a page cannot show code that does
not run. They run as their own pytest project (docs/examples/pytest.ini), in a subprocess
with a clean environment, as a user's suite would. The files under docs/examples/failing
fail on purpose, those under docs/examples/warned warn: the reports and warnings the pages
show (docs/examples/output/*.txt) are what pytest prints for them, compared here.
``GCPFAKES_UPDATE_DOCS=1`` rewrites those files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "docs" / "examples"
PASSING = sorted(p.name for p in EXAMPLES.glob("test_*.py"))
FAILING = sorted(p.stem for p in (EXAMPLES / "failing").glob("*.py"))
WARNED = sorted(p.stem for p in (EXAMPLES / "warned").glob("*.py"))
_CLEARED = ("GOOGLE_", "GCLOUD_", "CLOUDSDK_", "GCPFAKES_", "PYTEST_", "PUBSUB_", "STORAGE_")


def run_examples(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on the examples as a user would: no credentials, no project, no gcloud."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    env["HOME"] = str(home)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written into the checkout
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".", *args],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each passing example file's tests and their outcomes, from one run of them all."""
    tmp = tmp_path_factory.mktemp("examples")
    junit = tmp / "junit.xml"
    result = run_examples(tmp, "-p", "no:cacheprovider", f"--junitxml={junit}", *PASSING)
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for case in ET.parse(junit).getroot().iter("testcase"):
        problems = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        outcome = problems[0] if problems else "passed"
        found[case.get("file") or case.get("classname", "").replace(".", "/") + ".py"][
            case.get("name", "")
        ] = outcome
    assert found, result.stdout + result.stderr
    return {name: dict(tests) for name, tests in found.items()}


@pytest.mark.parametrize("example", PASSING)
def test_example_file_passes(example: str, outcomes: dict[str, dict[str, str]]) -> None:
    tests = outcomes.get(example)
    assert tests, f"no test of {example} ran"
    assert {name: outcome for name, outcome in tests.items() if outcome != "passed"} == {}


def reported_failure(output: str) -> list[str]:
    """The first assertion report pytest printed (its ``E`` lines, prefix removed)."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"E(\s+)AssertionError: ", line)
        if match:
            prefix = "E" + match.group(1)
            report = []
            for following in lines[index:]:
                if not following.startswith(prefix):
                    break
                report.append(following[len(prefix) :])
            return report
    raise AssertionError(f"no AssertionError in the output:\n{output}")


def comparable(lines: list[str]) -> list[str]:
    """Lines with what changes from run to run (pids, which worker thread came first) masked."""
    masked = [re.sub(r"pid \d+", "pid N", line) for line in lines]
    return [re.sub(r"concurrent-request-\d+", "concurrent-request-N", line) for line in masked]


def reported_warnings(output: str) -> list[str]:
    """The GCPFakesWarnings of pytest's warnings summary, from the class name on."""
    marker = "GCPFakesWarning: "
    found = [line[line.index(marker) :] for line in output.splitlines() if marker in line]
    assert found, f"no GCPFakesWarning in the output:\n{output}"
    return found


def same_as_the_page(example: str, printed: list[str]) -> None:
    page = EXAMPLES / "output" / f"{example}.txt"
    if os.environ.get("GCPFAKES_UPDATE_DOCS") == "1":
        page.write_text("\n".join(printed) + "\n", encoding="utf-8")
    assert comparable(page.read_text(encoding="utf-8").splitlines()) == comparable(printed)


@pytest.mark.parametrize("example", FAILING)
def test_the_page_shows_the_report_pytest_prints(example: str, tmp_path: Path) -> None:
    result = run_examples(tmp_path, "-p", "no:cacheprovider", f"failing/{example}.py")
    assert result.returncode == 1, result.stdout + result.stderr
    same_as_the_page(example, reported_failure(result.stdout))


@pytest.mark.parametrize("example", WARNED)
def test_the_page_shows_the_warnings_pytest_prints(example: str, tmp_path: Path) -> None:
    result = run_examples(tmp_path, "-p", "no:cacheprovider", "-rw", f"warned/{example}.py")
    assert result.returncode == 0, result.stdout + result.stderr
    same_as_the_page(example, reported_warnings(result.stdout))
