"""Pub/Sub's REST/JSON API as a WSGI app over the same service layer as the gRPC face.

Google's emulator answers REST on its gRPC port, and clients that speak only REST
(``curl``, ``gcloud-aio-pubsub``, google-cloud-pubsub's ``transport="rest"``) use it. The
routes are the API's own HTTP bindings (``google.api.http``, as the generated REST
transports carry them): data read once, not a hand-kept list. A request is transcoded into
the RPC's protobuf (path variables, then the body, then query parameters), served by the
caller (this process's service, or a link to another), and the answer or error is
rendered as Google's REST API renders it (proto3 JSON; ``{"error": {...}}``).
"""

from __future__ import annotations

import functools
import http
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from google.api_core import exceptions
from google.protobuf import json_format, message

from pytest_gcpfakes.server._link import read_body

if TYPE_CHECKING:
    from pytest_gcpfakes.server._grpc import Caller

_IAM_METHODS = frozenset({"GetIamPolicy", "SetIamPolicy", "TestIamPermissions"})
# Google's system parameters (cloud.google.com/apis/docs/system-parameters) configure the
# call, not the request message, so they are never bound to a field. google-api-core's REST
# transports send ``$alt=json;enum-encoding=int`` on every call; any may carry a ``$``.
_SYSTEM_PARAMETERS = frozenset(
    {
        ".xgafv",
        "access_token",
        "alt",
        "callback",
        "fields",
        "key",
        "oauth_token",
        "prettyPrint",
        "quotaUser",
        "upload_protocol",
        "uploadType",
        "userIp",
        "userProject",
    }
)
_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class _Route:
    verb: str
    pattern: re.Pattern[str]
    fields: tuple[tuple[str, str], ...]  # (regex group, dotted request field)
    body: str
    rpc: Any  # pytest_gcpfakes.pubsub._service.Rpc
    custom: bool  # the template ends with a custom verb (":publish")


def _compile(template: str) -> tuple[re.Pattern[str], tuple[tuple[str, str], ...]]:
    """``/v1/{topic=projects/*/topics/*}:publish`` → a regex with one group per variable."""
    parts: list[str] = []
    fields: list[tuple[str, str]] = []
    position = 0
    for index, match in enumerate(_VARIABLE.finditer(template)):
        parts.append(re.escape(template[position : match.start()]))
        segments = (match.group(2) or "*").split("/")
        body = "/".join(
            "[^/]+" if s == "*" else ".+" if s == "**" else re.escape(s) for s in segments
        )
        group = f"v{index}"
        parts.append(f"(?P<{group}>{body})")
        fields.append((group, match.group(1)))
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts) + "$"), tuple(fields)


@functools.cache
def _routes() -> tuple[_Route, ...]:
    from pytest_gcpfakes._internals.pubsub import rest_bindings
    from pytest_gcpfakes.pubsub._service import rpc_table

    table = rpc_table()
    routes: list[_Route] = []
    seen: set[tuple[str, str]] = set()
    for service, method, verb, template, body in rest_bindings():
        if (verb, template) in seen:
            continue  # IAM bindings repeat under every generated service
        seen.add((verb, template))
        owner = "google.iam.v1.IAMPolicy" if method in _IAM_METHODS else service
        rpc = table.get(f"/{owner}/{method}")
        if rpc is None:
            continue
        pattern, fields = _compile(template)
        custom = ":" in template.rsplit("}", 1)[-1].rsplit("/", 1)[-1]
        routes.append(_Route(verb, pattern, fields, body, rpc, custom))
    return tuple(routes)


class PubSubRestApp:
    """WSGI app: the Pub/Sub REST API over a :class:`~pytest_gcpfakes.server._grpc.Caller`."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        verb = environ["REQUEST_METHOD"]
        raw_path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        path = unquote(raw_path.split("?", 1)[0])
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        fields = [(n, v) for n, v in query if n.removeprefix("$") not in _SYSTEM_PARAMETERS]
        alt = {n.removeprefix("$"): v for n, v in query}.get("alt", "json")
        try:
            route, match = self._route(verb, path)
            request = self._transcode(route, match, environ, fields)
            payload = self._caller.unary(route.rpc.path, request.SerializeToString())
            answer = route.rpc.response_pb.FromString(payload)
            body = json_format.MessageToJson(
                answer, use_integers_for_enums="enum-encoding=int" in alt.split(";")
            ).encode()
            status = "200 OK"
        except exceptions.GoogleAPICallError as error:
            status, body = _error(error)
        start_response(
            status,
            [
                ("Content-Type", "application/json; charset=UTF-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    @staticmethod
    def _route(verb: str, path: str) -> tuple[_Route, re.Match[str]]:
        # A template's "*" matches any one segment, ":getIamPolicy" included; in the
        # template grammar the custom verb is not part of the last segment, so a path with
        # one takes only routes with one (GET .../topics/t:getIamPolicy is not GetTopic).
        custom = ":" in path.rsplit("/", 1)[-1]
        for route in _routes():
            if route.custom != custom:
                continue
            match = route.pattern.match(path)
            if match is not None and route.verb == verb:
                return route, match
        # Google's front ends answer an unbound verb or path alike: 404.
        raise exceptions.NotFound(f"The requested URL {path} was not found on this server.")

    @staticmethod
    def _transcode(
        route: _Route,
        match: re.Match[str],
        environ: dict[str, Any],
        query: list[tuple[str, str]],
    ) -> message.Message:
        request = route.rpc.request_pb()
        data = read_body(environ)
        try:
            if route.body == "*" and data.strip():
                json_format.Parse(data, request)
            elif route.body and data.strip():
                json_format.Parse(data, _field(request, route.body))
            for name, value in query:
                _set(request, name, value)
            for group, field in route.fields:
                _set(request, field, match.group(group))
            _check_enums(request)
        except _BadParameter as error:
            raise exceptions.InvalidArgument(str(error)) from None
        except TypeError as error:
            # protobuf 4.25's Parse raises a bare TypeError for a body like `null`; from 5.x
            # it is this ParseError, whose words these are.
            raise exceptions.InvalidArgument(
                f"Invalid JSON payload received. Failed to parse JSON: TypeError: {error}."
            ) from None
        except (json_format.ParseError, ValueError, AttributeError, KeyError) as error:
            raise exceptions.InvalidArgument(f"Invalid JSON payload received. {error}") from None
        return request


class _BadParameter(Exception):
    """A query parameter that names no field or does not parse: GCP's sentence."""


def _field(request: message.Message, dotted: str) -> message.Message:
    """The sub-message at ``a.b`` (JSON or proto names), created if unset."""
    target: message.Message = request
    for part in dotted.split("."):
        target = getattr(target, _proto_name(target, part))
    return target


def _set(request: message.Message, dotted: str, value: str) -> None:
    """Set a scalar field given by a dotted (JSON or proto) path from a string value."""
    *parents, leaf = dotted.split(".")
    target: Any = request
    try:
        for part in parents:
            target = getattr(target, _proto_name(target, part))
        name = _proto_name(target, leaf)
    except KeyError:
        raise _BadParameter(
            f'Invalid JSON payload received. Unknown name "{dotted}": Cannot bind query '
            f"parameter. Field '{dotted}' could not be found in request message."
        ) from None
    field = target.DESCRIPTOR.fields_by_name[name]
    try:
        if _repeated(field):
            getattr(target, name).append(_scalar(field, value))
        elif field.message_type is not None:
            json_format.Parse(json.dumps(value), getattr(target, name))  # a well-known type
        else:
            setattr(target, name, _scalar(field, value))
    except (ValueError, KeyError, json_format.ParseError):
        kind = (
            f"type.googleapis.com/{field.enum_type.full_name}"
            if field.enum_type is not None
            else f"TYPE_{_TYPE_NAMES.get(field.type, 'MESSAGE')}"
        )
        raise _BadParameter(
            f"Invalid value at '{field.name}' ({kind}), {json.dumps(value)}"
        ) from None


def _check_enums(request: message.Message, path: str = "") -> None:
    """Refuse an enum number the API does not define (``{"type": 7}``).

    JSON parsing keeps one (proto3 enums are open), and the service would then read it
    through proto-plus, which warns on every read: a run with warnings as errors answered
    500. Guess: the wording is the one recorded for a query parameter of the wrong type.
    """
    for field, value in request.ListFields():
        name = f"{path}{field.json_name}"  # proto-plus's descriptors name some "type_"
        if field.enum_type is not None:
            for number in value if _repeated(field) else [value]:
                if number not in field.enum_type.values_by_number:
                    raise _BadParameter(
                        f"Invalid value at '{name}' "
                        f"(type.googleapis.com/{field.enum_type.full_name}), {number}"
                    )
        elif field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                items = [v for v in value.values() if isinstance(v, message.Message)]
            else:
                items = list(value) if _repeated(field) else [value]
            for item in items:
                _check_enums(item, f"{name}.")


def _repeated(field: Any) -> bool:
    # protobuf 5.28+ has is_repeated; 7 dropped label.
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(field.label == field.LABEL_REPEATED)


def _proto_name(target: message.Message, name: str) -> str:
    fields = target.DESCRIPTOR.fields_by_name
    if name in fields:
        return name
    for field in fields.values():
        if field.json_name == name:
            return str(field.name)
    raise KeyError(name)


def _type_names() -> dict[int, str]:
    from google.protobuf.descriptor import FieldDescriptor

    return {
        number: name.removeprefix("TYPE_")
        for name, number in vars(FieldDescriptor).items()
        if name.startswith("TYPE_") and isinstance(number, int)
    }


_TYPE_NAMES = _type_names()
"""``FieldDescriptor`` type number → ``INT32``…, as GCP names a query parameter's type."""


def _scalar(field: Any, value: str) -> Any:
    if field.type == field.TYPE_BOOL:
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    if field.type in (field.TYPE_STRING,):
        return value
    if field.type == field.TYPE_BYTES:
        import base64

        return base64.b64decode(value)
    if field.type == field.TYPE_ENUM:
        return field.enum_type.values_by_name[value].number if not value.isdigit() else int(value)
    if field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
        return float(value)
    return int(value)


def _error(error: exceptions.GoogleAPICallError) -> tuple[str, bytes]:
    """Google's REST error body: HTTP status by code, the gRPC status name, the message."""
    from pytest_gcpfakes.pubsub._service import status_from_error

    status = status_from_error(error)
    grpc_code = error.grpc_status_code
    http_code = int(error.code or 500)
    if grpc_code is not None:
        http_code = exceptions.exception_class_for_grpc_status(grpc_code).code or http_code
    details = [json_format.MessageToDict(detail) for detail in status.details]
    body: dict[str, Any] = {
        "error": {
            "code": http_code,
            "message": error.message,
            "status": grpc_code.name if grpc_code is not None else "UNKNOWN",
        }
    }
    if details:
        body["error"]["details"] = details
    try:
        reason = http.HTTPStatus(http_code).phrase
    except ValueError:  # 499 (Cancelled) is Google's, not the IANA registry's
        reason = "Client Closed Request"
    return f"{http_code} {reason}", json.dumps(body).encode()
