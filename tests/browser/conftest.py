"""The report in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``),
driven by Selenium: ``tox -e browser``. The default run does not collect these tests: their
files are named ``browser_*.py``, which only the browser environment asks pytest to collect.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The report samples and the page parser live beside the report's pytester tests.
sys.path.insert(0, str(Path(__file__).parent.parent / "report"))

CHROMIUM = os.environ.get("GCPFAKES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GCPFAKES_CHROMEDRIVER", "/usr/bin/chromedriver")
# Headless, a fresh profile, and nothing that would reach the network on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests leave their screenshots: $GCPFAKES_BROWSER_ARTIFACTS (tox
    sets .tox/browser-artifacts), else the run's temporary directory."""
    default = tmp_path_factory.getbasetemp() / "artifacts"
    path = Path(os.environ.get("GCPFAKES_BROWSER_ARTIFACTS", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium per module, with a profile made for it."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise RuntimeError(
                f"{path} is missing; install Debian's browser with "
                "`apt-get install -y chromium chromium-driver` (tox -e browser needs it)."
            )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
