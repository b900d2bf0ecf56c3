"""Parity harness: the same Pub/Sub fidelity tests on the fake, our server and the emulator.

``pytest tests/parity`` runs them against two backends:

- ``fake``: default-built clients, served in-process by the plugin's in-memory transport;
- ``server``: clients on an explicit gRPC channel to our own server (``gcpfakes_server``:
  the relay process's gRPC face, the link, the service layer of this process), which
  serves the same fresh fake. This leg is the proof that the server is a drop-in for the
  official emulator.

``--pubsub-parity`` also runs each one against the Pub/Sub emulator (``gcloud beta
emulators pubsub start``), started once per session on a free loopback port and killed at
the end. A test that one backend does not pass yet carries
``@pytest.mark.xfail_on("fake" | "server" | "emulator", reason=...)``: a strict xfail on
that backend's run only, so it turns into a failure the day the backend gains it.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest
from _parity_harness import (
    LOOPBACK,
    Backend,
    ServedCalls,
    emulator_backend,
    fake_backend,
    free_port,
    served_calls,
    server_backend,
    start_emulator,
    stop_emulator,
    wait_until_serving,
)

BACKENDS = ("fake", "server", "emulator")
DEFAULT_BACKENDS = ("fake", "server")  # no gcloud or Java needed


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
        "('fake', 'server' or 'emulator').",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pubsub_backend" not in metafunc.fixturenames:
        return
    kinds = BACKENDS if metafunc.config.getoption("pubsub_parity") else DEFAULT_BACKENDS
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
    return f"pubsub parity: fake, our server and the emulator ({gcloud})"


@pytest.fixture
def pubsub_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Real Pub/Sub clients on the fake, our server or the emulator; closed at teardown."""
    # Every leg has a fake: the plugin checks for an active one in publish() and
    # subscribe() before the call reaches any transport, so even an emulator client's
    # publish() would raise FakeNotActiveError without it.
    fake = request.getfixturevalue("fake_pubsub")
    calls: ServedCalls | None = None
    with contextlib.ExitStack() as stack:
        if request.param == "fake":
            backend = fake_backend(fake.project)
        elif request.param == "server":
            # Our server serves this test's fresh fake. With the plugin loaded, clients
            # built from PUBSUB_EMULATOR_HOST alone are served in-process, so the leg
            # opens channels of its own to the server's address, as for the emulator.
            server = request.getfixturevalue("gcpfakes_server")
            calls = stack.enter_context(served_calls())
            backend = server_backend(server.pubsub_address, fake.project)
        else:
            backend = emulator_backend(request.getfixturevalue("pubsub_emulator"))
        stack.callback(backend.close)
        yield backend
    if calls is not None:
        # Every server-leg test proves its leg: the fake heard it over the wire, and only so.
        assert calls.wire, "no RPC of this server-leg test reached the server"
        assert not calls.in_process, f"served in-process, not by the server: {calls.in_process}"


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
