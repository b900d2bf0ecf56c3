"""``gcpfakes`` (also ``python -m pytest_gcpfakes``): the fakes as standalone servers.

``gcpfakes serve`` prints, flushed, the two lines ``gcloud beta emulators pubsub
env-init`` would print for Google's emulator (Storage added), then serves until SIGINT or
SIGTERM::

    export PUBSUB_EMULATOR_HOST=127.0.0.1:8085
    export STORAGE_EMULATOR_HOST=http://127.0.0.1:9023

``gcpfakes reset`` wipes every topic, subscription, bucket and object of a running server.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

_STOP_SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    """Run the ``gcpfakes`` command line."""
    parser = argparse.ArgumentParser(
        prog="gcpfakes",
        description="In-memory Google Cloud Pub/Sub and Storage as loopback servers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve Pub/Sub (gRPC and REST) and Storage")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--pubsub-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--storage-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--project", default=None, help="default project of the fakes")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (the fakes have no authentication)",
    )
    reset = commands.add_parser("reset", help="wipe the state of a running `gcpfakes serve`")
    reset.add_argument(
        "--pubsub",
        default=None,
        help="HOST:PORT of its Pub/Sub server (default: $PUBSUB_EMULATOR_HOST)",
    )
    reset.add_argument(
        "--storage",
        default=None,
        help="http://HOST:PORT of its Storage server (default: $STORAGE_EMULATOR_HOST)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _reset(parser, args)


class _Session:
    """The fakes a CLI server serves; a reset swaps them for fresh ones."""

    def __init__(self, project: str | None) -> None:
        self._options: dict[str, Any] = {"project": project} if project else {}
        self._lock = threading.Lock()
        self.fakes = self._new()

    def _new(self) -> Any:
        from pytest_gcpfakes._fakes import GCPFakes

        fakes = GCPFakes(**self._options)
        fakes.__enter__()
        return fakes

    def reset(self) -> None:
        with self._lock:
            old, self.fakes = self.fakes, self._new()
            old.close()

    def close(self) -> None:
        with self._lock:
            self.fakes.close()


def _serve(args: argparse.Namespace) -> int:
    from pytest_gcpfakes._hosts import check_listen_host
    from pytest_gcpfakes.server._servers import Servers

    try:
        check_listen_host(args.host, args.allow_remote)
    except ValueError as error:
        print(f"gcpfakes: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    session = _Session(args.project)
    servers = Servers(
        host=args.host,
        pubsub_port=args.pubsub_port,
        storage_port=args.storage_port,
        allow_remote=args.allow_remote,
        on_reset=session.reset,
    )
    try:
        servers.start_pubsub(relay=False)  # this process never forks: gRPC in-process
    except OSError as error:  # a port in use, most likely
        session.close()
        print(f"gcpfakes: {error}", file=sys.stderr)
        return 2
    env = servers.env
    print(f"export PUBSUB_EMULATOR_HOST={env['PUBSUB_EMULATOR_HOST']}")
    print(f"export STORAGE_EMULATOR_HOST={env['STORAGE_EMULATOR_HOST']}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        # Bounded: the process must be gone within seconds of SIGTERM, even with clients
        # still connected (open streaming pulls are cancelled).
        closer = threading.Thread(target=_shut_down, args=(servers, session), daemon=True)
        closer.start()
        closer.join(_STOP_SECONDS - 1)
    return 0


def _shut_down(servers: Any, session: _Session) -> None:
    session.close()
    servers.stop()


def _reset(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import http.client
    from urllib.parse import urlsplit

    from pytest_gcpfakes.server._link import PREFIX

    pubsub = args.pubsub or os.environ.get("PUBSUB_EMULATOR_HOST")
    storage = args.storage or os.environ.get("STORAGE_EMULATOR_HOST")
    if pubsub:
        target = urlsplit(f"http://{pubsub}")
    elif storage:
        target = urlsplit(storage if "://" in storage else f"http://{storage}")
    else:
        parser.error("name a server: --pubsub HOST:PORT, --storage URL, or set the variables")
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
    try:
        conn.request("POST", f"{PREFIX}/reset", body=b"")
        response = conn.getresponse()
        response.read()
    except OSError as error:
        print(f"gcpfakes: cannot reach {target.netloc}: {error}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if response.status != 200:
        print(f"gcpfakes: {target.netloc} answered {response.status} to reset", file=sys.stderr)
        return 1
    return 0
