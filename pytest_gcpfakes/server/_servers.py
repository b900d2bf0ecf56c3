"""The loopback servers of one process's fakes, as the CLI and ``gcpfakes_server`` run them.

Three listening ports, all following the *current* fakes (``_registry``), so a server
started once serves every later test's fresh backends:

- Storage: the JSON/XML API app on werkzeug's threaded server (``STORAGE_EMULATOR_HOST``).
- Pub/Sub: a switch that hands gRPC connections to a grpcio server and HTTP/1.1 ones
  (the REST/JSON API, the link) to werkzeug (``PUBSUB_EMULATOR_HOST``).
- The link (``GCPFAKES_LINK``): how relays and child processes reach this process.

``start()`` starts Storage and the link, which is all forked and spawned children need.
``start_pubsub(relay=True)`` adds the Pub/Sub port in a helper process started with exec,
which reaches this process over the link: the test process then hosts no gRPC server and
may fork (see ``_link``). The CLI, which never forks, serves gRPC in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from pytest_gcpfakes._hosts import check_listen_host
from pytest_gcpfakes._processes import LINK_ENV
from pytest_gcpfakes.server._link import PREFIX, LinkApp, WSGIApp, serve_unix, with_unix

RELAY_READY = "gcpfakes-relay-ready"
_RELAY_START_SECONDS = 60.0


class Servers:
    """Storage, Pub/Sub and link servers over the current fakes of this process."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        pubsub_port: int = 0,
        storage_port: int = 0,
        allow_remote: bool = False,
        on_reset: Callable[[], None] | None = None,
        listeners: tuple[Any, Any] | None = None,
    ) -> None:
        check_listen_host(host, allow_remote)
        self.host = host
        self._pubsub_port = pubsub_port
        self._storage_port = storage_port
        self._allow_remote = allow_remote
        self._link_port = 0
        self._caller: Any = None
        # (storage, link) sockets bound earlier (see _processes: reserved at a fork).
        self._listeners = listeners
        self._on_reset = on_reset
        self._stops: list[Callable[[], object]] = []
        self.pubsub_port = 0
        self.storage_port = 0
        self.link_url = ""
        self.relay_process: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Servers:
        """Start the Storage server and the link (idempotent); on failure, stop and raise."""
        if self.link_url:
            return self
        try:
            self._start_http()
        except BaseException:
            self.stop()
            raise
        return self

    def start_pubsub(self, *, relay: bool) -> Servers:
        """Add the Pub/Sub port (gRPC and REST): in a relay process, or in this one."""
        self.start()
        if self.pubsub_port:
            return self
        try:
            if relay:
                self.pubsub_port = self._start_relay(self.link_url)
            else:
                self.pubsub_port = self._start_grpc_here()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_http(self) -> None:
        from pytest_gcpfakes.server._http import serve_wsgi, storage_server_app
        from pytest_gcpfakes.server._pubsub_rest import PubSubRestApp

        self._caller = _local_caller()
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Children forward their clients' requests with the address those clients used
        # (X-Forwarded-Proto/-Host), so that links in the answers lead back to the child.
        storage_app: WSGIApp = ProxyFix(storage_server_app, x_proto=1, x_host=1)
        if self._on_reset is not None:
            storage_app = _with_reset(storage_app, self._on_reset)
        storage_socket, link_socket = self._listeners or (None, None)
        self._listeners = None
        storage = serve_wsgi(
            storage_app,
            host=self.host,
            port=self._storage_port,
            allow_remote=self._allow_remote,
            listener=storage_socket,
        )
        self._stops.append(storage.stop)
        self.storage_port = storage.port
        link_app = LinkApp(
            self._caller,
            on_reset=self._on_reset,
            info=self.info,
            fallback=PubSubRestApp(self._caller),
            # Children's Storage requests, served as in-process (no ProxyFix: they
            # arrive with the URL their client called).
            storage=_storage_for_link(self._on_reset),
        )
        link = serve_wsgi(link_app, host="127.0.0.1", port=0, listener=link_socket)
        self._stops.append(link.stop)
        self._link_port = link.port
        self.link_url = link.url
        unix = serve_unix(link_app)  # the same link, a fifth of the round trip
        if unix is not None:
            self._stops.append(unix.stop)
            self.link_url = with_unix(link.url, unix.path)

    def _start_grpc_here(self) -> int:
        from pytest_gcpfakes.server._grpc import start_grpc_server
        from pytest_gcpfakes.server._switch import Switch

        grpc_server = start_grpc_server(self._caller, host="127.0.0.1", port=0, unix=True)
        self._stops.append(lambda: grpc_server.stop(0))
        switch = Switch(
            grpc_server.unix_path or ("127.0.0.1", grpc_server.port),
            ("127.0.0.1", self._link_port),
            host=self.host,
            port=self._pubsub_port,
            allow_remote=self._allow_remote,
        )
        self._stops.append(switch.stop)
        return switch.port

    def _start_relay(self, link_url: str) -> int:
        command = [
            sys.executable,
            "-m",
            "pytest_gcpfakes.server._relay",
            "--link",
            link_url,
            "--host",
            self.host,
            "--port",
            str(self._pubsub_port),
        ]
        if self._allow_remote:
            command.append("--allow-remote")
        env = {k: v for k, v in os.environ.items() if k != LINK_ENV}
        # stdin is the relay's lifeline: it exits when this process closes it or dies.
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True
        )
        self.relay_process = process
        self._stops.append(lambda: _stop_relay(process))
        line = _read_line(process, _RELAY_START_SECONDS)
        if not line.startswith(RELAY_READY):
            raise RuntimeError(
                "pytest-gcpfakes: the Pub/Sub gRPC relay did not start "
                f"(exit code {process.poll()}, said {line!r}); run "
                "`python -m pytest_gcpfakes.server._relay --help` to see why."
            )
        return int(line.split()[1])

    def stop(self) -> None:
        """Stop every server, newest first (idempotent)."""
        while self._stops:
            stop = self._stops.pop()
            stop()
        self.pubsub_port = self.storage_port = self._link_port = 0
        self.link_url = ""

    # -- addresses -----------------------------------------------------------------------

    @property
    def pubsub_address(self) -> str:
        """``host:port`` of the Pub/Sub server (gRPC and REST), as PUBSUB_EMULATOR_HOST."""
        return f"{_url_host(self.host)}:{self.pubsub_port}"

    @property
    def storage_url(self) -> str:
        """``http://host:port`` of the Storage server, as STORAGE_EMULATOR_HOST."""
        return f"http://{_url_host(self.host)}:{self.storage_port}"

    def info(self) -> dict[str, Any]:
        """What a child process asks the link for: where Storage is, the active options."""
        import dataclasses

        from pytest_gcpfakes import _registry

        handle = _registry.peek("pubsub") or _registry.peek("storage")
        config = dataclasses.asdict(handle.config) if handle is not None else {}
        return {
            "storage_url": self.storage_url,
            "project": handle.project if handle is not None else _registry.client_project(),
            "config": config,
            "services": [s for s in _registry.SERVICES if _registry.peek(s) is not None],
        }

    @property
    def env(self) -> dict[str, str]:
        """The variables that point clients (and our child hook) at these servers."""
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub_address,
            "STORAGE_EMULATOR_HOST": self.storage_url,
            LINK_ENV: self.link_url,
        }


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _local_caller() -> Any:
    from pytest_gcpfakes.pubsub._service import LocalCaller

    return LocalCaller()


def _storage_for_link(on_reset: Callable[[], None] | None) -> WSGIApp:
    from pytest_gcpfakes.server._http import storage_server_app

    return storage_server_app if on_reset is None else _with_reset(storage_server_app, on_reset)


def _with_reset(app: WSGIApp, on_reset: Callable[[], None]) -> WSGIApp:
    """``app`` plus the reset route, so either server's address can wipe the state."""

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == f"{PREFIX}/reset" and environ["REQUEST_METHOD"] == "POST":
            on_reset()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
            return [b"reset\n"]
        return app(environ, start_response)

    return wrapper


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The relay's first line of output, or "" if it said nothing within ``timeout``."""
    assert process.stdout is not None
    result: list[bytes] = []
    reader = threading.Thread(
        target=lambda: result.append(process.stdout.readline()),  # type: ignore[union-attr]
        name="gcpfakes-relay-start",
        daemon=True,
    )
    reader.start()
    reader.join(timeout)
    return result[0].decode(errors="replace").strip() if result else ""


def _stop_relay(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


class GCPFakesServer:
    """What ``gcpfakes_server`` gives a test: the servers' addresses and an environment.

    The servers serve the test's own fakes (``fake_pubsub`` / ``fake_storage`` see what
    a subprocess writes, and the other way round). They live for the whole session (per
    pytest-xdist worker) at addresses picked by the OS, so they are safe in parallel runs.
    """

    def __init__(self, servers: Servers) -> None:
        self._servers = servers

    @property
    def pubsub_address(self) -> str:
        """``127.0.0.1:PORT``: Pub/Sub over gRPC and REST, as ``PUBSUB_EMULATOR_HOST``."""
        return self._servers.pubsub_address

    @property
    def storage_url(self) -> str:
        """``http://127.0.0.1:PORT``: Storage's JSON and XML APIs, as ``STORAGE_EMULATOR_HOST``."""
        return self._servers.storage_url

    @property
    def variables(self) -> dict[str, str]:
        """Just the servers' variables (``PUBSUB_EMULATOR_HOST`` …)."""
        return self._servers.env

    @property
    def env_names(self) -> tuple[str, ...]:
        """The names of :attr:`variables`."""
        return tuple(self._servers.env)

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` plus the servers' variables: ``subprocess.run(..., env=server.env)``.

        ``GCPFAKES_LINK`` makes a Python subprocess's clients reach this test's fakes
        through the plugin's start-up hook, which also records them; other programs use
        ``PUBSUB_EMULATOR_HOST`` and ``STORAGE_EMULATOR_HOST``. ``GCPFAKES_SESSION`` names
        this test: calls the subprocess makes after it has ended are refused.
        """
        from pytest_gcpfakes import _registry
        from pytest_gcpfakes._child import SESSION_ENV

        env = {**os.environ, **self._servers.env}
        session = _registry.active_session()
        if session is not None:
            env[SESSION_ENV] = str(session.session_id)
        return env

    def __repr__(self) -> str:
        return f"<GCPFakesServer pubsub={self.pubsub_address} storage={self.storage_url}>"
