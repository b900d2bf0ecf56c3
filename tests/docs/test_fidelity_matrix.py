"""The fidelity page's generated matrix is what docs/_tools/fidelity_matrix.py writes today."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parent.parent.parent


def generator() -> ModuleType:
    path = ROOT / "docs" / "_tools" / "fidelity_matrix.py"
    spec = importlib.util.spec_from_file_location("fidelity_matrix", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_committed_matrix_is_current() -> None:
    matrix = generator()
    expected = matrix.render(matrix.read_suite(matrix.SUITE.read_text(encoding="utf-8")))
    committed = matrix.OUTPUT.read_text(encoding="utf-8")
    assert committed == expected, "run: python docs/_tools/fidelity_matrix.py"


def test_every_xfail_on_mark_of_the_suite_is_in_the_matrix() -> None:
    """A mark the reader missed (a new spelling) would show a difference as 'yes'."""
    matrix = generator()
    source = matrix.SUITE.read_text(encoding="utf-8")
    marks = re.findall(r"^@(?:pytest\.mark\.xfail_on\(|[A-Z_]+$)", source, re.MULTILINE)
    cases = matrix.read_suite(source)
    assert sum(len(case.differs) for case in cases) == len(marks)
    assert len(cases) == len(re.findall(r"^def test_\w+\(\s*pubsub_backend", source, re.M))


def test_every_test_the_fidelity_tables_name_exists() -> None:
    """A row's "Test" cell names the test that pins it; a renamed test would leave it dangling."""
    defined = set()
    for path in (ROOT / "tests").rglob("*.py"):
        defined |= set(re.findall(r"^\s*def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    named = set()
    test_column = False
    for line in (ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            test_column = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[-1] == "Test":
            test_column = True
        elif test_column:
            named |= set(re.findall(r"`(test_\w+)`", cells[-1]))
    assert len(named) > 30
    assert named - defined == set()
