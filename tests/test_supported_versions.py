"""The supported versions say the same thing everywhere they are written.

CI's ``min`` environment installs ``.ci/min-versions.txt``; pyproject.toml's lower bounds,
the installation page's table and the range the plugin names for a missing internal
(``_internals.CHECKED``) must be those versions, or one of them promises what CI never ran.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import Version

from pytest_gcpfakes._internals import CHECKED

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.strip().lower()] = Version(version)
    return pins


def test_pyprojects_lower_bounds_are_the_min_environments_pins() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    bounds = {
        name.lower(): Version(version)
        for name, version in re.findall(r'^\s+"([A-Za-z0-9_.-]+)>=([0-9.]+)",$', pyproject, re.M)
        if name.lower() in _pins() or name.lower() in ("fastavro", "grpcio-tools")
    }
    pins = _pins()
    direct = {name: pins[name] for name in bounds}
    assert bounds == direct
    # Every direct dependency and the [schemas] extra has a bound.
    assert {"google-cloud-pubsub", "google-cloud-storage", "grpcio", "protobuf", "pytest"} <= set(
        bounds
    )
    assert {"fastavro", "grpcio-tools"} <= set(bounds)


def test_the_installation_pages_oldest_column_is_the_min_environments_pins() -> None:
    page = (ROOT / "docs" / "installation.md").read_text()
    pins = _pins()
    rows = re.findall(r"^\| ([^|]+?) \| ≥ [^|]+ \| ([^|]+?), \d{4}-\d\d-\d\d \|", page, re.M)
    assert len(rows) >= 10
    for names, oldest in rows:
        for name in names.replace("(`[schemas]`)", "").split(","):
            assert pins[name.strip().lower()] == Version(oldest), name


def test_the_range_named_for_a_missing_internal_starts_at_the_pins() -> None:
    pins = _pins()
    for distribution, (oldest, _newest) in CHECKED.items():
        assert pins[distribution] == Version(oldest), distribution
