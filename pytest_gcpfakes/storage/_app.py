"""Cloud Storage as one WSGI app over a :class:`StorageBackend`: the JSON API, its upload,
download and batch endpoints, and the XML API's signed URLs, POST forms and multipart
uploads.

This module is the thin entry: it routes a request by the one route table
(:mod:`._routes`), applies injected faults and latency under the route's API method id,
bills requester-pays buckets, and answers errors the way GCS does on the endpoint used.
The handlers live by the face they serve: :mod:`._json_api` (buckets, objects,
notifications), :mod:`._media` (uploads, downloads), :mod:`._xml_api` (signed URLs, POST
policies, XML multipart) and :mod:`._batch`; :mod:`._resources` renders what they return.

In-process the app is reached through a ``requests`` adapter with no socket; server mode
serves the same app over loopback HTTP. Links in answers are built from each request's
own host (``Request.base_url``), so one app is right on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from google.api_core.exceptions import GoogleAPICallError

from pytest_gcpfakes._faults import FaultPlan
from pytest_gcpfakes.storage import (
    _addressing,
    _errors,
    _routes,
    _schema,
    _signed_urls,
    _xml_api,
)
from pytest_gcpfakes.storage._backend import StorageBackend
from pytest_gcpfakes.storage._wire import STATUS_TEXT, Request, Response, StartResponse, bill

__all__ = ["StorageApp"]

# Paths of the JSON API and its media endpoints, whose query parameters are checked
# against the API's before routing (an unknown uploadType would match no route at all).
_JSON_PATHS = ("/storage/", "/upload/", "/download/")

_REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}


class StorageApp:
    """WSGI callable serving Cloud Storage's JSON and XML APIs from one backend."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self.faults = FaultPlan("storage")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        # Notifications are published when the request is done, after every lock it took,
        # with links to the face this request came through.
        with self.backend.notifying(request.base_url):
            response = self.serve(request)
        status = f"{response.status} {STATUS_TEXT.get(response.status, 'Unknown')}"
        start_response(status, list(response.headers.items()))
        return [response.body]

    def serve(self, request: Request) -> Response:
        """Answer one request (a batch's parts too): route, faults, billing, handler."""
        try:
            request.body  # noqa: B018 (read first: a bad Content-Length is answered here)
            # The host may name the bucket (virtual-hosted-style, bucket-bound hostname):
            # the XML API's routes come in both addressings and this picks between them.
            request.host_bucket = _addressing.host_bucket(
                request.host, request.path, self.backend.buckets.__contains__
            )
            if request.host_bucket is None and request.path.startswith(_JSON_PATHS):
                _schema.check_parameters(request.query, request.repeated)
            found = _routes.find(request)
            if found is None:
                self._refuse_unrouted(request)
            route, params = found
            if self.faults.active:
                self._inject(route.api_method)
            if route.face == "xml":
                if _signed_urls.is_signed(request.query):
                    _xml_api.check_signature(self, request)
                billing = request.header("X-Goog-User-Project")
            else:
                billing = request.query.get("userProject")
            for name in route.billed:
                bill(self.backend, params[name], billing, xml=route.face == "xml")
            return route.handler(self, request, **params)
        except _errors.GCSError as error:
            return error_response(request, error)

    def _refuse_unrouted(self, request: Request) -> NoReturn:
        """Raise 501 for a request no route serves (a signed one checked first, as GCS
        checks a signature before it looks at what is asked)."""
        json_api = request.path.startswith(("/storage/", "/upload/", "/download/", "/batch/"))
        if not json_api and _signed_urls.is_signed(request.query):
            _xml_api.check_signature(self, request)
            raise _errors.not_implemented(request.method, request.path, api="XML")
        raise _errors.not_implemented(request.method, request.path)

    def _inject(self, api_method: str) -> None:
        """Apply injected latency and faults; a fault answers as GCS would with its status."""
        try:
            self.faults.before(api_method)
        except GoogleAPICallError as error:
            status = int(error.code or 500)
            reason = _REASONS.get(status, "backendError")
            raise _errors.GCSError(status, str(error.message), reason) from None


def error_response(request: Request, error: _errors.GCSError) -> Response:
    """Answer an error the way GCS does on the endpoint the request used."""
    if error.status == 304:
        return Response(304)  # a 304 carries no body on the wire
    response = _error_body(request, error)
    response.headers.update(error.headers)
    return response


def _error_body(request: Request, error: _errors.GCSError) -> Response:
    """The status and body of ``error`` in the form of the endpoint the request used."""
    xml_error: _errors.XmlError | None = None
    if isinstance(error, _errors.XmlError):
        xml_error = error
    elif request.signed:
        xml_error = _xml_api.xml_error(error)
    elif _xml_api.is_multipart(request):
        xml_error = _errors.XmlError(error.status, _xml_api.xml_code(error), error.message)
    if xml_error is not None:
        return Response(xml_error.status, xml_error.to_xml(), {"Content-Type": "application/xml"})
    if request.path.startswith("/download/") or request.query.get("alt") == "media":
        # Media downloads answer errors as plain text, not JSON: "No such object: b/o" with
        # content-type text/html (curl against GCS in firebase-tools#3647). The client puts
        # this text verbatim into the exception message (blob._raise_from_invalid_response).
        body = error.message.encode()
        return Response(error.status, body, {"Content-Type": "text/html; charset=UTF-8"})
    # Uploads (/upload/...) and the JSON API answer the JSON error body (an upload's 412
    # carries reason conditionNotMet, location If-Match: google-cloud-cpp#11530).
    return Response(error.status, error.to_json())
