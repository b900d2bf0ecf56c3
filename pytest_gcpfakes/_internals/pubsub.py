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
