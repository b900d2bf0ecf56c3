"""A loopback HTTP server for any WSGI app, and the app that serves the current Storage fake.

The server is werkzeug's threaded one (a maintained server, not a socket loop of ours),
run in a daemon thread of this process, with a request handler that keeps what WSGI
loses and stays quiet:

- header names containing ``_`` (``x-goog-meta-key_a``): werkzeug drops them from the
  environ (``WSGIRequestHandler.make_environ``, 3.1), as waitress and gunicorn do, because
  ``HTTP_*`` keys cannot tell them from ``-``. The handler passes every header as sent in
  ``environ["gcpfakes.raw_headers"]``, the key the in-process adapter fills too;
- chunked bodies: werkzeug decodes them and sets ``wsgi.input_terminated``, which the
  Storage app reads to the end (``storage._wire``);
- no request log lines on stderr.

An exception escaping the app is answered 500, kept on ``HttpServer.errors`` and raised
again by ``HttpServer.check()`` on the caller's thread (pytest-httpserver's ``check()``):
a server thread must never swallow one.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from pytest_gcpfakes import _registry
from pytest_gcpfakes._hosts import check_listen_host
from pytest_gcpfakes.storage._wire import RAW_HEADERS

__all__ = ["HttpServer", "serve_wsgi", "storage_server_app"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

STOP_SECONDS = 5.0
_POLL_SECONDS = 0.05  # how soon the serving loop sees stop(); it idles in select() between
_BACKLOG = 128  # werkzeug's own LISTEN_QUEUE

NO_STORAGE_FAKE = (
    "No Cloud Storage fake is active in the process behind this server: activate one with "
    "the fake_storage fixture, or with `with GCPFakes():` outside pytest."
)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, keeping header names with ``_``, logging nothing."""

    # Answers are written in several small sends (status, headers, body): with Nagle's
    # algorithm on, each exchange could wait for a delayed ACK (socketserver's own switch).
    disable_nagle_algorithm = True
    # Buffered: the status line, headers and a small body leave in one send. werkzeug
    # flushes after every chunk of a body, so streamed answers (the link) still flow. A
    # client that never reads an answer's body (gcloud-aio-pubsub's acks) then never finds
    # it arriving after the connection is given back.
    wbufsize = -1

    def make_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().make_environ()
        # self.headers is the request's own header block (http.client.HTTPMessage):
        # names as sent, every one of them.
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ

    def log(self, type: str, message: str, *args: Any) -> None:
        """Request lines and protocol errors stay off stderr (clients see the status)."""


class HttpServer:
    """A WSGI app served on a loopback port by werkzeug's threaded server."""

    def __init__(self, server: BaseWSGIServer, errors: list[BaseException]) -> None:
        self._server = server
        self.host: str = server.host
        self.port: int = int(server.port)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        self.errors = errors
        """Exceptions the app raised while serving, oldest first."""
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"gcpfakes-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        _registry.serving(self.port, up=True)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop serving, wait (at most ``timeout`` seconds) for the thread, free the port.

        Idempotent. Requests still being answered finish in their own daemon threads.
        """
        if self._thread.is_alive():
            # serve_forever() checks for shutdown every poll interval, so this returns
            # within one of them; werkzeug closes the listening socket on the way out.
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.server_close()
        _registry.serving(self.port, up=False)

    def check(self) -> None:
        """Raise the first exception the app raised while serving, if any."""
        __tracebackhide__ = True
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<HttpServer {self.url}>"


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket for :func:`serve_wsgi`, bound now and served later.

    Connections made before it is served wait in its backlog: a child forked before the
    fakes were active may learn the address at fork time and be answered once they are.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=_BACKLOG)


def serve_wsgi(
    app: WSGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    listener: socket.socket | None = None,
) -> HttpServer:
    """Serve ``app`` on ``host:port`` (0: a free port) in a daemon thread; return the server.

    Only loopback addresses unless ``allow_remote=True``: the fakes check no credentials.
    ``listener`` (from :func:`listen`) serves a socket bound earlier instead.
    """
    if listener is not None:
        host, port = listener.getsockname()[:2]
    check_listen_host(host, allow_remote)
    errors: list[BaseException] = []
    # Bound here rather than by werkzeug, which answers a port in use with sys.exit(1).
    if listener is None:
        listener = listen(host, port)
    try:
        server = make_server(
            host,
            port,
            _kept_errors(app, errors),
            threaded=True,
            request_handler=_RequestHandler,
            fd=listener.fileno(),  # werkzeug serves a duplicate of this descriptor
        )
    finally:
        listener.close()
    return HttpServer(server, errors)


def _kept_errors(app: WSGIApp, errors: list[BaseException]) -> WSGIApp:
    """Wrap ``app``: an exception it raises is kept in ``errors`` and answered 500."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            result = app(environ, start_response)
            if isinstance(result, list):
                return result
            # A streamed body (the link's frames) must go out as it is produced: drawing it
            # all here would hold every frame of a stream until the stream ends.
            return _streamed(result, errors)
        except Exception as error:
            errors.append(error)
            body = (
                f"pytest-gcpfakes: the app behind this server raised {type(error).__name__}; "
                "the test sees it at teardown."
            ).encode()
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
                sys.exc_info(),
            )
            return [body]

    return serve


def _streamed(result: Iterable[bytes], errors: list[BaseException]) -> Iterable[bytes]:
    """Yield ``result``'s chunks; an error while producing them is kept, the answer cut."""
    try:
        yield from result
    except Exception as error:  # the status line is already sent: keep it for check()
        errors.append(error)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def storage_server_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """WSGI app serving whichever Storage fake is current when each request arrives.

    So one long-lived server follows every test's fresh fake. With none active it answers
    400 ``failedPrecondition`` (as ``FakeNotActiveError`` is in-process) with a GCS-style
    JSON error body saying how to activate one: a status no client retries, so the call
    fails at once instead of after two minutes of retried 503s.
    """
    from pytest_gcpfakes._errors import FakeNotActiveError, LateCallError
    from pytest_gcpfakes._sessions import check_remote

    try:
        check_remote(environ, "storage")  # a late call of an ended test's child process
        handle = _registry.current("storage")
    except FakeNotActiveError:
        return _no_storage_fake(start_response)
    except LateCallError as error:
        return _refused(start_response, str(error.message))
    result: Iterable[bytes] = handle.app(environ, start_response)
    return result


def _no_storage_fake(start_response: Callable[..., Any]) -> Iterable[bytes]:
    return _refused(start_response, NO_STORAGE_FAKE)


def _refused(start_response: Callable[..., Any], message: str) -> Iterable[bytes]:
    """400 ``failedPrecondition`` in GCS's JSON shape: a refusal no client retries."""
    detail = {"message": message, "domain": "global", "reason": "failedPrecondition"}
    body = json.dumps({"error": {"code": 400, "message": message, "errors": [detail]}}).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/json; charset=UTF-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
