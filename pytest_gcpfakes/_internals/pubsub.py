"""google-cloud-pubsub internals the plugin relies on.

Checked against google-cloud-pubsub 2.27.0 and 2.44.0, the ends of the supported range
(``CHECKED`` in ``__init__``; "2.27 to 2.44" below), and the generated GAPIC layer of the
same releases. Each note says where a release differs. A missing name raises
``UnsupportedVersionError``: one sentence naming the installed release and the supported
range.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pytest_gcpfakes._internals import UnsupportedVersionError, unsupported


def _unsupported(what: str) -> UnsupportedVersionError:
    return unsupported("google-cloud-pubsub", what)


# The publisher starts a short-lived thread per batch; each holds its client until the
# batch's RPC is done (publisher/_batch/thread.py names them; 2.27 to 2.44).
BATCH_THREAD_PREFIXES = ("Thread-CommitBatchPublisher", "Thread-PubSubBatchCommitter")


def transport_registry(client_module: ModuleType) -> dict[str, Any]:
    """The generated client's transport registry (``"grpc"``, ``"rest"`` → class).

    It is a class attribute of the client's metaclass (``PublisherClientMeta``…), which
    ``get_transport_class()`` reads when a client is built without a transport (2.27 to
    2.44).
    """
    for name, value in vars(client_module).items():
        if name.endswith("ClientMeta") and isinstance(value, type):
            registry = vars(value).get("_transport_registry")
            if isinstance(registry, dict):
                return registry
    raise _unsupported(f"the transport registry of {client_module.__name__}")


def commit_pending_batches(publisher: Any, *, lock_timeout: float = -1) -> bool:
    """Send the publisher's open batches now, as its ``max_latency`` timer would.

    ``Client._commit_sequencers()`` under ``_batch_lock`` is what the timer thread runs
    (publisher/client.py ``_wait_and_commit_sequencers``; 2.27 to 2.44). An ordered
    sequencer commits only its first batch (``OrderedSequencer.commit``). With
    ``lock_timeout`` (seconds), gives up and returns ``False`` if ``_batch_lock`` stays
    taken that long: the library calls done callbacks while holding it (``stop()``
    cancelling batches).
    """
    lock = getattr(publisher, "_batch_lock", None)
    if lock is None or not hasattr(publisher, "_commit_sequencers"):
        raise _unsupported("the publisher's _batch_lock and _commit_sequencers()")
    if not lock.acquire(timeout=lock_timeout):
        return False
    try:
        if not publisher._is_stopped:  # stop() committed everything; its sequencers refuse
            publisher._commit_sequencers()
    finally:
        lock.release()
    return True


def client_transport(client: Any) -> Any:
    """The GAPIC transport a hand-written or generated Pub/Sub client calls through.

    The hand-written clients keep their GAPIC client's transport as ``_transport``
    (publisher/client.py, subscriber/client.py; 2.27 to 2.44), as do the generated clients.
    """
    return getattr(client, "_transport", None)


# The generated REST transports' HTTP bindings (google.api.http), one nested class per RPC.
# google-cloud-pubsub 2.28 to 2.44: ``_BasePublisherRestTransport._BaseCreateTopic
# ._get_http_options()`` in ``services/<service>/transports/rest_base.py``. 2.27 has no
# rest_base.py: each nested class of ``PublisherRestTransport`` (rest.py) builds the same
# list as a literal, ``http_options: List[Dict[str, str]] = [...]``, inside its
# ``__call__``; it is read from the module's source. The proto-plus descriptors carry no
# service definitions, so the transports are where the bindings can be read.
_REST_BASES = (
    ("publisher", "Publisher", "google.pubsub.v1.Publisher"),
    ("subscriber", "Subscriber", "google.pubsub.v1.Subscriber"),
    ("schema_service", "SchemaService", "google.pubsub.v1.SchemaService"),
)


def rest_bindings() -> list[tuple[str, str, str, str, str]]:
    """``(proto service, method, HTTP verb, URI template, body)`` for every REST binding.

    IAM methods (``GetIamPolicy``…) are listed under each generated service; the caller
    decides which service serves them.
    """
    import importlib.util

    bindings: list[tuple[str, str, str, str, str]] = []
    for module_name, prefix, service in _REST_BASES:
        package = f"google.pubsub_v1.services.{module_name}.transports"
        if importlib.util.find_spec(f"{package}.rest_base") is not None:
            rules = _rest_base_rules(f"{package}.rest_base", f"_Base{prefix}RestTransport")
        else:
            rules = _rest_source_rules(f"{package}.rest", f"{prefix}RestTransport")
        for method, rule in rules:
            bindings.append(
                (service, method, rule["method"].upper(), rule["uri"], rule.get("body", ""))
            )
    if not bindings:
        raise RuntimeError(_unsupported("the REST transports' HTTP bindings"))
    return bindings


def _rest_base_rules(module_name: str, class_name: str) -> list[tuple[str, dict[str, str]]]:
    import importlib

    base = getattr(importlib.import_module(module_name), class_name)
    rules: list[tuple[str, dict[str, str]]] = []
    for attr, value in vars(base).items():
        options = getattr(value, "_get_http_options", None)
        if attr.startswith("_Base") and options is not None:
            rules.extend((attr.removeprefix("_Base"), rule) for rule in options())
    return rules


def _rest_source_rules(module_name: str, class_name: str) -> list[tuple[str, dict[str, str]]]:
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return []
    with open(spec.origin, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    rules: list[tuple[str, dict[str, str]]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for nested in node.body:
            if not (isinstance(nested, ast.ClassDef) and nested.name.startswith("_")):
                continue
            for statement in ast.walk(nested):
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id == "http_options"
                    and statement.value is not None
                ):
                    method = nested.name.removeprefix("_")
                    rules.extend((method, rule) for rule in ast.literal_eval(statement.value))
    return rules


@dataclass(frozen=True)
class Stub:
    """What a generated transport asked its channel for: one RPC's wire definition."""

    streaming: bool
    path: str
    request_serializer: Any
    response_deserializer: Any


class _RecordingChannel:
    """Stands in for the channel of a generated gRPC transport and records each stub."""

    @staticmethod
    def unary_unary(
        method: str,
        request_serializer: Any = None,
        response_deserializer: Any = None,
        _registered_method: bool = False,
    ) -> Stub:
        return Stub(False, method, request_serializer, response_deserializer)

    @staticmethod
    def unary_stream(method: str, *args: Any, **kwargs: Any) -> Stub:
        raise RuntimeError(f"pytest-gcpfakes does not serve server-streaming RPCs ({method}).")

    stream_unary = unary_stream

    @staticmethod
    def stream_stream(
        method: str,
        request_serializer: Any = None,
        response_deserializer: Any = None,
        _registered_method: bool = False,
    ) -> Stub:
        return Stub(True, method, request_serializer, response_deserializer)


def grpc_stubs(transport_class: type) -> dict[str, Stub]:
    """Each RPC property of a generated gRPC transport and the stub it defines.

    Touch point (google-cloud-pubsub 2.27 to 2.44): each RPC property of ``*GrpcTransport``
    builds its stub on first access as ``self._stubs[name] =
    self._logged_channel.unary_unary(path, request_serializer=...,
    response_deserializer=...)`` (2.27: ``self.grpc_channel``, without
    ``_registered_method``) and returns ``self._stubs[name]``. google.pubsub_v1 ships no
    protobuf service descriptors (its proto-plus files have no services), so the generated
    transport is the one machine-readable definition of the wire the clients speak.
    """
    transport: Any = object.__new__(transport_class)
    channel = _RecordingChannel()
    transport._stubs = {}
    transport._logged_channel = channel
    transport._grpc_channel = channel
    stubs = {}
    for name, value in vars(transport_class).items():
        if isinstance(value, property):
            stub = getattr(transport, name)  # other properties (kind …) answer something else
            if isinstance(stub, Stub):
                stubs[name] = stub
    if not stubs:
        raise _unsupported(f"the RPC stubs of {transport_class.__name__}")
    return stubs


def _streaming_pull_manager(future: Any) -> Any:
    # StreamingPullFuture keeps its manager in the name-mangled ``__manager``
    # (subscriber/futures.py; 2.27 to 2.44).
    return getattr(future, "_StreamingPullFuture__manager", None)


def streaming_pull_open(future: Any) -> bool:
    """Whether the stream behind a ``StreamingPullFuture`` is still running.

    Not the same as the future being done: a callback that raises resolves the future
    while the manager keeps streaming. ``StreamingPullManager.is_active`` (2.27 to 2.44).
    """
    return bool(getattr(_streaming_pull_manager(future), "is_active", False))


def streaming_pull_subscription(future: Any) -> str:
    """The subscription a ``StreamingPullFuture`` pulls from (for reports).

    The manager keeps the path as ``_subscription`` (_protocol/streaming_pull_manager.py;
    2.27 to 2.44).
    """
    return str(getattr(_streaming_pull_manager(future), "_subscription", "a subscription"))


# The field behaviours (google.api.field_behavior) the GAPIC generator writes as the first
# words of each field's entry in a proto-plus class's docstring.
_BEHAVIOUR_WORDS = {
    "Required": "REQUIRED",
    "Optional": "OPTIONAL",
    "Identifier": "IDENTIFIER",
    "Output only": "OUTPUT_ONLY",
    "Input only": "INPUT_ONLY",
    "Immutable": "IMMUTABLE",
}
_FIELD_ENTRY = re.compile(r"^ {8}(\w+) \(.*\):$")
_LEADING_BEHAVIOUR = re.compile(r"(" + "|".join(_BEHAVIOUR_WORDS) + r")\.\s*")
_RESPONSES_ONLY = "set only in responses from the server"


@functools.cache
def field_behaviours(message_class: type) -> dict[str, frozenset[str]]:
    """The field behaviours of a proto-plus message's fields, by field name.

    google.pubsub_v1's descriptors carry no field options, so ``field_behavior`` cannot be
    read from them; the generator writes it into the class docstring instead, as the first
    words of each field's entry under "Attributes:" (``name (str):`` at 8 spaces, then
    "Required. Identifier. The name of …" at 12; types/pubsub.py, 2.27 to 2.44). A field whose entry
    says it "is set only in responses from the server" counts as output only: that sentence
    is all ``Topic.satisfies_pzs`` has. A field missing from the docstring has none.
    """
    behaviours: dict[str, frozenset[str]] = {}
    lines = (message_class.__doc__ or "").splitlines()
    for index, line in enumerate(lines):
        entry = _FIELD_ENTRY.match(line)
        if entry is None:
            continue
        text: list[str] = []
        for following in lines[index + 1 :]:
            if following.strip() and not following.startswith(" " * 12):
                break
            text.append(following.strip())
        description = " ".join(text)
        found = set()
        while match := _LEADING_BEHAVIOUR.match(description):
            found.add(_BEHAVIOUR_WORDS[match.group(1)])
            description = description[match.end() :]
        if _RESPONSES_ONLY in " ".join(description.split()):
            found.add("OUTPUT_ONLY")
        behaviours[entry.group(1)] = frozenset(found)
    return behaviours


def stop_orphaned_stream_worker(thread: Any) -> None:
    """Stop a streaming-pull helper thread that outlived its manager's shutdown.

    ``StreamingPullManager.open()`` starts the leaser and heartbeater threads after the
    stream; when the stream fails at once (a missing subscription, answered in-process with
    no network delay) the shutdown can run before they start, and then nothing stops them.
    Their loops end when ``_stop_event`` is set, which is what their ``stop()`` does; the
    manager marks a finished shutdown with ``_closed`` (leaser.py, heartbeater.py,
    streaming_pull_manager.py; 2.27 to 2.44).
    """
    worker = getattr(getattr(thread, "_target", None), "__self__", None)
    manager = getattr(worker, "_manager", None)
    stop_event = getattr(worker, "_stop_event", None)
    if manager is not None and getattr(manager, "_closed", False) and stop_event is not None:
        stop_event.set()
