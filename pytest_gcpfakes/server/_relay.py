"""The Pub/Sub gRPC relay: a process started with exec that hosts the gRPC face.

It serves gRPC (and, through the switch, HTTP/1.1) on the public Pub/Sub port and forwards
every call over the link to the process that owns the fakes, so that process hosts no
gRPC server and can fork (see ``_link``). It prints one line when ready and exits when its
standard input closes: the owning process ending, however it ends, ends the relay too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    """Run the relay until stdin closes or SIGTERM/SIGINT arrives."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_gcpfakes.server._relay",
        description="Serve Pub/Sub gRPC on a port and forward calls to a pytest-gcpfakes link.",
    )
    parser.add_argument("--link", required=True, help="the link URL (http://127.0.0.1:PORT)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--allow-remote", action="store_true")
    args = parser.parse_args(argv)

    from pytest_gcpfakes.server._grpc import start_grpc_server
    from pytest_gcpfakes.server._link import RemoteCaller
    from pytest_gcpfakes.server._servers import RELAY_READY
    from pytest_gcpfakes.server._switch import Switch

    link = RemoteCaller(args.link)
    grpc_server = start_grpc_server(link, host="127.0.0.1", port=0, unix=True)
    try:
        switch = Switch(
            grpc_server.unix_path or ("127.0.0.1", grpc_server.port),
            (link.host, link.port),
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
        )
    except BaseException:
        grpc_server.stop(0)
        raise
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())

    def lifeline() -> None:
        sys.stdin.buffer.read()
        done.set()

    threading.Thread(target=lifeline, name="gcpfakes-relay-lifeline", daemon=True).start()
    print(f"{RELAY_READY} {switch.port}", flush=True)
    try:
        while not done.wait(1.0):
            pass
    finally:
        switch.stop()
        grpc_server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
