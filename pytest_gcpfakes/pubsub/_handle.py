"""``fake_pubsub``: arrange and inspect Pub/Sub state without going through a client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.pubsub_v1 import types

from pytest_gcpfakes.pubsub._backend import PublishedMessage, PubSubBackend, Subscription

if TYPE_CHECKING:
    from pytest_gcpfakes._fakes import GCPFakes


class FakePubSub:
    """The Pub/Sub fake of one test. Names may be short ids or full resource paths."""

    service = "pubsub"

    def __init__(self, fakes: GCPFakes) -> None:
        self.pid = fakes.pid
        self.config = fakes.config
        self.clock = fakes.clock
        self.project = fakes.project
        self.backend = PubSubBackend(fakes.clock)

    def close(self) -> None:
        """Wake every waiting pull so that no library thread stays blocked on us."""
        self.backend.close()

    # -- names ---------------------------------------------------------------------------

    def topic_path(self, topic: str) -> str:
        """Return ``projects/{project}/topics/{topic}`` unless ``topic`` is a path already."""
        return topic if topic.startswith("projects/") else f"projects/{self.project}/topics/{topic}"

    def subscription_path(self, subscription: str) -> str:
        """Return the full path of ``subscription`` in the fakes' project."""
        if subscription.startswith("projects/"):
            return subscription
        return f"projects/{self.project}/subscriptions/{subscription}"

    # -- arrange -------------------------------------------------------------------------

    def create_topic(self, topic: str, **fields: Any) -> str:
        """Create a topic (fields as in ``pubsub_v1.types.Topic``) and return its path."""
        path = self.topic_path(topic)
        self.backend.call("create_topic", types.Topic(name=path, **fields), None)
        return path

    def create_subscription(self, subscription: str, topic: str, **fields: Any) -> str:
        """Create a pull subscription on ``topic`` and return its path."""
        path = self.subscription_path(subscription)
        request = types.Subscription(name=path, topic=self.topic_path(topic), **fields)
        self.backend.call("create_subscription", request, None)
        return path

    def publish(
        self, topic: str, data: bytes = b"", *, ordering_key: str = "", **attributes: str
    ) -> str:
        """Publish one message as another service would; return its message id."""
        request = types.PublishRequest(
            topic=self.topic_path(topic),
            messages=[
                types.PubsubMessage(data=data, attributes=attributes, ordering_key=ordering_key)
            ],
        )
        response = self.backend.call("publish", request, None)
        return str(response.message_ids[0])

    # -- inspect -------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        """Paths of every topic, sorted."""
        return sorted(self.backend.topics)

    @property
    def subscriptions(self) -> list[str]:
        """Paths of every subscription, sorted."""
        return sorted(self.backend.subscriptions)

    def published(self, topic: str) -> list[PublishedMessage]:
        """Every message published to ``topic`` so far, in publish order."""
        state = self.backend._topic(self.topic_path(topic))
        with state.lock:
            return list(state.published)

    def subscription(self, subscription: str) -> Subscription:
        """The live state of one subscription (backlog, leases, acked messages)."""
        return self.backend._subscription(self.subscription_path(subscription))

    def backlog(self, subscription: str) -> int:
        """How many messages of ``subscription`` are waiting to be delivered (not leased)."""
        return self.backend.backlog(self.subscription_path(subscription))
