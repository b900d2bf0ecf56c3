"""google-cloud-pubsub internals the plugin relies on.

Checked against google-cloud-pubsub 2.44 (the generated GAPIC layer of the same release).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

# The publisher starts a short-lived thread per batch; each holds its client until the
# batch's RPC is done (publisher/_batch/thread.py names them; 2.44).
BATCH_THREAD_PREFIXES = ("Thread-CommitBatchPublisher", "Thread-PubSubBatchCommitter")


def transport_registry(client_module: ModuleType) -> dict[str, Any]:
    """The generated client's transport registry (``"grpc"``, ``"rest"`` → class).

    It is a class attribute of the client's metaclass (``PublisherClientMeta``…), which
    ``get_transport_class()`` reads when a client is built without a transport (2.44).
    """
    registry: dict[str, Any] = next(
        vars(value)["_transport_registry"]
        for name, value in vars(client_module).items()
        if name.endswith("ClientMeta") and isinstance(value, type)
    )
    return registry


def commit_pending_batches(publisher: Any) -> None:
    """Send the publisher's open batches now, as its ``max_latency`` timer would.

    ``Client._commit_sequencers()`` under ``_batch_lock`` is what the timer thread runs
    (publisher/client.py ``_wait_and_commit_sequencers``; 2.44).
    """
    with publisher._batch_lock:
        publisher._commit_sequencers()


def client_transport(client: Any) -> Any:
    """The GAPIC transport a hand-written or generated Pub/Sub client calls through.

    The hand-written clients keep their GAPIC client's transport as ``_transport``
    (publisher/client.py, subscriber/client.py; 2.44), as do the generated clients.
    """
    return getattr(client, "_transport", None)


# The generated REST transports' HTTP bindings (google.api.http), one nested class per RPC
# (``_BasePublisherRestTransport._BaseCreateTopic._get_http_options()``) in
# ``services/<service>/transports/rest_base.py`` (2.44). The proto-plus descriptors carry
# no service definitions, so this is where the bindings can be read.
_REST_BASES = (
    ("publisher", "_BasePublisherRestTransport", "google.pubsub.v1.Publisher"),
    ("subscriber", "_BaseSubscriberRestTransport", "google.pubsub.v1.Subscriber"),
    ("schema_service", "_BaseSchemaServiceRestTransport", "google.pubsub.v1.SchemaService"),
)


def rest_bindings() -> list[tuple[str, str, str, str, str]]:
    """``(proto service, method, HTTP verb, URI template, body)`` for every REST binding.

    IAM methods (``GetIamPolicy``…) are listed under each generated service; the caller
    decides which service serves them.
    """
    import importlib

    bindings: list[tuple[str, str, str, str, str]] = []
    for module_name, class_name, service in _REST_BASES:
        module = importlib.import_module(
            f"google.pubsub_v1.services.{module_name}.transports.rest_base"
        )
        base = getattr(module, class_name)
        for attr, value in vars(base).items():
            options = getattr(value, "_get_http_options", None)
            if not attr.startswith("_Base") or options is None:
                continue
            method = attr.removeprefix("_Base")
            for rule in options():
                bindings.append(
                    (service, method, rule["method"].upper(), rule["uri"], rule.get("body", ""))
                )
    return bindings
