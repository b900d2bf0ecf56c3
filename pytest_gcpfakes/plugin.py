"""The pytest plugin (``-p gcpfakes``): fixtures, the marker, ini options. Glue only."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gcpfakes import _activation, _registry
from pytest_gcpfakes._config import (
    FIELD_HELP,
    FIELD_NAMES,
    Config,
    build_config,
    merge,
    parse_ini_value,
)
from pytest_gcpfakes._fakes import GCPFakes

if TYPE_CHECKING:
    from pytest_gcpfakes.assertions import GCPUsage
    from pytest_gcpfakes.pubsub._handle import FakePubSub
    from pytest_gcpfakes.server._servers import GCPFakesServer
    from pytest_gcpfakes.storage._handle import FakeStorage

# Installed at import, before conftest files and test modules import the application, so
# that clients built at import time are faked too.
_activation.install()

_SERVICE_FIXTURES = {"fake_pubsub": "pubsub", "fake_storage": "storage"}


# A test's summary lines travel on its teardown report (an attribute, which pytest's
# report serialization keeps), so that under pytest-xdist the controller, which runs no
# tests, gets every worker's lines and prints the one summary.
_SUMMARY_LINES = pytest.StashKey[list[str]]()
_REPORT_ATTR = "gcpfakes_summary"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gcpfakes").addoption(
        "--gcpfakes-summary",
        action="store_true",
        default=False,
        help="Show which clients each test using the GCP fakes touched (also with -v).",
    )
    parser.getgroup("gcpfakes").addoption(
        "--gcpfakes-report",
        metavar="PATH",
        default=None,
        help="Write an HTML report of the GCP clients each test used, on a timeline (one "
        "self-contained file).",
    )
    parser.getgroup("gcpfakes").addoption(
        "--gcpfakes-report-json",
        metavar="PATH",
        default=None,
        help="Write the data of --gcpfakes-report as JSON.",
    )
    parser.addini(
        "gcpfakes_intercept",
        "Fake GCP clients in this run (false: leave them alone, e.g. for integration tests).",
        type="bool",
        default=True,
    )
    for name in FIELD_NAMES:
        parser.addini(f"gcpfakes_{name}", FIELD_HELP[name], type="string", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Apply the process-wide ini options before conftest files import the application."""
    if not early_config.getini("gcpfakes_intercept"):
        _activation.uninstall()
    _registry.set_default_project(str(early_config.getini("gcpfakes_project")) or None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gcpfakes(**options): options for the GCP fakes of this test "
        f"({', '.join(FIELD_NAMES)}); the closest marker wins each option.",
    )
    if not hasattr(config, "workerinput"):  # an xdist worker reports; it prints nothing
        config.pluginmanager.register(_Summary(), "gcpfakes-summary")
        if _report_wanted(config):
            config.pluginmanager.register(_Report(config), "gcpfakes-report")


def pytest_unconfigure(config: pytest.Config) -> None:
    _activation.uninstall()
    _registry.set_default_project(None)


def _config_for(request: pytest.FixtureRequest) -> Config:
    layers: list[dict[str, Any]] = []
    for marker in request.node.iter_markers("gcpfakes"):
        if marker.args:
            raise TypeError(
                "@pytest.mark.gcpfakes takes keyword options only, e.g. "
                "@pytest.mark.gcpfakes(publish_immediately=True)."
            )
        layers.append(dict(marker.kwargs))
    ini: dict[str, Any] = {}
    for name in FIELD_NAMES:
        raw = str(request.config.getini(f"gcpfakes_{name}"))
        # The project's ini value is the fallback *after* $GOOGLE_CLOUD_PROJECT (see
        # resolve_project), so it is not a field value here.
        if raw and name != "project":
            # Validated here, where the error can name the ini file, not the marker.
            source = _ini_source(request.config, name)
            ini[name] = parse_ini_value(name, raw, source)
            build_config({name: ini[name]}, ini_source=source)
    layers.append(ini)
    return merge(layers, where="@pytest.mark.gcpfakes")


def _ini_source(config: pytest.Config, name: str) -> str:
    """Where ini option ``gcpfakes_<name>`` was set: ``from -o``, else ``in <ini file>``."""
    overrides = config.getoption("override_ini", None) or ()
    if any(item.partition("=")[0].strip() == f"gcpfakes_{name}" for item in overrides):
        return "from -o/--override-ini"
    inipath = config.inipath
    if inipath is None:
        return "in the configuration"
    try:
        return f"in {inipath.relative_to(config.rootpath)}"
    except ValueError:
        return f"in {inipath}"


@pytest.fixture
def gcpfakes(request: pytest.FixtureRequest) -> Iterator[GCPFakes]:
    """The ``GCPFakes`` of this test: ``.pubsub``, ``.storage`` and their ``.clock``.

    Alone it activates both services; with ``fake_pubsub`` or ``fake_storage`` it activates
    only those, so a client of the other service fails fast, naming the fixture to add.
    """
    if not _activation.installed():
        raise RuntimeError(
            "GCP client interception is off (gcpfakes_intercept = false); set it to true "
            "to use the gcpfakes fixtures."
        )
    from pytest_gcpfakes.assertions import GCPUsage

    requested = [s for f, s in _SERVICE_FIXTURES.items() if f in request.fixturenames]
    config = _config_for(request)
    services = requested or _registry.SERVICES
    with GCPFakes(config, services=services, name=f"test {request.node.nodeid}") as fakes:
        if config.rendezvous:
            from pytest_gcpfakes.concurrency import rendezvous

            with rendezvous(config.rendezvous):
                yield fakes
        else:
            yield fakes
        usage = GCPUsage(fakes.usage())
        _remember_summary(request, usage)
        if _report_wanted(request.config):
            request.node.stash[_USAGE] = usage.to_dict()
        usage.check(fakes.config.check)


@pytest.fixture
def gcp_usage(gcpfakes: GCPFakes) -> GCPUsage:
    """What this test recorded: ``.clients``, ``.requests``, ``.uses``, the assertions."""
    from pytest_gcpfakes.assertions import GCPUsage

    return GCPUsage()


def _remember_summary(request: pytest.FixtureRequest, usage: GCPUsage) -> None:
    config = request.config
    if not (config.getoption("gcpfakes_summary") or config.getoption("verbose") > 0):
        return
    from pytest_gcpfakes.assertions import all_findings
    from pytest_gcpfakes.usage import _report

    rec = usage.recording
    if not rec.clients:
        return
    request.node.stash[_SUMMARY_LINES] = _report.summary_lines(rec, all_findings(rec))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    lines = item.stash.get(_SUMMARY_LINES, None)
    if call.when == "teardown" and lines:
        setattr(report, _REPORT_ATTR, lines)
    usage = item.stash.get(_USAGE, None)
    if call.when == "teardown" and usage is not None:
        from pytest_gcpfakes.report._data import REPORT_ATTR

        setattr(report, REPORT_ATTR, usage)
    return report


class _Summary:
    """The terminal summary: every test's lines, from its report (a worker's too)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, list[str]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        lines = getattr(report, _REPORT_ATTR, None)
        if lines:
            self.entries.append((report.nodeid, [str(line) for line in lines]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.entries:
            return
        terminalreporter.section("gcpfakes: GCP clients per test")
        for nodeid, lines in self.entries:
            terminalreporter.write_line(nodeid)
            for line in lines:
                terminalreporter.write_line(f"  {line}")


# The report travels as the summary does: a test's usage (a plain-JSON dict) on its
# teardown report, collected by the process that writes the report (xdist's controller).
_USAGE = pytest.StashKey[dict[str, Any]]()


def _report_wanted(config: pytest.Config) -> bool:
    return bool(config.getoption("gcpfakes_report") or config.getoption("gcpfakes_report_json"))


class _Report:
    """Collects every test's outcome and usage; writes the report at the end of the run."""

    def __init__(self, config: pytest.Config) -> None:
        from pytest_gcpfakes.report._data import ReportData

        self.config = config
        self.data = ReportData()
        self.written: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from pytest_gcpfakes.report._data import REPORT_ATTR

        self.data.add(
            report.nodeid,
            report.when,
            report.outcome,
            report.duration,
            wasxfail=hasattr(report, "wasxfail"),
            usage=getattr(report, REPORT_ATTR, None),
        )

    def pytest_sessionfinish(self) -> None:
        from pytest_gcpfakes.report._data import write

        paths = write(
            self.data.document(),
            html=self.config.getoption("gcpfakes_report"),
            json_path=self.config.getoption("gcpfakes_report_json"),
        )
        self.written = [str(path) for path in paths]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for path in self.written:
            terminalreporter.write_line(f"gcpfakes: report written to {path}")


@pytest.fixture
def live_app() -> Iterator[Callable[[Any], str]]:
    """A factory: ``live_app(app)`` serves ``app`` on 127.0.0.1 in this process; returns its URL.

    werkzeug's threaded server runs in a thread of the test process, so the fakes and the
    usage recorder see every request (a server in another process would not). Every server
    is shut down at teardown.
    """
    from pytest_gcpfakes.concurrency import LiveServer

    servers: list[LiveServer] = []

    def serve(app: Any) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.url

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture(name="concurrent_requests")
def concurrent_requests_fixture() -> Callable[..., Any]:
    """``pytest_gcpfakes.concurrent_requests``, for tests that prefer a fixture to an import."""
    from pytest_gcpfakes.concurrency import concurrent_requests

    return concurrent_requests


@pytest.fixture
def gcpfakes_server(gcpfakes: GCPFakes) -> Iterator[GCPFakesServer]:
    """Loopback servers for this test's fakes, for subprocesses and non-Python clients.

    For the test's duration ``os.environ`` carries ``PUBSUB_EMULATOR_HOST``,
    ``STORAGE_EMULATOR_HOST`` and ``GCPFAKES_LINK``; ``.env`` is that environment for
    ``subprocess``. The servers themselves live for the session (per xdist worker).
    """
    from pytest_gcpfakes.server._servers import GCPFakesServer

    server = GCPFakesServer(gcpfakes.serve())
    saved = {name: os.environ.get(name) for name in server.env_names}
    os.environ.update(server.variables)
    try:
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def fake_pubsub(gcpfakes: GCPFakes) -> FakePubSub:
    """A fresh, empty in-memory Pub/Sub for this test."""
    return gcpfakes.start("pubsub")  # type: ignore[no-any-return]


@pytest.fixture
def fake_storage(gcpfakes: GCPFakes) -> FakeStorage:
    """A fresh, empty in-memory Cloud Storage for this test."""
    return gcpfakes.start("storage")  # type: ignore[no-any-return]
