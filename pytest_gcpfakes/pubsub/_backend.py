"""Pub/Sub state: topics, subscriptions, messages, leases.

Knows nothing of clients or pytest. Each subscription has its own condition variable, so
publishing to one topic never waits on a lock that pulls from unrelated subscriptions hold;
the registry lock guards only creation and deletion of resources.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core import exceptions
from google.protobuf import duration_pb2
from google.pubsub_v1 import types

from pytest_gcpfakes._clock import Clock, real_monotonic

DELETED_TOPIC = "_deleted-topic_"
DEFAULT_ACK_DEADLINE = 10
# An empty pull answers after at most this long (real seconds, even under freezegun). GCP
# may return an empty response at any time; clients loop. Kept short so that a test
# asserting "nothing left" does not wait for the 60 s default RPC timeout.
PULL_WAIT_SECONDS = 1.0
# How often a waiting pull re-checks leases: freezegun can move time without telling us.
_RECHECK_SECONDS = 0.1
_DEFAULT_PAGE_SIZE = 1000
_SCHEMA_RPCS = frozenset(
    {
        "create_schema",
        "get_schema",
        "list_schemas",
        "list_schema_revisions",
        "commit_schema",
        "rollback_schema",
        "delete_schema_revision",
        "delete_schema",
        "validate_schema",
        "validate_message",
    }
)


@dataclass(frozen=True)
class PublishedMessage:
    """A message as the service stored it on publish."""

    topic: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    publish_time: datetime


@dataclass
class _Lease:
    delivery: _Delivery
    ack_id: str
    deadline: float


@dataclass
class _Delivery:
    """One message waiting in, or leased from, one subscription."""

    message: PublishedMessage
    attempts: int = 0


@dataclass
class Subscription:
    """State of one subscription (read it through the ``fake_pubsub`` handle)."""

    name: str
    config: types.Subscription
    serial: int
    ready: deque[_Delivery] = field(default_factory=deque)
    leases: dict[str, _Lease] = field(default_factory=dict)
    acked: list[PublishedMessage] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    deleted: bool = False

    @property
    def ack_deadline_seconds(self) -> int:
        return int(self.config.ack_deadline_seconds) or DEFAULT_ACK_DEADLINE


@dataclass
class Topic:
    """State of one topic."""

    name: str
    config: types.Topic
    subscriptions: list[Subscription] = field(default_factory=list)
    published: list[PublishedMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PubSubBackend:
    """All Pub/Sub resources of one fake session, and the RPCs that act on them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._message_ids = itertools.count(1)
        self._serials = itertools.count(1)
        self._ack_serials = itertools.count(1)
        clock.on_advance(self._wake_all)

    # -- dispatch ------------------------------------------------------------------------

    @property
    def schemas(self) -> Any:
        """The Schema service's state (created on first use: most tests never need it)."""
        registry = self.__dict__.get("_schemas")
        if registry is None:
            from pytest_gcpfakes.pubsub._schemas import SchemaRegistry

            registry = self.__dict__.setdefault("_schemas", SchemaRegistry(self.clock))
        return registry

    def call(self, rpc: str, request: Any, timeout: float | None) -> Any:
        """Serve one unary RPC; ``request`` is a proto-plus message owned by the caller."""
        handler = getattr(self, f"rpc_{rpc}", None)
        if handler is None and rpc in _SCHEMA_RPCS:
            handler = getattr(self.schemas, f"rpc_{rpc}", None)
        if handler is None:
            raise exceptions.MethodNotImplemented(
                f"pytest-gcpfakes does not implement the Pub/Sub method {rpc!r} yet."
            )
        # The wire would copy the request; so do we, so later caller edits change nothing.
        request = type(request).deserialize(type(request).serialize(request))
        return handler(request, timeout)

    def call_stream(self, rpc: str, requests: Iterator[Any], timeout: float | None) -> Any:
        """Serve a streaming RPC."""
        raise exceptions.MethodNotImplemented(
            f"pytest-gcpfakes does not implement the Pub/Sub method {rpc!r} yet."
        )

    # -- topics --------------------------------------------------------------------------

    def rpc_create_topic(self, request: types.Topic, timeout: float | None) -> types.Topic:
        with self._lock:
            if request.name in self.topics:
                raise _already_exists(request.name)
            self.topics[request.name] = Topic(name=request.name, config=request)
        return types.Topic(request)

    def rpc_get_topic(self, request: types.GetTopicRequest, timeout: float | None) -> types.Topic:
        return types.Topic(self._topic(request.topic).config)

    def rpc_list_topics(
        self, request: types.ListTopicsRequest, timeout: float | None
    ) -> types.ListTopicsResponse:
        prefix = f"{request.project}/topics/"
        names = sorted(n for n in self.topics if n.startswith(prefix))
        page, token = _paginate(names, request.page_size, request.page_token)
        topics = [types.Topic(self.topics[n].config) for n in page if n in self.topics]
        return types.ListTopicsResponse(topics=topics, next_page_token=token)

    def rpc_list_topic_subscriptions(
        self, request: types.ListTopicSubscriptionsRequest, timeout: float | None
    ) -> types.ListTopicSubscriptionsResponse:
        topic = self._topic(request.topic)
        with topic.lock:
            names = sorted(s.name for s in topic.subscriptions)
        page, token = _paginate(names, request.page_size, request.page_token)
        return types.ListTopicSubscriptionsResponse(subscriptions=page, next_page_token=token)

    def rpc_delete_topic(self, request: types.DeleteTopicRequest, timeout: float | None) -> None:
        with self._lock:
            topic = self.topics.pop(request.topic, None)
            if topic is None:
                raise _not_found(request.topic)
        with topic.lock:
            for sub in topic.subscriptions:
                sub.config.topic = DELETED_TOPIC

    # -- publish -------------------------------------------------------------------------

    def rpc_publish(
        self, request: types.PublishRequest, timeout: float | None
    ) -> types.PublishResponse:
        topic = self._topic(request.topic)
        now = self.clock.now()
        stored = [
            PublishedMessage(
                topic=request.topic,
                message_id=str(next(self._message_ids)),
                data=bytes(m.data),
                attributes=dict(m.attributes),
                ordering_key=m.ordering_key,
                publish_time=now,
            )
            for m in request.messages
        ]
        with topic.lock:
            topic.published.extend(stored)
            subscribers = list(topic.subscriptions)
        for sub in subscribers:
            with sub.cond:
                sub.ready.extend(_Delivery(m) for m in stored)
                sub.cond.notify_all()
        return types.PublishResponse(message_ids=[m.message_id for m in stored])

    # -- subscriptions -------------------------------------------------------------------

    def rpc_create_subscription(
        self, request: types.Subscription, timeout: float | None
    ) -> types.Subscription:
        config = types.Subscription(request)
        if not config.ack_deadline_seconds:
            config.ack_deadline_seconds = DEFAULT_ACK_DEADLINE
        if "message_retention_duration" not in config:
            config.message_retention_duration = duration_pb2.Duration(seconds=7 * 24 * 3600)
        config.state = types.Subscription.State.ACTIVE  # type: ignore[assignment]
        with self._lock:
            topic = self.topics.get(request.topic)
            if topic is None:
                raise _not_found(request.topic)
            if request.name in self.subscriptions:
                raise _already_exists(request.name)
            sub = Subscription(name=request.name, config=config, serial=next(self._serials))
            self.subscriptions[request.name] = sub
        with topic.lock:
            topic.subscriptions.append(sub)
        return types.Subscription(config)

    def rpc_get_subscription(
        self, request: types.GetSubscriptionRequest, timeout: float | None
    ) -> types.Subscription:
        return types.Subscription(self._subscription(request.subscription).config)

    def rpc_list_subscriptions(
        self, request: types.ListSubscriptionsRequest, timeout: float | None
    ) -> types.ListSubscriptionsResponse:
        prefix = f"{request.project}/subscriptions/"
        names = sorted(n for n in self.subscriptions if n.startswith(prefix))
        page, token = _paginate(names, request.page_size, request.page_token)
        subs = [
            types.Subscription(self.subscriptions[n].config)
            for n in page
            if n in self.subscriptions
        ]
        return types.ListSubscriptionsResponse(subscriptions=subs, next_page_token=token)

    def rpc_delete_subscription(
        self, request: types.DeleteSubscriptionRequest, timeout: float | None
    ) -> None:
        with self._lock:
            sub = self.subscriptions.pop(request.subscription, None)
            if sub is None:
                raise _not_found(request.subscription)
            topic = self.topics.get(sub.config.topic)
        if topic is not None:
            with topic.lock:
                topic.subscriptions.remove(sub)
        with sub.cond:
            sub.deleted = True
            sub.cond.notify_all()

    # -- delivery ------------------------------------------------------------------------

    def rpc_pull(self, request: types.PullRequest, timeout: float | None) -> types.PullResponse:
        sub = self._subscription(request.subscription)
        if request.max_messages <= 0:
            raise exceptions.InvalidArgument(
                "Invalid max_messages: must be positive (max_messages=0)."
            )
        wait = 0.0 if request.return_immediately else PULL_WAIT_SECONDS
        if timeout is not None:
            wait = min(wait, max(timeout, 0.0))
        give_up = real_monotonic() + wait
        with sub.cond:
            while True:
                if sub.deleted:
                    raise _not_found(sub.name)
                now = self.clock.time()
                self._expire_leases(sub, now)
                if sub.ready:
                    received = [
                        self._lease(sub, sub.ready.popleft(), now)
                        for _ in range(min(request.max_messages, len(sub.ready)))
                    ]
                    return types.PullResponse(received_messages=received)
                remaining = give_up - real_monotonic()
                if remaining <= 0:
                    return types.PullResponse()
                sub.cond.wait(min(remaining, _RECHECK_SECONDS))

    def rpc_acknowledge(self, request: types.AcknowledgeRequest, timeout: float | None) -> None:
        sub = self._subscription(request.subscription)
        self._check_ack_ids(sub, request.ack_ids)
        with sub.cond:
            for ack_id in request.ack_ids:
                lease = sub.leases.pop(ack_id, None)
                if lease is not None:  # an expired ack id is ignored, as GCP does
                    sub.acked.append(lease.delivery.message)

    def rpc_modify_ack_deadline(
        self, request: types.ModifyAckDeadlineRequest, timeout: float | None
    ) -> None:
        sub = self._subscription(request.subscription)
        seconds = request.ack_deadline_seconds
        if not 0 <= seconds <= 600:
            raise exceptions.InvalidArgument(
                f"Invalid ack deadline given: {seconds}. The minimum deadline is 0 seconds "
                "and the maximum deadline is 600 seconds."
            )
        self._check_ack_ids(sub, request.ack_ids)
        with sub.cond:
            now = self.clock.time()
            for ack_id in request.ack_ids:
                lease = sub.leases.get(ack_id)
                if lease is None:
                    continue
                if seconds == 0:
                    del sub.leases[ack_id]
                    sub.ready.appendleft(lease.delivery)
                else:
                    lease.deadline = now + seconds
            sub.cond.notify_all()

    # -- inspection ----------------------------------------------------------------------

    def wait_for_ready(self, subscription: str) -> int:
        """Return how many messages are ready (not leased) in ``subscription``."""
        sub = self._subscription(subscription)
        with sub.cond:
            self._expire_leases(sub, self.clock.time())
            return len(sub.ready)

    # -- helpers -------------------------------------------------------------------------

    def _topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise _not_found(name)
        return topic

    def _subscription(self, name: str) -> Subscription:
        sub = self.subscriptions.get(name)
        if sub is None:
            raise _not_found(name)
        return sub

    def _lease(self, sub: Subscription, delivery: _Delivery, now: float) -> types.ReceivedMessage:
        delivery.attempts += 1
        ack_id = f"gcpfakes-{sub.serial}-{next(self._ack_serials)}"
        sub.leases[ack_id] = _Lease(delivery, ack_id, now + sub.ack_deadline_seconds)
        m = delivery.message
        received = types.ReceivedMessage(
            ack_id=ack_id,
            message=types.PubsubMessage(
                data=m.data,
                attributes=m.attributes,
                message_id=m.message_id,
                publish_time=m.publish_time,
                ordering_key=m.ordering_key,
            ),
        )
        if "dead_letter_policy" in sub.config:
            received.delivery_attempt = delivery.attempts
        return received

    @staticmethod
    def _expire_leases(sub: Subscription, now: float) -> None:
        expired = [lease for lease in sub.leases.values() if lease.deadline <= now]
        for lease in sorted(expired, key=lambda le: le.deadline, reverse=True):
            del sub.leases[lease.ack_id]
            sub.ready.appendleft(lease.delivery)

    @staticmethod
    def _check_ack_ids(sub: Subscription, ack_ids: Sequence[str]) -> None:
        prefix = f"gcpfakes-{sub.serial}-"
        for ack_id in ack_ids:
            if not ack_id.startswith(prefix) or not ack_id[len(prefix) :].isdigit():
                raise exceptions.InvalidArgument(
                    "Some acknowledgement ids in the request were invalid. This could be "
                    "because the acknowledgement ids have expired or the acknowledgement "
                    "ids were malformed."
                )

    def close(self) -> None:
        """Fail every waiting pull and stop new ones: the fake is going away."""
        for sub in list(self.subscriptions.values()):
            with sub.cond:
                sub.deleted = True
                sub.cond.notify_all()

    def _wake_all(self) -> None:
        for sub in list(self.subscriptions.values()):
            with sub.cond:
                sub.cond.notify_all()


def _paginate(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    """Return one page of sorted ``names`` and the token for the next page ("" at the end)."""
    size = page_size if page_size > 0 else _DEFAULT_PAGE_SIZE
    start = 0
    if page_token:
        start = next((i for i, n in enumerate(names) if n > page_token), len(names))
    page = names[start : start + size]
    more = start + size < len(names)
    return page, (page[-1] if more and page else "")


def _not_found(resource: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Resource not found (resource={resource.rsplit('/', 1)[-1]}).")


def _already_exists(resource: str) -> exceptions.AlreadyExists:
    return exceptions.AlreadyExists(
        f"Resource already exists in the project (resource={resource.rsplit('/', 1)[-1]})."
    )
