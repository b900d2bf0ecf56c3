"""HTTP requests and answers of the Storage app: what every face of it reads and writes.

Routing uses the raw, still-percent-encoded path (``RAW_URI``): object names may contain
``/``, which the client sends as ``%2F`` inside one path segment.

The request reads the same on every face: in-process (the ``requests`` adapter builds
the environ) and over loopback HTTP (werkzeug's server). Two things WSGI loses are kept
by both: a body sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``), and
header names containing ``_``, which the ``HTTP_*`` keys fold into ``-`` (servers drop such
headers rather than guess); both faces hand the raw header list over in
:data:`RAW_HEADERS`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote_plus, unquote_to_bytes, urlsplit

from pytest_gcpfakes.storage import _errors
from pytest_gcpfakes.storage._backend import Preconditions, StorageBackend

StartResponse = Callable[..., Any]

#: The most bytes GCS takes in one request: "The maximum size of a single upload request
#: is also 5 TB" (cloud.google.com/storage/quotas), 5 TiB. A longer Content-Length is
#: refused before any of the body is read.
MAX_REQUEST_BYTES = 5 * 1024**4

# ASCII digits only: "٣" is a digit to \d, str.isdigit() and int(), never to HTTP or GCS.
_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")

#: The environ key under which a face passes the request's headers as sent: a list of
#: ``(name, value)`` pairs, names in their own case, ``_`` intact.
RAW_HEADERS = "gcpfakes.raw_headers"


def build_environ(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    payload: bytes,
    *,
    chunked: bool = False,
) -> dict[str, Any]:
    """The WSGI environ a server would build for a request to ``url``.

    ``chunked``: the body came without a ``Content-Length``, as a server that decodes
    chunks hands it over (``wsgi.input_terminated``). Header names containing ``_`` are
    kept in :data:`RAW_HEADERS` only, as servers do.
    """
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": parts.path,
        "RAW_URI": parts.path + (f"?{parts.query}" if parts.query else ""),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(payload),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if chunked:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(len(payload))
    raw_headers = []
    for key, text in headers:
        raw_headers.append((key, text))
        if "_" in key:
            continue  # HTTP_* cannot tell "_" from "-": only in RAW_HEADERS, as servers do
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
        elif name != "CONTENT_LENGTH":
            environ[f"HTTP_{name}"] = text
    environ[RAW_HEADERS] = raw_headers
    return environ


STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content",
    303: "See Other",
    304: "Not Modified",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    416: "Requested Range Not Satisfiable",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


_HEADER_KEYS: dict[str, str] = {}
"""WSGI environ keys of header names (``X-Goog-Hash`` -> ``HTTP_X_GOOG_HASH``): each
request reads about five headers, and the names are a handful of constants."""


_PRECONDITION_PARAMS = frozenset(
    (
        "ifGenerationMatch",
        "ifGenerationNotMatch",
        "ifMetagenerationMatch",
        "ifMetagenerationNotMatch",
    )
)
_NO_PRECONDITIONS = Preconditions()
_NONE: frozenset[str] = frozenset()


class Request:
    """The parts of a WSGI request the Storage app needs."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.method: str = environ["REQUEST_METHOD"]
        raw = (
            environ.get("RAW_URI")
            or environ.get("REQUEST_URI")
            or quote(environ.get("PATH_INFO", ""))
        )
        # ASCII text is as sent on every face (the test _as_sent begins with, inlined).
        self.path = (raw if raw.isascii() else _as_sent(environ, raw)).split("?", 1)[0]
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            query = _as_sent(environ, query)
        undecodable: set[str] = set()
        self.query = parse_query(query, undecodable)
        #: Parameters whose value is not UTF-8 once percent-decoded (read with U+FFFD).
        self.undecodable = frozenset(undecodable) if undecodable else _NONE
        #: Parameters the query names more than once (``parse_query`` keeps the last).
        self.repeated = repeated_names(query) if "&" in query else _NONE
        self.content_type: str = environ.get("CONTENT_TYPE", "")
        self.environ = environ
        # Both are read on every request (links, notifications, routing by host): made
        # here rather than on first read, which cost a descriptor call each.
        #: Scheme and host the request was sent to (:meth:`_base_url`).
        self.base_url = self._base_url(environ)
        #: The host the client addressed, ``name[:port]`` (:meth:`_host`).
        self.host = self._host(environ, self.base_url)
        self.signed = False  # a signed URL's request: answered as the XML API answers
        #: The bucket the host names (virtual-hosted-style or a bucket-bound hostname),
        #: set by the app before routing; ``None``: the path names it, if anything does.
        self.host_bucket: str | None = None
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        """The whole request body, read once; the app reads it first thing, so that a
        Content-Length that cannot be right is answered like any other bad request.

        Not ``functools.cached_property``: on Python 3.11 it takes a lock on every first
        read (3.12 dropped it), and a Request is read by the one thread serving it.
        """
        body = self._body
        if body is None:
            body = self._body = _read_body(self.environ)
        return body

    @staticmethod
    def _base_url(environ: dict[str, Any]) -> str:
        """Scheme and host the request was sent to: every link in an answer starts here.

        The client follows ``mediaLink`` and session URIs verbatim, so links must name the
        face that was asked: ``https://storage.gcpfakes.invalid`` in-process, the server's
        own address and port over loopback HTTP (PEP 3333's URL reconstruction).
        """
        scheme = str(environ.get("wsgi.url_scheme") or "http")
        host = environ.get("HTTP_HOST")
        if not host:
            host = str(environ.get("SERVER_NAME", ""))
            port = str(environ.get("SERVER_PORT", ""))
            if port and port != ("443" if scheme == "https" else "80"):
                host = f"{host}:{port}"
        return f"{scheme}://{host}"

    @staticmethod
    def _host(environ: dict[str, Any], base_url: str) -> str:
        """The host the client addressed, ``name[:port]``: the host a V4 signature signs and
        the one that names a bucket in virtual-hosted-style and bucket-bound URLs.

        Behind a proxy that rewrites ``Host`` it is the first ``X-Forwarded-Host``.
        """
        forwarded = environ.get("HTTP_X_FORWARDED_HOST")
        if forwarded:
            return str(forwarded).split(",", 1)[0].strip()
        return base_url.split("://", 1)[1]

    def header(self, name: str) -> str | None:
        key = _HEADER_KEYS.get(name)
        if key is None:
            key = _HEADER_KEYS[name] = "HTTP_" + name.upper().replace("-", "_")
        value: str | None = self.environ.get(key)
        return value

    def has(self, name: str) -> bool:
        """Whether the query names ``name``, with a value or bare (``?uploads``)."""
        if name in self.query:
            return True
        return name in self.environ.get("QUERY_STRING", "").split("&")

    def int_param(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        # 20 characters hold any int64; int() refuses strings over 4,300 digits.
        if len(value) > 20 or _INTEGER.fullmatch(value) is None:
            raise _errors.invalid_argument(f"Invalid value for {name}: {value}")
        return int(value)

    def bool_param(self, name: str) -> bool:
        # The Python client sends booleans as "True"; the API documents "true".
        value: str = self.query.get(name, "")
        return value.lower() == "true"

    def preconditions(self) -> Preconditions:
        if _PRECONDITION_PARAMS.isdisjoint(self.query):
            # Most requests give none: the one frozen empty instance serves them all
            # (building one took 2.2 µs a request; this test takes 0.1 µs).
            return _NO_PRECONDITIONS
        return Preconditions(
            if_generation_match=self.int_param("ifGenerationMatch"),
            if_generation_not_match=self.int_param("ifGenerationNotMatch"),
            if_metageneration_match=self.int_param("ifMetagenerationMatch"),
            if_metageneration_not_match=self.int_param("ifMetagenerationNotMatch"),
        )

    def check_etag(self, current: str) -> None:
        """Refuse a read whose ``If-Match`` / ``If-None-Match`` does not hold for the
        resource's ETag ``current``: 412 and 304, as HTTP (RFC 9110 §13.1) and GCS
        (request-preconditions: ETags) answer them.

        GCS honours them on reads (metadata and media GETs of objects and buckets), which
        is where the Python client sends them (``if_etag_match`` on ``reload``,
        ``exists``, ``download_*``); on writes the JSON API does not support them
        (python-storage#489, "the JSON API does not support ETag If-Match/If-None-Match
        headers on modify requests"), so writes never call this.
        """
        wanted = self.header("If-Match")
        if wanted is not None and not _etag_listed(wanted, current):
            raise _errors.precondition_failed()
        unwanted = self.header("If-None-Match")
        if unwanted is not None and _etag_listed(unwanted, current):
            raise _errors.not_modified()

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            loaded = load_json(self.body)
        except (ValueError, RecursionError):  # RecursionError: arrays nested 10,000 deep
            raise _errors.invalid_argument("Parse Error") from None
        if not isinstance(loaded, dict):
            raise _errors.invalid_argument("Parse Error")
        return loaded


_decode_json = json.JSONDecoder().raw_decode
_JSON_SPACE = " \t\n\r"


def load_json(data: bytes) -> Any:
    """``json.loads(data)``, in a third of the time for a UTF-8 object (every multipart
    upload's metadata, every JSON API body); raises what ``json.loads`` raises.

    ``loads`` guesses the encoding first, then matches whitespace by regular expression
    around the value: 1.8 µs for an upload's metadata, 0.6 µs this way. A body that opens
    with ``{`` and no NUL next is UTF-8 to that guess (``json.detect_encoding``); anything
    else goes to ``loads``.
    """
    if data[:1] != b"{" or data[1:2] == b"\0":
        return json.loads(data)
    text = data.decode("utf-8", "surrogatepass")  # as loads decodes it
    value, end = _decode_json(text)
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        return json.loads(data)  # extra data after the value: loads says so in its words
    return value


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its defaults, built once: every JSON answer is encoded, and
    ``dumps`` makes a new C encoder for each (with a reference-cycle check that trees the
    app builds never need): 4.0 µs for an upload's answer, 3.2 µs this way."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder
        return json.JSONEncoder(check_circular=False).encode
    default = json.JSONEncoder().default
    encode = make(
        None, default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def encode_json(value: Any) -> str:
        return "".join(encode(value, 0))

    return encode_json


_encode_json = _json_encoder()


class Response:
    """A status, headers and a body of one or more byte strings."""

    def __init__(
        self,
        status: int = 200,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, dict):
            self.body = _encode_json(body).encode()
            self.headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        else:
            self.body = body or b""
        self.headers["Content-Length"] = str(len(self.body))


def bill(
    backend: StorageBackend, bucket_name: str, user_project: str | None, *, xml: bool = False
) -> None:
    """Refuse a request on a requester-pays bucket that names no billing project.

    Every call on such a bucket or its objects needs one, the bucket's own metadata
    included (a GET of the bucket fails in google-cloud-python#4674 and
    python-storage#479; GET, PATCH and DELETE in a Crossplane report). Only creating a
    bucket and listing a project's buckets name no bucket to bill. GCS lets a caller
    with resourcemanager.projects.createBillingAssignment on the bucket's project go
    without (requester-pays#requirements): the fake's caller holds it on the plugin's
    project (``backend.billing_exempt_project``), and on no other unless
    ``fake_storage.outside_caller`` says it holds none. The JSON API names the project in
    the ``userProject`` query parameter, the XML API in the ``x-goog-user-project``
    header (``xml``).
    """
    bucket = backend.buckets.get(bucket_name)
    if (
        bucket is not None
        and bucket.requester_pays
        and not user_project
        and bucket.project != backend.billing_exempt_project
    ):
        raise _errors.user_project_missing(xml=xml)


def _read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body, whether its length was announced or it came in chunks."""
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        if _DIGITS.fullmatch(length) is None:
            raise _errors.bad_content_length(length)
        size = int(length) if len(length) <= 18 else MAX_REQUEST_BYTES + 1
        if size > MAX_REQUEST_BYTES:
            raise _errors.request_too_large(size)
        return bytes(environ["wsgi.input"].read(size)) if size else b""
    # No Content-Length: a chunked body (requests sends a generator that way). Servers
    # that decode chunks end the input at the last one and say so with
    # wsgi.input_terminated (werkzeug, gunicorn); reading on without it would wait for
    # the client to close a connection it keeps open for the answer.
    if (
        environ.get("wsgi.input_terminated")
        or "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    ):
        return bytes(environ["wsgi.input"].read())
    return b""


def _etag_listed(header: str, current: str) -> bool:
    """Whether an If-Match / If-None-Match list names ``current`` (or is ``*``).

    The client sends the ETags as given, comma-separated and unquoted; HTTP quotes them
    and may mark them weak (``W/"..."``): both read the same.
    """
    for item in header.split(","):
        tag = item.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag == current:
            return True
    return False


def header_map(environ: dict[str, Any]) -> dict[str, str]:
    """A WSGI request's headers by lower-case name, as signatures and XML metadata name them.

    Names with ``_`` (``x-goog-meta-key_a``) come from :data:`RAW_HEADERS`: the ``HTTP_*``
    keys cannot tell them from ``-``.
    """
    headers = {
        key[5:].lower().replace("_", "-"): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = str(environ[key])
    raw = environ.get(RAW_HEADERS)
    if raw:
        for name, value in raw:
            if "_" in name:
                # Faces leave these out of HTTP_* (as servers do), so nothing is doubled.
                headers[name.lower()] = str(value)
    return headers


def _as_sent(environ: dict[str, Any], text: str) -> str:
    """Request-line text as PEP 3333 passes it: the bytes sent, as latin-1 text.

    werkzeug's server encodes http.server's latin-1 text as UTF-8 a second time
    (``_wsgi_encoding_dance``, werkzeug 3.1), so raw bytes beyond ASCII would read as
    mojibake: undone here, so that every face reads the same bytes.
    """
    if text.isascii() or not str(environ.get("SERVER_SOFTWARE", "")).startswith("Werkzeug/"):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _unquote(text: str) -> tuple[str, bool]:
    """Percent-decode query text (``+`` a space) as UTF-8; whether it was UTF-8."""
    text = text.replace("+", " ")
    try:
        data = text.encode("latin-1")  # raw bytes beyond ASCII, as a server passes them
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")  # already text (a batch part's URL)
    raw = unquote_to_bytes(data)
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), False


def repeated_names(query: str) -> frozenset[str]:
    """The parameter names a query string gives more than once (with values or bare)."""
    if "&" not in query:
        return frozenset()
    seen: set[str] = set()
    repeated: set[str] = set()
    for item in query.split("&"):
        key = item.partition("=")[0]
        if not key:
            continue
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if key in seen:
            repeated.add(key)
        seen.add(key)
    return frozenset(repeated)


def parse_query(query: str, undecodable: set[str] | None = None) -> dict[str, str]:
    """Parse a query string as ``parse_qs`` would (blank values dropped), last value wins.

    Written out because ``parse_qs`` costs more than the rest of routing a request, and the
    client's queries are short: most fields need no unquoting at all. A value that is not
    UTF-8 once decoded reads with U+FFFD, and its name goes into ``undecodable``.
    """
    parsed: dict[str, str] = {}
    if not query:
        return parsed
    for field in query.split("&"):
        key, _, value = field.partition("=")
        if not value:
            continue
        if "%" in key or "+" in key or not key.isascii():
            key = _unquote(key)[0]
        if "%" in value or "+" in value or not value.isascii():
            value, utf8 = _unquote(value)
            if not utf8 and undecodable is not None:
                undecodable.add(key)
        parsed[key] = value
    return parsed
