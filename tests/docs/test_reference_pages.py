"""The fixtures and configuration pages list what the plugin declares, no more, no less.

The plugin's own declarations are the reference: its fixtures (with their scope), the
``Config`` fields (type, default), and what ``pytest_addoption`` registers, recorded by
calling it with a stand-in parser.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from pytest_gcpfakes import Config, plugin

DOCS = Path(__file__).parent.parent.parent / "docs"


def table_rows(page: str) -> dict[str, list[str]]:
    """Rows of the page's tables, keyed by the first cell's code span (`name` or `--x=PATH`)."""
    rows = {}
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        match = re.fullmatch(r"`([^`=]+)(=\w+)?`", cells[0]) if cells else None
        if match:
            rows[match.group(1)] = [c.replace("\\|", "|") for c in cells]
    return rows


class RecordingParser:
    """Records what ``pytest_addoption`` declares."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.inis: dict[str, dict[str, Any]] = {}

    def getgroup(self, name: str) -> RecordingParser:
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.options[names[0]] = attrs

    def addini(self, name: str, help: str, type: str | None = None, default: Any = None) -> None:
        self.inis[name] = {"type": type, "default": default}


def declared_options() -> RecordingParser:
    parser = RecordingParser()
    plugin.pytest_addoption(parser)  # type: ignore[arg-type]
    return parser


def plugin_fixtures() -> dict[str, str]:
    """The plugin's fixtures and their scopes, from the markers ``@pytest.fixture`` leaves."""
    fixtures = {}
    for attribute, value in vars(plugin).items():
        marker = getattr(value, "_fixture_function_marker", None) or getattr(  # pytest >= 8.4
            value, "_pytestfixturefunction", None
        )
        if marker is not None:
            fixtures[marker.name or attribute] = str(marker.scope)
    return fixtures


def test_fixtures_page_lists_every_fixture_with_its_scope() -> None:
    fixtures = plugin_fixtures()
    assert "fake_pubsub" in fixtures
    rows = table_rows("fixtures.md")
    assert set(fixtures) - set(rows) == set(), "fixtures missing from docs/fixtures.md"
    for name, scope in fixtures.items():
        scope_cell, type_, default = rows[name][1:4]
        assert scope_cell.startswith(scope), name
        assert type_, name
        assert default, name


def test_configuration_page_lists_every_option_with_its_type_and_default() -> None:
    rows = table_rows("configuration.md")
    for field in dataclasses.fields(Config):
        default = field.default_factory() if callable(field.default_factory) else field.default
        shown = "{}" if default == {} else repr(default)
        _, type_, default_cell, meaning = rows[field.name]
        assert type_ == f"`{field.type}`", field.name
        assert default_cell.startswith(f"`{shown}`"), field.name
        assert meaning, field.name


def test_configuration_page_lists_every_ini_option() -> None:
    rows = table_rows("configuration.md")
    inis = declared_options().inis
    assert set(inis) == {"gcpfakes_intercept"} | {
        f"gcpfakes_{f.name}" for f in dataclasses.fields(Config)
    }
    for name, declared in inis.items():
        _, type_, default, _ = rows[name]
        assert type_ == declared["type"], name
        assert default.startswith(
            "empty" if declared["default"] == "" else f"`{declared['default']}`".lower()
        ), name


def test_configuration_page_lists_every_command_line_option() -> None:
    rows = table_rows("configuration.md")
    for name, declared in declared_options().options.items():
        _, type_, default, _ = rows[name]
        if declared.get("action") == "store_true":
            assert (type_, default) == ("flag", "off"), name
        else:
            assert (type_, default) == ("path", "none"), name
        assert declared["default"] in (None, False), name


def test_every_documented_fixture_and_option_exists() -> None:
    """A row for something the plugin no longer declares is stale."""
    assert set(table_rows("fixtures.md")) - set(plugin_fixtures()) == set()
    declared = declared_options()
    option_rows = set(table_rows("configuration.md"))
    known = (
        set(declared.options) | set(declared.inis) | {f.name for f in dataclasses.fields(Config)}
    )
    assert option_rows - known == set()
