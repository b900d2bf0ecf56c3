"""Parity harness: the same Pub/Sub fidelity tests against the fake and Google's emulator.

``pytest tests/parity`` runs them against the in-memory fake only. ``--pubsub-parity`` also
runs each one against the Pub/Sub emulator (``gcloud beta emulators pubsub start``), started
once per session on a free loopback port and killed at the end. A test that one backend does
not pass yet carries ``@pytest.mark.xfail_on("fake" | "emulator", reason=...)``: a strict
xfail on that backend's run only, so it turns into a failure the day the backend gains it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from _parity_harness import (
    LOOPBACK,
    Backend,
    emulator_backend,
    fake_backend,
    free_port,
    start_emulator,
    stop_emulator,
    wait_until_serving,
)

BACKENDS = ("fake", "emulator")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pubsub-parity",
        action="store_true",
        default=False,
        help="also run tests/parity against Google's Pub/Sub emulator (needs gcloud, Java).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xfail_on(backend, reason, raises=None): strict xfail on one pubsub_backend only "
        "('fake' or 'emulator').",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pubsub_backend" not in metafunc.fixturenames:
        return
    kinds = BACKENDS if metafunc.config.getoption("pubsub_parity") else ("fake",)
    params = []
    for kind in kinds:
        marks = [
            pytest.mark.xfail(
                strict=True, reason=str(marker.kwargs["reason"]), raises=marker.kwargs.get("raises")
            )
            for marker in metafunc.definition.iter_markers("xfail_on")
            if kind in marker.args
        ]
        params.append(pytest.param(kind, id=kind, marks=marks))
    metafunc.parametrize("pubsub_backend", params, indirect=True)


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("pubsub_parity"):
        return None
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return "pubsub parity: gcloud not found, the emulator tests will be skipped"
    return f"pubsub parity: fake and emulator ({gcloud})"


@pytest.fixture
def pubsub_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Real Pub/Sub clients on the fake or on the emulator; closed at teardown."""
    if request.param == "fake":
        backend = fake_backend(request.getfixturevalue("fake_pubsub").project)
    else:
        address: str = request.getfixturevalue("pubsub_emulator")
        # The plugin checks for an active fake in publish() and subscribe() before the call
        # reaches any transport, so without one an emulator client's publish() raises
        # FakeNotActiveError. The fake stays idle: these clients have their own transport.
        request.getfixturevalue("fake_pubsub")
        backend = emulator_backend(address)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Google's Pub/Sub emulator, started once per session; yields its ``host:port``."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip(
            "gcloud is not installed, so the Pub/Sub emulator half of the parity tests did "
            "not run (install the Google Cloud CLI with its beta and pubsub-emulator "
            "components, and Java)."
        )
    address = f"{LOOPBACK}:{free_port()}"
    log = tmp_path_factory.mktemp("pubsub-emulator") / "emulator.log"
    process = start_emulator(gcloud, address, log)
    try:
        wait_until_serving(process, address, log)
        yield address
    finally:
        stop_emulator(process)
