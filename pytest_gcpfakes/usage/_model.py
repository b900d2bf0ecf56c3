"""What the recorder records: clients, requests, uses. Plain, immutable data.

Order is logical (``seq`` values from ``_clock.logical_now()``), never wall time: under
freezegun every timestamp would be equal and every pair of requests would look concurrent.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallSite:
    """A place in the user's code: the first frame outside the libraries."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.short_filename}:{self.lineno}"

    @property
    def short_filename(self) -> str:
        """The file name relative to the working directory when inside it."""
        import os

        try:
            relative = os.path.relpath(self.filename)
        except ValueError:  # another drive (Windows)
            return self.filename
        return self.filename if relative.startswith("..") else relative


@dataclass(frozen=True)
class ClientInfo:
    """One GCP client object: where, by which thread and in which request it was created."""

    serial: int
    class_name: str  # "PublisherClient", "SubscriberClient", "storage.Client", …
    created_at: CallSite
    created_thread: str
    created_thread_ident: int
    created_request: int | None  # the serial of a RequestInfo, or None
    pid: int
    created_seq: int
    closed_seq: int | None = None
    closed_at: CallSite | None = None

    @property
    def closed(self) -> bool:
        return self.closed_seq is not None

    @property
    def label(self) -> str:
        """``PublisherClient #3``: how reports name the client."""
        return f"{self.class_name} #{self.serial}"


@dataclass(frozen=True)
class RequestInfo:
    """One request (a Flask request context, a WSGI call, or a ``request_scope``)."""

    serial: int
    method: str  # "GET", or "" for a request_scope
    path: str  # "/upload", or the request_scope's name
    thread: str
    thread_ident: int
    pid: int
    start_seq: int
    end_seq: int | None = None  # None while the request is still running

    @property
    def label(self) -> str:
        """``GET /upload`` (or the scope name)."""
        return f"{self.method} {self.path}".strip()

    def overlaps(self, other: RequestInfo) -> bool:
        """Whether the two requests' lifetimes overlapped (a running request never ends)."""
        end = self.end_seq if self.end_seq is not None else float("inf")
        other_end = other.end_seq if other.end_seq is not None else float("inf")
        return self.start_seq < other_end and other.start_seq < end


@dataclass(frozen=True)
class Use:
    """One public-API call on a client (or an object derived from it) by user code."""

    client: int  # ClientInfo.serial
    method: str  # "publish", "Blob.upload_from_string", "Future.result", …
    thread: str
    thread_ident: int
    request: int | None  # RequestInfo.serial, or None outside any request
    pid: int
    site: CallSite
    seq: int
    end_seq: int | None = None  # when the call returned; None if it has not (or unknown)

    @property
    def end(self) -> int:
        """The logical time the client was last in use by this call (its return)."""
        return self.end_seq if self.end_seq is not None else self.seq


@dataclass(frozen=True)
class Finding:
    """One verdict about one client, as the assertions and the summary report it."""

    kind: str  # "shared", "near-miss", "leaked", "used-after-close", "shared-sequentially"
    client: int
    requests: tuple[int, ...] = ()
    uses: tuple[Use, ...] = ()
    summary: str = ""  # the de-duplication key line, e.g. "shared-client PublisherClient app.py:12"


@dataclass(frozen=True)
class Recording:
    """Everything recorded during one test (or one ``GCPFakes`` block)."""

    clients: tuple[ClientInfo, ...] = ()
    requests: tuple[RequestInfo, ...] = ()
    uses: tuple[Use, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    def client(self, serial: int) -> ClientInfo:
        """Return the client with this serial."""
        for info in self.clients:
            if info.serial == serial:
                return info
        raise KeyError(serial)

    def request(self, serial: int) -> RequestInfo:
        """Return the request with this serial."""
        for info in self.requests:
            if info.serial == serial:
                return info
        raise KeyError(serial)
