"""Pub/Sub state: topics, subscriptions, snapshots; the RPCs that act on them.

Knows nothing of clients or pytest. Each subscription has its own condition variable (see
``_delivery``), so publishing to one topic never waits on a lock that pulls from unrelated
subscriptions hold; the registry lock guards only the creation and deletion of resources,
and publishing takes only its topic's lock and then each subscriber's, one at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.api_core import exceptions
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import duration_pb2
from google.pubsub_v1 import types

from pytest_gcpfakes._clock import Clock, real_monotonic
from pytest_gcpfakes.pubsub import _masks, _threads, _validation
from pytest_gcpfakes.pubsub._delivery import (
    DeadLetter,
    PublishedMessage,
    StreamingPull,
    Subscription,
    wait_until,
)
from pytest_gcpfakes.pubsub._iam import IamPolicies

__all__ = ["DELETED_TOPIC", "PubSubBackend", "PublishedMessage", "Subscription", "Topic"]

DELETED_TOPIC = "_deleted-topic_"
# An empty pull answers after at most this long, of real time (even under freezegun) or of
# the fakes' clock, whichever passes first. GCP may return an empty response at any time
# and clients loop; kept short so that a test asserting "nothing left" does not wait for
# the 60 s default RPC timeout.
PULL_WAIT_SECONDS = 1.0
_DEFAULT_PAGE_SIZE = 1000
_DEFAULT_RETENTION = duration_pb2.Duration(seconds=7 * 24 * 3600)
_SNAPSHOT_LIFETIME = timedelta(days=7)
_PUBLISH_RESPONSE_PB = types.PublishResponse.pb()
_PULL_RESPONSE_PB = types.PullResponse.pb()


@dataclass
class Topic:
    """State of one topic."""

    name: str
    config: types.Topic
    subscriptions: list[Subscription] = field(default_factory=list)
    published: list[PublishedMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    schema_settings: Any = None  # read on every publish: kept out of proto-plus

    def __post_init__(self) -> None:
        self.reconfigure(self.config)

    def reconfigure(self, config: types.Topic) -> None:
        """Replace the configuration and recompute what publishing reads."""
        self.config = config
        settings = config.schema_settings if "schema_settings" in config else None
        self.schema_settings = settings if settings is not None and settings.schema else None


@dataclass
class Snapshot:
    """A subscription's acknowledgement state at one moment, to seek back to."""

    name: str
    topic: str
    unacked: frozenset[int]  # message seqs not yet acknowledged when it was taken
    cutoff: int  # the last message seq published to the topic before it was taken
    config: types.Snapshot


class PubSubBackend:
    """All Pub/Sub resources of one fake session, and the RPCs that act on them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self._message_ids = itertools.count(1)
        self._serials = itertools.count(1)
        self._closed = False
        # Push delivery: the handle provides how to reach an endpoint.
        self.push_sender: Any = None
        self.push_log: list[Any] = []
        self.push_errors: list[BaseException] = []
        self._push_cond = threading.Condition()
        self._pushers: dict[str, Any] = {}
        # Cloud Storage subscriptions (_cloud_storage.CloudStorageExport) by name, and the
        # errors their writes met (raised at teardown).
        self.exports: dict[str, Any] = {}
        self.export_errors: list[BaseException] = []
        clock.on_advance(self._wake_all)
        # call() looks each RPC up here: cheaper than building "rpc_<name>" per call.
        self._handlers: dict[str, Any] = {
            name.removeprefix("rpc_"): getattr(self, name)
            for name in dir(type(self))
            if name.startswith("rpc_")
        }

    @property
    def schemas(self) -> Any:
        """The Schema service's state (created on first use: most tests never need it)."""
        registry = self.__dict__.get("_schemas")
        if registry is None:
            from pytest_gcpfakes.pubsub._schemas import SchemaRegistry

            registry = SchemaRegistry(self.clock)
            registry.on_schema_deleted(self._schema_deleted)
            registry = self.__dict__.setdefault("_schemas", registry)
        return registry

    @property
    def iam(self) -> IamPolicies:
        """The IAM policies of this fake's resources (created on first use)."""
        policies = self.__dict__.get("_iam")
        if policies is None:
            policies = self.__dict__.setdefault("_iam", IamPolicies(self._resource_named))
        found: IamPolicies = policies
        return found

    def _resource_named(self, name: str) -> object | None:
        """The live topic, subscription, snapshot or schema called ``name``, or ``None``."""
        parts = name.split("/")
        collection = parts[2] if len(parts) == 4 else ""
        found: object | None
        if collection == "schemas":
            found = self.schemas.resource(name)
            return found
        registries: dict[str, dict[str, Any]] = {
            "topics": self.topics,
            "subscriptions": self.subscriptions,
            "snapshots": self.snapshots,
        }
        found = registries.get(collection, {}).get(name)
        return found

    def _schema_deleted(self, schema: str) -> None:
        """Point the topics that used a deleted schema at ``_deleted-schema_``, as GCP does."""
        from pytest_gcpfakes.pubsub._schemas import DELETED_SCHEMA

        for topic in list(self.topics.values()):
            with topic.lock:
                settings = topic.schema_settings
                if settings is not None and settings.schema.split("@", 1)[0] == schema:
                    config = types.Topic(topic.config)
                    config.schema_settings.schema = DELETED_SCHEMA
                    topic.reconfigure(config)

    # -- dispatch ------------------------------------------------------------------------

    def call(self, rpc: str, request: Any, timeout: float | None) -> Any:
        """Run one unary RPC's handler; ``request`` is a proto-plus message owned by the caller.

        Injected faults are not applied here but in the service layer (``_service``), so
        that ``fake_pubsub``'s helpers, which call this directly, never use them up.
        """
        handler = self._handlers.get(rpc)
        if handler is None:
            from pytest_gcpfakes.pubsub._schemas import SchemaRegistry

            if hasattr(SchemaRegistry, f"rpc_{rpc}"):
                handler = getattr(self.schemas, f"rpc_{rpc}")
                # The schema registry keeps requests as they come: give it its own copy.
                request = type(request).deserialize(type(request).serialize(request))
        if handler is None:
            raise exceptions.MethodNotImplemented(
                f"pytest-gcpfakes does not implement the Pub/Sub method {rpc!r} yet."
            )
        # Handlers copy what they keep (the wire would have copied everything), so a caller
        # editing its request object afterwards changes nothing here.
        return handler(request, timeout)

    def call_stream(
        self,
        rpc: str,
        requests: Iterator[Any],
        timeout: float | None,
        *,
        refused: exceptions.GoogleAPICallError | None = None,
    ) -> Any:
        """Open a streaming RPC (only ``StreamingPull`` exists).

        ``refused`` is an error to end the stream with at once (an injected fault).
        """
        if rpc != "streaming_pull":
            raise exceptions.MethodNotImplemented(
                f"pytest-gcpfakes does not implement the Pub/Sub method {rpc!r} yet."
            )
        first = next(iter(requests), None)
        if first is None:
            raise exceptions.InvalidArgument(
                "The StreamingPull request stream ended before its first request, which must "
                "name the subscription."
            )
        first = types.StreamingPullRequest.deserialize(types.StreamingPullRequest.serialize(first))
        missing: Exception | None = refused
        sub = None
        if missing is None:
            try:
                _validation.parse_subscription_path(first.subscription, field="subscription")
                sub = self._subscription(first.subscription)
            except exceptions.GoogleAPICallError as error:
                missing = error
        return StreamingPull(sub, first, requests, missing=missing, forward=self._forward)

    def close(self) -> None:
        """End every stream, pusher and waiting pull: the fake is going away with its test."""
        from pytest_gcpfakes.pubsub._threads import forget_all

        forget_all()
        self._closed = True
        for pusher in list(self._pushers.values()):
            pusher.stop()
        for sub in list(self.subscriptions.values()):
            with sub.cond:
                streams = list(sub.streams)
                sub.cond.notify_all()
            for stream in streams:
                stream.cancel()

    # -- topics --------------------------------------------------------------------------

    def rpc_create_topic(self, request: types.Topic, timeout: float | None) -> types.Topic:
        _validation.parse_topic_path(request.name)
        if "schema_settings" in request:
            self.schemas.check_topic_schema_settings(request.schema_settings)
        if request.labels:
            _validation.validate_labels(request.labels)
        if "message_retention_duration" in request:
            retention = request.message_retention_duration
            _validation.validate_message_retention(int(retention.total_seconds()), topic=True)
        with self._lock:
            if request.name in self.topics:
                raise _already_exists(request.name)
            config = _masks.as_stored(request)
            self.topics[request.name] = Topic(name=request.name, config=config)
        return types.Topic(config)

    def rpc_get_topic(self, request: types.GetTopicRequest, timeout: float | None) -> types.Topic:
        name = types.GetTopicRequest.pb(request).topic
        _validation.parse_topic_path(name, field="topic")
        return types.Topic(self._topic(name).config)

    def rpc_update_topic(
        self, request: types.UpdateTopicRequest, timeout: float | None
    ) -> types.Topic:
        topic = self._topic(request.topic.name)
        paths = list(request.update_mask.paths)
        with topic.lock:
            updated = _masks.apply("UpdateTopicRequest", topic.config, request.topic, paths)
            if updated.labels:
                _validation.validate_labels(updated.labels)
            if _masks.touches(paths, "schema_settings") and "schema_settings" in updated:
                self.schemas.check_topic_schema_settings(updated.schema_settings)
            if _masks.touches(paths, "message_retention_duration"):
                retention = updated.message_retention_duration
                if "message_retention_duration" in updated:
                    _validation.validate_message_retention(
                        int(retention.total_seconds()), topic=True
                    )
            topic.reconfigure(updated)
        return types.Topic(updated)

    def rpc_list_topics(
        self, request: types.ListTopicsRequest, timeout: float | None
    ) -> types.ListTopicsResponse:
        topics, token = _list_in_project(request, "topics", self.topics, types.Topic)
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
        _validation.parse_topic_path(request.topic, field="topic")
        with self._lock:
            topic = self.topics.pop(request.topic, None)
            if topic is None:
                raise _not_found(request.topic)
        with topic.lock:
            subscriptions, topic.subscriptions = topic.subscriptions, []
        for sub in subscriptions:
            with sub.cond:
                config = types.Subscription(sub.config)
                config.topic = DELETED_TOPIC
                sub.reconfigure(config)

    def rpc_detach_subscription(
        self, request: types.DetachSubscriptionRequest, timeout: float | None
    ) -> types.DetachSubscriptionResponse:
        sub = self._subscription(request.subscription)
        topic = self.topics.get(sub.config.topic)
        if topic is not None:
            with topic.lock:
                if sub in topic.subscriptions:
                    topic.subscriptions.remove(sub)
        with sub.cond:
            config = types.Subscription(sub.config)
            config.detached = True
            sub.reconfigure(config)
            sub.purge(self.clock.time())
            sub.cond.notify_all()
        self.exports.pop(sub.name, None)  # a detached subscription writes nothing more
        return types.DetachSubscriptionResponse()

    # -- publish -------------------------------------------------------------------------

    def rpc_publish(
        self, request: types.PublishRequest, timeout: float | None, *, request_size: int = 0
    ) -> types.PublishResponse:
        raw = types.PublishRequest.pb(request)
        name = raw.topic
        topic = self.topics.get(name)
        if topic is None:  # a topic that exists has a valid name: only check unknown ones
            _validation.parse_topic_path(name, field="topic")
        # dict() of a protobuf map goes through the slow generic Mapping path; most
        # messages have no attributes at all.
        messages = [
            (
                m.data,
                {k: attrs[k] for k in attrs} if (attrs := m.attributes) else {},
                m.ordering_key,
            )
            for m in raw.messages
        ]
        _validation.validate_publish_request(messages, request_size or raw.ByteSize())
        if topic is None:
            raise _not_found(name)
        if topic.schema_settings is not None:
            # The service validates each message and adds attributes naming the schema.
            for data, attributes, _ in messages:
                attributes.update(self.schemas.validated_attributes(topic.schema_settings, data))
        now = self.clock.time()
        # publish() through PublisherClient recorded its caller's thread per message (the
        # RPC runs in the library's commit thread); raw GAPIC publishes recorded nothing
        # and ran in the caller's thread.
        threads = _threads.take_publisher_threads(name, messages, threading.current_thread().name)
        # Every field given, so tuple.__new__ does what the named tuple's generated __new__
        # would, without its keyword handling (0.17 µs a message against 0.27).
        make = tuple.__new__
        with topic.lock:
            stored = [
                make(
                    PublishedMessage,
                    (name, str(seq), data, attributes, ordering_key, now, thread, seq),
                )
                for (data, attributes, ordering_key), thread, seq in zip(
                    messages, threads, self._message_ids, strict=False
                )
            ]
            topic.published.extend(stored)
            subscribers = topic.subscriptions[:] if topic.subscriptions else ()
        for sub in subscribers:
            sub.offer(stored)
        if self.exports:
            self.pump_exports(names=[sub.name for sub in subscribers])
        # Built as a raw protobuf and wrapped: the proto-plus constructor costs more than
        # the whole publish.
        response: types.PublishResponse = types.PublishResponse.wrap(
            _PUBLISH_RESPONSE_PB(message_ids=[m.message_id for m in stored])
        )
        return response

    def _forward(self, letters: list[DeadLetter]) -> None:
        """Publish messages to their dead-letter topics (no subscription lock held)."""
        for letter in letters:
            request = types.PublishRequest(
                topic=letter.topic,
                messages=[
                    types.PubsubMessage(
                        data=letter.message.data,
                        attributes=letter.attributes,
                        ordering_key=letter.message.ordering_key,
                    )
                ],
            )
            # GCP drops dead letters whose topic is gone.
            with contextlib.suppress(exceptions.NotFound):
                self.rpc_publish(request, None)

    # -- subscriptions -------------------------------------------------------------------

    def rpc_create_subscription(
        self, request: types.Subscription, timeout: float | None
    ) -> types.Subscription:
        _validation.parse_subscription_path(request.name)
        _validation.parse_topic_path(request.topic, field="topic")
        config = _masks.as_stored(request)
        self._check_subscription_config(config)
        config.ack_deadline_seconds = _validation.validate_ack_deadline(config.ack_deadline_seconds)
        if "message_retention_duration" not in config:
            config.message_retention_duration = _DEFAULT_RETENTION
        config.state = types.Subscription.State.ACTIVE  # type: ignore[assignment]
        _set_export_states(config)
        with self._lock:
            topic = self.topics.get(request.topic)
            if topic is None:
                raise _not_found(request.topic)
            if request.name in self.subscriptions:
                raise _already_exists(request.name)
            sub = Subscription(
                name=request.name, config=config, serial=next(self._serials), clock=self.clock
            )
            self.subscriptions[request.name] = sub
        with topic.lock:
            sub.created_seq = topic.published[-1].seq if topic.published else 0
            topic.subscriptions.append(sub)
        self._ensure_pusher(sub)
        self._configure_export(sub)
        return types.Subscription(sub.config)

    def _check_subscription_config(self, config: types.Subscription) -> None:
        if config.labels:
            _validation.validate_labels(config.labels)
        if "message_retention_duration" in config:
            _validation.validate_message_retention(
                int(config.message_retention_duration.total_seconds())
            )
        if "dead_letter_policy" in config and config.dead_letter_policy.dead_letter_topic:
            policy = config.dead_letter_policy
            _validation.parse_topic_path(policy.dead_letter_topic, field="dead_letter_topic")
            policy.max_delivery_attempts = _validation.validate_max_delivery_attempts(
                policy.max_delivery_attempts
            )
        if config.filter:
            from pytest_gcpfakes.pubsub._filter import parse_filter

            parse_filter(config.filter)
        if "cloud_storage_config" in config:
            from pytest_gcpfakes.pubsub import _cloud_storage

            _cloud_storage.check_config(config.cloud_storage_config)
            _cloud_storage.refuse_requester_pays(config.cloud_storage_config)

    def rpc_get_subscription(
        self, request: types.GetSubscriptionRequest, timeout: float | None
    ) -> types.Subscription:
        name = types.GetSubscriptionRequest.pb(request).subscription
        _validation.parse_subscription_path(name, field="subscription")
        sub = self._subscription(name)
        if name in self.exports:
            self.pump_exports(names=[name])
        with sub.cond:
            return types.Subscription(sub.config)

    def rpc_update_subscription(
        self, request: types.UpdateSubscriptionRequest, timeout: float | None
    ) -> types.Subscription:
        sub = self._subscription(request.subscription.name)
        paths = list(request.update_mask.paths)
        with sub.cond:
            updated = _masks.apply(
                "UpdateSubscriptionRequest", sub.config, request.subscription, paths
            )
            self._check_subscription_config(updated)
            updated.ack_deadline_seconds = _validation.validate_ack_deadline(
                updated.ack_deadline_seconds
            )
            _set_export_states(updated)
            sub.reconfigure(updated)
        self._ensure_pusher(sub)
        self._configure_export(sub)
        with sub.cond:
            return types.Subscription(sub.config)

    def rpc_modify_push_config(
        self, request: types.ModifyPushConfigRequest, timeout: float | None
    ) -> None:
        sub = self._subscription(request.subscription)
        with sub.cond:
            config = types.Subscription(sub.config)
            config.push_config = request.push_config
            sub.reconfigure(config)
            sub.cond.notify_all()
        self._ensure_pusher(sub)

    def rpc_list_subscriptions(
        self, request: types.ListSubscriptionsRequest, timeout: float | None
    ) -> types.ListSubscriptionsResponse:
        if self.exports:
            self.pump_exports()
        subs, token = _list_in_project(
            request, "subscriptions", self.subscriptions, types.Subscription
        )
        return types.ListSubscriptionsResponse(subscriptions=subs, next_page_token=token)

    def rpc_delete_subscription(
        self, request: types.DeleteSubscriptionRequest, timeout: float | None
    ) -> None:
        _validation.parse_subscription_path(request.subscription, field="subscription")
        with self._lock:
            sub = self.subscriptions.pop(request.subscription, None)
            if sub is None:
                raise _not_found(request.subscription)
            topic = self.topics.get(sub.config.topic)
        if topic is not None:
            with topic.lock:
                if sub in topic.subscriptions:
                    topic.subscriptions.remove(sub)
        with sub.cond:
            sub.deleted = True
            sub.cond.notify_all()
        self.exports.pop(sub.name, None)
        pusher = self._pushers.pop(sub.name, None)
        if pusher is not None:
            pusher.stop()

    # -- delivery ------------------------------------------------------------------------

    def rpc_pull(self, request: types.PullRequest, timeout: float | None) -> types.PullResponse:
        raw = types.PullRequest.pb(request)
        _validation.parse_subscription_path(raw.subscription, field="subscription")
        sub = self._subscription(raw.subscription)
        max_messages = raw.max_messages
        if max_messages <= 0:
            raise exceptions.InvalidArgument(
                "The value for max_messages is too small. You passed "
                f"{max_messages} in the request, but the minimum value is 1."
            )
        self._check_attached(sub)
        if sub.name in self.exports:  # what a Cloud Storage subscription wrote is acked
            self.pump_exports(names=[sub.name])
        wait = 0.0 if raw.return_immediately else PULL_WAIT_SECONDS
        if timeout is not None:
            wait = min(wait, max(timeout, 0.0))
        give_up = real_monotonic() + wait
        # The wait also ends when the fakes' clock has moved as far (clock.advance(),
        # freezegun's tick()): GCP may answer an empty pull at any time.
        clock_give_up = self.clock.time() + wait
        # The messages are built in place in the response (see Subscription.take).
        raw_response = _PULL_RESPONSE_PB()
        while True:
            letters = []
            with sub.cond:
                while True:
                    if sub.deleted or self._closed:
                        raise _not_found(sub.name)
                    now = self.clock.time()
                    letters = sub.expire(now)
                    received = sub.take(now, max_messages, raw_response.received_messages)
                    if received or letters:
                        break
                    if now >= clock_give_up or not wait_until(sub.cond, give_up):
                        return types.PullResponse()
            if letters:
                self._forward(letters)
            if received:
                response: types.PullResponse = types.PullResponse.wrap(raw_response)
                return response

    def rpc_acknowledge(self, request: types.AcknowledgeRequest, timeout: float | None) -> None:
        raw = types.AcknowledgeRequest.pb(request)
        _validation.parse_subscription_path(raw.subscription, field="subscription")
        sub = self._subscription(raw.subscription)
        ack_ids = list(raw.ack_ids)
        self._check_ack_ids(sub, ack_ids)
        with sub.cond:
            letters = sub.expire(self.clock.time())  # a late ack must not count
            invalid = sub.acknowledge(ack_ids)
        if letters:
            self._forward(letters)
        # An ack for an expired ack id is ignored, except with exactly-once delivery.
        if invalid and sub.exactly_once:
            raise _exactly_once_failure(invalid)

    def rpc_modify_ack_deadline(
        self, request: types.ModifyAckDeadlineRequest, timeout: float | None
    ) -> None:
        _validation.parse_subscription_path(request.subscription, field="subscription")
        sub = self._subscription(request.subscription)
        _validation.validate_modify_ack_deadline(request.ack_deadline_seconds)
        self._check_ack_ids(sub, request.ack_ids)
        with sub.cond:
            now = self.clock.time()
            letters = sub.expire(now)  # a late extension must not revive a lease
            invalid, nacked = sub.modify_deadline(
                list(request.ack_ids), request.ack_deadline_seconds, now
            )
            letters += nacked
        if letters:
            self._forward(letters)
        if invalid and sub.exactly_once:
            raise _exactly_once_failure(invalid)

    # -- push ----------------------------------------------------------------------------

    def ensure_pushers(self) -> None:
        """Start delivery threads for push subscriptions that have none (a new route)."""
        if self.push_sender is None or self._closed:
            return
        from pytest_gcpfakes.pubsub._push import PushUnroutable

        with self._push_cond:  # a route added since: earlier "nowhere to send" is moot
            self.push_errors = [e for e in self.push_errors if not isinstance(e, PushUnroutable)]
        for sub in list(self.subscriptions.values()):
            self._ensure_pusher(sub)

    def _ensure_pusher(self, sub: Subscription) -> None:
        if self.push_sender is None or self._closed or not sub.push_endpoint:
            return
        running = self._pushers.get(sub.name)
        if running is not None and not running.stopped:
            return
        from pytest_gcpfakes.pubsub._push import PushDelivery

        self._pushers[sub.name] = PushDelivery(
            self, sub, self.push_sender, self._record_push, self._record_push_error
        )

    def _record_push(self, attempt: Any) -> None:
        with self._push_cond:
            self.push_log.append(attempt)
            self._push_cond.notify_all()

    def _record_push_error(self, error: BaseException) -> None:
        with self._push_cond:
            self.push_errors.append(error)
            self._push_cond.notify_all()

    def wait_for_pushes(self, count: int, timeout: float) -> list[Any]:
        """Wait until ``count`` push attempts happened (or an error); return them."""
        with self._push_cond:
            self._push_cond.wait_for(
                lambda: len(self.push_log) >= count or bool(self.push_errors), timeout
            )
            return list(self.push_log)

    # -- snapshots and seek --------------------------------------------------------------

    def rpc_create_snapshot(
        self, request: types.CreateSnapshotRequest, timeout: float | None
    ) -> types.Snapshot:
        _validation.parse_snapshot_path(request.name)
        _validation.parse_subscription_path(request.subscription, field="subscription")
        if request.labels:
            _validation.validate_labels(request.labels)
        sub = self._subscription(request.subscription)
        topic = self._topic(sub.config.topic)
        with topic.lock:
            cutoff = topic.published[-1].seq if topic.published else 0
        with sub.cond:
            waiting = [*sub.ready, *(lease.message for lease in sub.leases.values())]
        oldest = min((m.publish_time for m in waiting), default=self.clock.now())
        config = types.Snapshot(
            name=request.name,
            topic=topic.name,
            labels=dict(request.labels),
            expire_time=oldest + _SNAPSHOT_LIFETIME,
        )
        with self._lock:
            if request.name in self.snapshots:
                raise _already_exists(request.name)
            self.snapshots[request.name] = Snapshot(
                request.name, topic.name, frozenset(m.seq for m in waiting), cutoff, config
            )
        return types.Snapshot(config)

    def rpc_get_snapshot(
        self, request: types.GetSnapshotRequest, timeout: float | None
    ) -> types.Snapshot:
        _validation.parse_snapshot_path(request.snapshot, field="snapshot")
        return types.Snapshot(self._snapshot(request.snapshot).config)

    def rpc_list_snapshots(
        self, request: types.ListSnapshotsRequest, timeout: float | None
    ) -> types.ListSnapshotsResponse:
        found, token = _list_in_project(request, "snapshots", self.snapshots, types.Snapshot)
        return types.ListSnapshotsResponse(snapshots=found, next_page_token=token)

    def rpc_list_topic_snapshots(
        self, request: types.ListTopicSnapshotsRequest, timeout: float | None
    ) -> types.ListTopicSnapshotsResponse:
        self._topic(request.topic)
        names = sorted(n for n, snap in list(self.snapshots.items()) if snap.topic == request.topic)
        page, token = _paginate(names, request.page_size, request.page_token)
        return types.ListTopicSnapshotsResponse(snapshots=page, next_page_token=token)

    def rpc_update_snapshot(
        self, request: types.UpdateSnapshotRequest, timeout: float | None
    ) -> types.Snapshot:
        snapshot = self._snapshot(request.snapshot.name)
        paths = list(request.update_mask.paths)
        updated = _masks.apply("UpdateSnapshotRequest", snapshot.config, request.snapshot, paths)
        if updated.labels:
            _validation.validate_labels(updated.labels)
        snapshot.config = updated
        return types.Snapshot(updated)

    def rpc_delete_snapshot(
        self, request: types.DeleteSnapshotRequest, timeout: float | None
    ) -> None:
        _validation.parse_snapshot_path(request.snapshot, field="snapshot")
        with self._lock:
            if self.snapshots.pop(request.snapshot, None) is None:
                raise _not_found(request.snapshot)

    def rpc_seek(self, request: types.SeekRequest, timeout: float | None) -> types.SeekResponse:
        _validation.parse_subscription_path(request.subscription, field="subscription")
        sub = self._subscription(request.subscription)
        topic = self.topics.get(sub.config.topic)
        log: list[PublishedMessage] = []
        if topic is not None:
            with topic.lock:
                log = list(topic.published)
        if "snapshot" in request and request.snapshot:
            snapshot = self._snapshot(request.snapshot)
            if snapshot.topic != sub.config.topic:
                raise exceptions.FailedPrecondition(
                    f"The subscription's topic ({sub.config.topic}) is different from that "
                    f"of the snapshot ({snapshot.topic})."
                )
            with sub.cond:
                since = sub.created_seq
                wanted = [
                    m
                    for m in log
                    if m.seq > since
                    and (m.seq in snapshot.unacked or m.seq > snapshot.cutoff)
                    and sub.message_filter.matches(m.attributes)
                ]
                sub.replace_backlog(wanted)
            return types.SeekResponse()
        if "time" not in request:
            raise exceptions.InvalidArgument("Exactly one of time or snapshot must be set.")
        moment = request.time
        with sub.cond:
            now = self.clock.now()
            retention = sub.config.message_retention_duration
            oldest_kept = now - retention
            unacked = {m.seq for m in sub.ready} | {
                lease.message.seq for lease in sub.leases.values()
            }
            retained_acked = {m.seq for m in sub.acked} if sub.retain_acked else set()
            wanted = [
                m
                for m in log
                if (m.seq in unacked or m.seq in retained_acked)
                and m.publish_time >= moment
                and m.publish_time >= oldest_kept
            ]
            sub.replace_backlog(wanted)
        return types.SeekResponse()

    # -- IAM (the IAMPolicy mixin: raw google.iam.v1 messages in and out) ----------------

    def rpc_get_iam_policy(
        self, request: iam_policy_pb2.GetIamPolicyRequest, timeout: float | None
    ) -> policy_pb2.Policy:
        return self.iam.get(request)

    def rpc_set_iam_policy(
        self, request: iam_policy_pb2.SetIamPolicyRequest, timeout: float | None
    ) -> policy_pb2.Policy:
        return self.iam.set(request)

    def rpc_test_iam_permissions(
        self, request: iam_policy_pb2.TestIamPermissionsRequest, timeout: float | None
    ) -> iam_policy_pb2.TestIamPermissionsResponse:
        return self.iam.test(request)

    # -- inspection ----------------------------------------------------------------------

    def backlog(self, subscription: str) -> int:
        """Return how many messages are waiting in ``subscription`` (leases expired first)."""
        sub = self._subscription(subscription)
        if subscription in self.exports:
            self.pump_exports(names=[subscription])
        with sub.cond:
            letters = sub.expire(self.clock.time())
            count = len(sub.ready)
        if letters:
            self._forward(letters)
        return count

    # -- helpers -------------------------------------------------------------------------

    def _topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise _not_found(name)
        return topic

    def _snapshot(self, name: str) -> Snapshot:
        snapshot = self.snapshots.get(name)
        if snapshot is None:
            raise _not_found(name)
        return snapshot

    def _subscription(self, name: str) -> Subscription:
        sub = self.subscriptions.get(name)
        if sub is None:
            raise _not_found(name)
        return sub

    @staticmethod
    def _check_attached(sub: Subscription) -> None:
        if sub.detached:
            raise exceptions.FailedPrecondition(
                f"The subscription is detached (resource={sub.name.rsplit('/', 1)[-1]})."
            )

    @staticmethod
    def _check_ack_ids(sub: Subscription, ack_ids: Any) -> None:
        leased = sub.leases
        for ack_id in ack_ids:
            # An id leased out now is one this fake made, so well formed: only the others
            # are parsed (0.27 µs an id against 0.02 µs, measured on 1,000 ids).
            if ack_id in leased:
                continue
            serial, _, number = ack_id.removeprefix("gcpfakes-").partition("-")
            if not ack_id.startswith("gcpfakes-") or not serial.isdigit() or not number.isdigit():
                raise exceptions.InvalidArgument(
                    f"You have passed an invalid ack ID to the service (ack_id={ack_id})."
                )

    def _wake_all(self) -> None:
        for sub in list(self.subscriptions.values()):
            with sub.cond:
                sub.cond.notify_all()
        if self.exports:
            self.pump_exports()

    # -- Cloud Storage subscriptions (_cloud_storage) ------------------------------------

    def _configure_export(self, sub: Subscription) -> None:
        """Start, reconfigure or stop writing ``sub`` into Cloud Storage, as its config says."""
        if "cloud_storage_config" not in sub.config or sub.detached:
            self.exports.pop(sub.name, None)
            return
        from pytest_gcpfakes.pubsub._cloud_storage import CloudStorageExport, install_read_hook

        install_read_hook()
        export = self.exports.get(sub.name)
        if export is None:
            self.exports[sub.name] = CloudStorageExport(sub)
        else:
            with export.lock:
                export.reconfigure()
        self.pump_exports(names=[sub.name])

    def pump_exports(
        self,
        *,
        names: list[str] | None = None,
        bucket: str | None = None,
        flush: bool = False,
        wait: bool = True,
    ) -> list[str]:
        """Write the Cloud Storage subscriptions' batches due now (every open one with
        ``flush``), of the subscriptions named, or writing to ``bucket``, or all; return the
        objects written. ``wait=False``: skip a subscription another thread is writing.
        Errors are kept for teardown: the caller (a publish, a Storage read) must not fail
        because of them, as GCP's writes never fail a publish."""
        written: list[str] = []
        for name in list(self.exports) if names is None else names:
            export = self.exports.get(name)
            if export is None or (bucket is not None and export.bucket != bucket):
                continue
            try:
                written += export.pump(self, flush=flush, wait=wait)
            except Exception as error:
                self.export_errors.append(error)
        return written


def _set_export_states(config: types.Subscription) -> None:
    """Fill in the states of a new or updated export configuration (output only: GCP
    ignores what a request says). A Cloud Storage subscription's comes from its bucket when
    the subscription is set up (``_cloud_storage``); a BigQuery subscription's table cannot
    be checked (there is no BigQuery fake), so it is ``ACTIVE``."""
    if "cloud_storage_config" in config:
        config.cloud_storage_config.state = types.CloudStorageConfig.State.ACTIVE  # type: ignore[assignment]
    if "bigquery_config" in config:
        config.bigquery_config.state = types.BigQueryConfig.State.ACTIVE  # type: ignore[assignment]


def _list_in_project(
    request: Any, collection: str, registry: dict[str, Any], message: Any
) -> tuple[list[Any], str]:
    """One page of a project's resources of one kind (a List*Request), as copies."""
    _validation.parse_project_path(request.project, field="project")
    prefix = f"{request.project}/{collection}/"
    names = sorted(n for n in list(registry) if n.startswith(prefix))
    page, token = _paginate(names, request.page_size, request.page_token)
    # A resource deleted since the names were read is skipped, as the service would.
    found = [message(registry[n].config) for n in page if n in registry]
    return found, token


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


def _exactly_once_failure(ack_ids: list[str]) -> exceptions.GoogleAPICallError:
    """The error GCP answers for acks of expired ack ids under exactly-once delivery.

    The subscriber learns which ack ids failed from an ``ErrorInfo`` in the
    ``google.rpc.Status`` GCP sends in the ``grpc-status-details-bin`` trailer. The error is
    made from that status, so a client in-process and one over gRPC get the same one.
    """
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2

    from pytest_gcpfakes.pubsub._service import error_from_status

    message = (
        "Some acknowledgement ids in the request were invalid. This could be because the "
        "acknowledgement ids have expired or the acknowledgement ids were malformed."
    )
    info = error_details_pb2.ErrorInfo(
        reason="EXACTLY_ONCE_ACKID_FAILURE",
        domain="pubsub.googleapis.com",
        metadata=dict.fromkeys(ack_ids, "PERMANENT_FAILURE_INVALID_ACK_ID"),
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    return error_from_status(status)
