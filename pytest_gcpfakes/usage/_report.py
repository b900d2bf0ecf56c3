"""Failure messages, the terminal summary and the JSON export of a ``Recording``.

Messages follow STYLE.md: a headline with counts, then per client its class, creation site,
creating thread and request and a ``- `` line per request (thread, first call site, overlap),
a ``summary:`` key line, one ``Hint:`` with the fix and a ``Docs:`` anchor. Lists are capped,
thread names are ``repr()``-ed and user-controlled text that would not print on one line is too.

JSON schema, version 1 (``to_json``; plain JSON types only, the HTML report reads it):

=====================================  ======================================================
field                                  meaning
=====================================  ======================================================
``version``                            ``1``; bumped on any incompatible change
``clients[]``                          one object per client, by serial
``clients[].serial``                   int, the client's number in this recording (``#3``)
``clients[].class_name``               str, ``"PublisherClient"``, ``"storage.Client"``, …
``clients[].label``                    str, ``"PublisherClient #3"``
``clients[].created_at``               site object (below): where user code created it
``clients[].created_thread``           str, name of the creating thread
``clients[].created_thread_ident``     int, ident of the creating thread
``clients[].created_request``          int or null, serial of the request that created it
``clients[].pid``                      int, process that created it
``clients[].created_seq``              int, logical time of creation
``clients[].closed_seq``               int or null, logical time of ``close()``/``stop()``
``clients[].closed_at``                site object or null: where it was closed
``requests[]``                         one object per request, by serial
``requests[].serial``                  int, the request's number in this recording
``requests[].method``                  str, ``"GET"``; ``""`` for a ``request_scope``
``requests[].path``                    str, ``"/upload"`` or the scope's name
``requests[].label``                   str, ``"GET /upload"``
``requests[].thread``                  str, name of the thread that ran the request
``requests[].thread_ident``            int
``requests[].pid``                     int
``requests[].start_seq``               int, logical time the request started
``requests[].end_seq``                 int or null (still running), when its app context
                                       was popped
``uses[]``                             one object per use, in logical order
``uses[].seq``                         int, logical time; unique within a recording
``uses[].end_seq``                     int or null, logical time the call returned
``uses[].client``                      int, serial of the client used
``uses[].method``                      str, ``"publish"``, ``"Blob.upload_from_string"``, …
``uses[].thread``                      str, name of the calling thread
``uses[].thread_ident``                int
``uses[].request``                     int or null (outside any request)
``uses[].pid``                         int
``uses[].site``                        site object: the call site in user code
``findings[]``                         the verdicts passed in, in that order
``findings[].kind``                    str: ``"shared"``, ``"shared-sequentially"``,
                                       ``"near-miss"``, ``"leaked"``, ``"used-after-close"``,
                                       ``"cross-process"``
``findings[].client``                  int, serial of the client judged
``findings[].requests``                list of int, serials of the requests involved
``findings[].uses``                    list of int, ``seq`` of the evidence uses (see
                                       ``_analysis``: window ends, last use, late uses)
``findings[].summary``                 str, the de-duplication key line
site object                            ``{"filename": str, "lineno": int,
                                       "function": str, "display": "app.py:12"}``
=====================================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pytest_gcpfakes.usage._analysis import (
    CROSS_PROCESS,
    LEAKED,
    NEAR_MISS,
    SHARED,
    SHARED_SEQUENTIALLY,
    USED_AFTER_CLOSE,
    WindowStats,
    printable,
    request_label,
    request_windows,
)
from pytest_gcpfakes.usage._model import (
    CallSite,
    ClientInfo,
    Finding,
    Recording,
    RequestInfo,
    Use,
)

JSON_VERSION = 1
MAX_CLIENTS = 20
MAX_LINES = 10  # requests (or late uses) listed per client

DOCS = "https://pytest-gcpfakes.readthedocs.io/en/latest/assertions.html"

# How each client class is closed, for the hints; unknown classes get the generic close().
_CLOSE = {
    "storage.Client": "close()",
    "SubscriberClient": "close()",
    "PublisherClient": "stop() or `with`",
    "SchemaServiceClient": "`with` or transport.close()",
}

_VERDICTS = {
    SHARED: "shared",
    SHARED_SEQUENTIALLY: "shared sequentially",
    NEAR_MISS: "near miss",
    LEAKED: "leaked",
    USED_AFTER_CLOSE: "used after close",
    CROSS_PROCESS: "used in another process",
}


class _Index:
    """Lookups by serial, built once per message (``Recording.client`` is a linear scan)."""

    def __init__(self, rec: Recording) -> None:
        self.clients = {info.serial: info for info in rec.clients}
        self.requests = {info.serial: info for info in rec.requests}

    def created(self, serial: int) -> str:
        """``PublisherClient #1, created at app.py:12 in 'MainThread' (outside any request)``."""
        client = self.clients[serial]
        if client.created_request is None:
            during = "(outside any request)"
        else:
            during = f"during {request_label(self.requests, client.created_request)}"
        thread = client.created_thread
        return f"{client.label}, created at {client.created_at} in {thread!r} {during}"

    def class_names(self, findings: Iterable[Finding]) -> list[str]:
        """The distinct classes of the judged clients, in order of first appearance."""
        names = (self.clients[finding.client].class_name for finding in findings)
        return [printable(name) for name in dict.fromkeys(names)]


def sharing_message(
    rec: Recording, failures: Sequence[Finding], near_misses: Sequence[Finding], *, strict: bool
) -> str:
    """The AssertionError text of ``assert_no_cross_request_sharing``."""
    index = _Index(rec)
    if strict:
        headline = f"{_clients(len(failures))} used by more than one request (strict=True)."
    else:
        headline = f"{_clients(len(failures))} in use by concurrent requests."
    lines = [headline]
    windows = request_windows(rec)
    for finding in failures[:MAX_CLIENTS]:
        lines += _sharing_block(index, finding, windows.get(finding.client, []), near=False)
    _more_clients(lines, len(failures))
    classes = ", ".join(index.class_names(failures))
    fix = _per_request_fix(index.class_names(failures))
    if strict:
        lines.append(
            f"Hint: strict=True wants one client per request: {fix}, or allow it: "
            f"assert_no_cross_request_sharing(allow=[{classes}], strict=True)."
        )
    else:
        lines.append(
            f"Hint: {fix}, or hand clients out from a pool, or allow it: "
            f"assert_no_cross_request_sharing(allow=[{classes}])."
        )
    lines.append(f"Docs: {DOCS}#sharing")
    if near_misses:
        lines.append(near_miss_note(rec, near_misses))
    return "\n".join(lines)


def near_miss_note(rec: Recording, near_misses: Sequence[Finding]) -> str:
    """The ``Note:`` section about near misses, for a failure message or on its own."""
    index = _Index(rec)
    lines = [
        f"Note: {_clients(len(near_misses))} passed between requests that were live at the "
        "same time, but never in use by two at once (a near miss, not a failure)."
    ]
    windows = request_windows(rec)
    for finding in near_misses[:MAX_CLIENTS]:
        lines += _sharing_block(index, finding, windows.get(finding.client, []), near=True)
    _more_clients(lines, len(near_misses))
    lines.append(
        "Hint: if these requests can use one client at once in production, make the overlap "
        "certain in the test with rendezvous() or a threading.Barrier."
    )
    return "\n".join(lines)


def leak_message(rec: Recording, findings: Sequence[Finding]) -> str:
    """The AssertionError text of ``assert_no_leaked_clients``."""
    index = _Index(rec)
    lines = [
        f"{_clients(len(findings))} leaked: created in a request, not closed by its end, "
        "and not used by any later request."
    ]
    for finding in findings[:MAX_CLIENTS]:
        client = index.clients[finding.client]
        if client.closed_seq is None:
            fate = "never closed"
        elif client.closed_at is not None:
            fate = f"closed at {client.closed_at} only after the request ended"
        else:
            fate = "closed only after the request ended"
        lines.append(f"{index.created(finding.client)}, {fate}:")
        owner = finding.requests[0] if finding.requests else client.created_request
        request = index.requests.get(owner) if owner is not None else None
        thread = request.thread if request is not None else client.created_thread
        where = "never used it"
        if finding.uses:
            thread = finding.uses[-1].thread
            where = f"last used it at {finding.uses[-1].site}"
        label = request_label(index.requests, owner) if owner is not None else "?"
        lines.append(f"- {label}  thread={thread!r}  {where}")
        lines.append(f"summary: {finding.summary}")
    _more_clients(lines, len(findings))
    closing = _closing(index.class_names(findings))
    lines.append(
        "Hint: close it when its request ends: keep it on flask.g and close it in "
        f"teardown_appcontext ({closing}), or keep it for later requests in a pool."
    )
    lines.append(f"Docs: {DOCS}#leaks")
    return "\n".join(lines)


def use_after_close_message(rec: Recording, findings: Sequence[Finding]) -> str:
    """The AssertionError text of ``assert_no_use_after_close``."""
    index = _Index(rec)
    lines = [f"{_clients(len(findings))} used after being closed."]
    for finding in findings[:MAX_CLIENTS]:
        client = index.clients[finding.client]
        closed = f"closed at {client.closed_at}" if client.closed_at is not None else "closed"
        lines.append(f"{index.created(finding.client)}, {closed}, then used by:")
        for use in finding.uses[:MAX_LINES]:
            who = (
                "(outside any request)"
                if use.request is None
                else request_label(index.requests, use.request)
            )
            lines.append(f"- {who}  thread={use.thread!r}  at {use.site}  {use.method}()")
        _more(lines, len(finding.uses) - MAX_LINES)
        lines.append(f"summary: {finding.summary}")
    _more_clients(lines, len(findings))
    lines.append(
        "Hint: close a client only when nothing will use it again (a per-request client in "
        "teardown_appcontext, which runs after the view and teardown_request), or create a "
        "new one after close()."
    )
    lines.append(f"Docs: {DOCS}#use-after-close")
    return "\n".join(lines)


def cross_process_message(rec: Recording, findings: Sequence[Finding]) -> str:
    """The AssertionError text of ``assert_no_cross_process_sharing``."""
    index = _Index(rec)
    lines = [f"{_clients(len(findings))} used in a process other than the one that created it."]
    for finding in findings[:MAX_CLIENTS]:
        client = index.clients[finding.client]
        lines.append(f"{index.created(finding.client)}, pid {client.pid}, then used in:")
        for use in finding.uses[:MAX_LINES]:
            who = (
                "(outside any request)"
                if use.request is None
                else request_label(index.requests, use.request)
            )
            lines.append(
                f"- pid {use.pid}  {who}  thread={use.thread!r}  at {use.site}  {use.method}()"
            )
        _more(lines, len(finding.uses) - MAX_LINES)
        lines.append(f"summary: {finding.summary}")
    _more_clients(lines, len(findings))
    lines.append(
        "Hint: build clients after the fork: in gunicorn's post_fork or post_worker_init "
        "hook, or lazily once per worker process; with --preload keep no module-level "
        "clients (a gRPC client does not survive fork(), and forked copies share one "
        "connection pool)."
    )
    lines.append(f"Docs: {DOCS}#processes")
    return "\n".join(lines)


def summary_lines(rec: Recording, findings: Iterable[Finding]) -> list[str]:
    """One line per client for the terminal summary: site, requests, threads, verdicts."""
    verdicts: dict[int, list[str]] = {}
    for finding in findings:
        verdict = _VERDICTS.get(finding.kind, finding.kind)
        if verdict not in verdicts.setdefault(finding.client, []):
            verdicts[finding.client].append(verdict)
    requests_of: dict[int, set[int]] = {}
    threads_of: dict[int, dict[str, None]] = {}
    for use in rec.uses:
        if use.request is not None:
            requests_of.setdefault(use.client, set()).add(use.request)
        threads_of.setdefault(use.client, {})[use.thread] = None
    lines = []
    for client in sorted(rec.clients, key=lambda info: info.serial):
        used = _count(len(requests_of.get(client.serial, ())), "request")
        threads = list(threads_of.get(client.serial, {}))
        shown = ", ".join(repr(name) for name in threads[:3])
        if len(threads) > 3:
            shown += f" … and {len(threads) - 3} more"
        by = f"  threads {shown}" if threads else "  unused"
        verdict = ", ".join(verdicts.get(client.serial, ["ok"]))
        lines.append(f"{client.label}  created at {client.created_at}  {used}{by}  {verdict}")
    return lines


def to_json(rec: Recording, findings: Iterable[Finding]) -> dict[str, object]:
    """The versioned, documented JSON form of a recording and its verdicts (module docstring)."""
    # A few call sites recur in thousands of uses, and ``str(site)`` costs an os.path.relpath.
    displays: dict[CallSite, str] = {}

    def site_json(site: CallSite) -> dict[str, object]:
        display = displays.get(site)
        if display is None:
            display = displays[site] = str(site)
        return _site_json(site, display)

    return {
        "version": JSON_VERSION,
        "clients": [_client_json(info) for info in sorted(rec.clients, key=_serial)],
        "requests": [_request_json(info) for info in sorted(rec.requests, key=_serial)],
        "uses": [_use_json(use, site_json) for use in sorted(rec.uses, key=lambda use: use.seq)],
        "findings": [
            {
                "kind": finding.kind,
                "client": finding.client,
                "requests": list(finding.requests),
                "uses": [use.seq for use in finding.uses],
                "summary": finding.summary,
            }
            for finding in findings
        ],
    }


def _sharing_block(
    index: _Index, finding: Finding, stats: list[WindowStats], *, near: bool
) -> list[str]:
    """A client's lines: header, one line per request that used it (capped), summary."""
    involved = set(finding.requests)
    # Under the cap the requests the verdict is about come first; shown in time order.
    ranked = sorted(stats, key=lambda item: item.window.request not in involved)
    shown = sorted(ranked[:MAX_LINES], key=lambda item: item.window.first.seq)
    lines = [f"{index.created(finding.client)}, used by:"]
    for item in shown:
        first = item.window.first
        line = (
            f"- {request_label(index.requests, item.window.request)}"
            f"  thread={first.thread!r}  at {first.site}"
        )
        if near and item.near:
            line += f"  live alongside {_count(item.near, 'other')}"
        elif not near and item.at_once:
            line += f"  at once with {_count(item.at_once, 'other')}"
        lines.append(line)
    _more(lines, len(stats) - MAX_LINES)
    lines.append(f"summary: {finding.summary}")
    return lines


def _per_request_fix(classes: Sequence[str]) -> str:
    return (
        "create the client per request on flask.g and close it in teardown_appcontext "
        f"({_closing(classes)})"
    )


def _closing(classes: Sequence[str]) -> str:
    """``PublisherClient: stop() or `with`; storage.Client: close()``."""
    return "; ".join(f"{name}: {_CLOSE.get(name, 'close()')}" for name in classes)


def _more_clients(lines: list[str], total: int) -> None:
    if total > MAX_CLIENTS:
        lines.append(f"… and {total - MAX_CLIENTS} more clients")


def _more(lines: list[str], hidden: int) -> None:
    if hidden > 0:
        lines.append(f"- … and {hidden} more")


def _clients(count: int) -> str:
    return f"{_count(count, 'client')} {'was' if count == 1 else 'were'}"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _serial(info: ClientInfo | RequestInfo) -> int:
    return info.serial


def _site_json(site: CallSite, display: str | None = None) -> dict[str, object]:
    return {
        "filename": site.filename,
        "lineno": site.lineno,
        "function": site.function,
        "display": str(site) if display is None else display,
    }


def _client_json(info: ClientInfo) -> dict[str, object]:
    return {
        "serial": info.serial,
        "class_name": info.class_name,
        "label": info.label,
        "created_at": _site_json(info.created_at),
        "created_thread": info.created_thread,
        "created_thread_ident": info.created_thread_ident,
        "created_request": info.created_request,
        "pid": info.pid,
        "created_seq": info.created_seq,
        "closed_seq": info.closed_seq,
        "closed_at": _site_json(info.closed_at) if info.closed_at is not None else None,
    }


def _request_json(info: RequestInfo) -> dict[str, object]:
    return {
        "serial": info.serial,
        "method": info.method,
        "path": info.path,
        "label": info.label,
        "thread": info.thread,
        "thread_ident": info.thread_ident,
        "pid": info.pid,
        "start_seq": info.start_seq,
        "end_seq": info.end_seq,
    }


def _use_json(use: Use, site_json: Callable[[CallSite], dict[str, object]]) -> dict[str, object]:
    return {
        "seq": use.seq,
        "end_seq": use.end_seq,
        "client": use.client,
        "method": use.method,
        "thread": use.thread,
        "thread_ident": use.thread_ident,
        "request": use.request,
        "pid": use.pid,
        "site": site_json(use.site),
    }
