"""``fake_pubsub``: arrange and inspect Pub/Sub state without going through a client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from google.pubsub_v1 import types

from pytest_gcpfakes._faults import DEFAULT_TIMES, DefaultTimes, FaultPlan
from pytest_gcpfakes.pubsub._backend import PublishedMessage, PubSubBackend, Subscription
from pytest_gcpfakes.pubsub._waits import PendingPublishes

if TYPE_CHECKING:
    from pytest_gcpfakes._backoff import RetriedCall
    from pytest_gcpfakes._fakes import GCPFakes


@dataclass(frozen=True)
class Outstanding:
    """A message delivered and not yet acknowledged."""

    message: PublishedMessage
    ack_id: str
    delivery_attempt: int
    ack_deadline: datetime


@dataclass(frozen=True)
class SubscriptionState:
    """A consistent snapshot of one subscription, for assertions."""

    name: str
    topic: str
    backlog: tuple[PublishedMessage, ...]
    outstanding: tuple[Outstanding, ...]
    acked: tuple[PublishedMessage, ...]
    dead_lettered: tuple[PublishedMessage, ...]
    delivery_attempts: dict[str, int]
    exporting: tuple[PublishedMessage, ...] = ()
    """A Cloud Storage subscription's messages in its open batch: taken from the backlog,
    not written (nor acknowledged) yet."""

    @property
    def unacked(self) -> int:
        """Messages not acknowledged yet: waiting plus outstanding."""
        return len(self.backlog) + len(self.outstanding)


class FakePubSub:
    """The Pub/Sub fake of one test. Names may be short ids or full resource paths."""

    service = "pubsub"

    def __init__(self, fakes: GCPFakes) -> None:
        self.pid = fakes.pid
        """The process that made this fake (children reach it through server mode)."""
        self.config = fakes.config
        """The test's options (marker and ini), a frozen :class:`~pytest_gcpfakes.Config`."""
        self.clock = fakes.clock
        """The fakes' clock (shared with Storage): publish times, ack deadlines, retention
        and retry backoff read it; ``clock.advance(seconds)`` moves it."""
        self.project = fakes.project
        """The project of ``topic_path()`` and ``subscription_path()``."""
        self.backend = PubSubBackend(fakes.clock)
        # Applied by the service layer to calls from clients, never to this handle's own
        # helpers (``create_topic``, ``publish`` …), which call the backend directly.
        self.faults = FaultPlan("pubsub")
        self.faults.configure(fakes.config.latency)
        self._routes: list[tuple[str, Any]] = []
        self.backend.push_sender = self._send_push
        # Publish futures not resolved yet: the inspection helpers wait for them (_waits).
        self.pending_publishes = PendingPublishes()

    def close(self) -> None:
        """Stop pushers and wake every waiting pull so no library thread stays blocked."""
        self.backend.close()

    def errors(self) -> list[BaseException]:
        """Errors from the fake's own background work (push delivery, Cloud Storage
        subscriptions' writes), for teardown."""
        return list(self.backend.push_errors) + list(self.backend.export_errors)

    # -- Cloud Storage subscriptions -----------------------------------------------------

    def flush_cloud_storage(self, subscription: str | None = None) -> list[str]:
        """Write the open batch of every Cloud Storage subscription (or of one) now, as if
        its ``max_duration`` had passed; return the names of the objects written.

        GCP has no such call: a batch is written when it is full or its time is up, which
        a test reaches by filling it or moving the clock (freezegun, time-machine,
        ``fakes.clock.advance()``). This is the shortcut for a test that only wants the
        objects. Messages published by clients' ``publish()`` calls still pending are sent
        first, as the other inspection helpers do.
        """
        self.pending_publishes.settle()
        names = None if subscription is None else [self.subscription_path(subscription)]
        if names is not None:
            self.backend._subscription(names[0])  # NotFound for a subscription that is not
        written = self.backend.pump_exports(names=names, flush=True)
        if self.backend.export_errors:
            raise self.backend.export_errors[0]
        return written

    # -- push delivery -------------------------------------------------------------------

    def route_push(self, url_prefix: str, app: Any) -> None:
        """Deliver pushes for endpoints under ``url_prefix`` to a WSGI/Flask app in-process.

        ``fake_pubsub.route_push("https://myapp.example.com/", app)`` makes a push
        subscription to ``https://myapp.example.com/pubsub/push`` POST to the app's
        ``/pubsub/push`` through a test client: no server, no network. Endpoints on
        127.0.0.1 (such as ``live_app()`` serves) are reached over real HTTP instead.
        """
        self._routes.append((url_prefix, app))
        self._routes.sort(key=lambda route: len(route[0]), reverse=True)
        self.backend.ensure_pushers()

    @property
    def pushes(self) -> list[Any]:
        """Every push attempt so far: subscription, endpoint, message id, status, acked."""
        return list(self.backend.push_log)

    def wait_for_pushes(self, count: int, *, timeout: float = 10.0) -> list[Any]:
        """Wait until ``count`` push attempts have been made; return all attempts so far."""
        self.pending_publishes.settle(timeout)
        attempts = self.backend.wait_for_pushes(count, timeout)
        if self.backend.push_errors:
            raise self.backend.push_errors[0]
        if len(attempts) < count:
            raise TimeoutError(
                f"fake_pubsub.wait_for_pushes(): {len(attempts)} of {count} push attempts "
                f"within {timeout:g} s; is the push endpoint routed (route_push) and is "
                "something published to the subscription's topic?"
            )
        return attempts

    def _send_push(self, endpoint: str, body: bytes, headers: dict[str, str]) -> int:
        from urllib.parse import urlsplit

        from pytest_gcpfakes.pubsub._push import PushUnroutable

        for prefix, app in self._routes:
            if endpoint.startswith(prefix):
                path = "/" + endpoint[len(prefix) :].lstrip("/")
                response = app.test_client().post(path, data=body, headers=headers)
                status = int(response.status_code)
                response.close()
                return status
        host = urlsplit(endpoint).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            import requests

            return int(requests.post(endpoint, data=body, headers=headers, timeout=30).status_code)
        raise PushUnroutable(
            f"pytest-gcpfakes: cannot push to {endpoint} without leaving this machine; route "
            "it to your app with fake_pubsub.route_push(url_prefix, app), or push to a "
            "live_app() URL."
        )

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

    # -- faults --------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        exception: Any,
        *,
        times: int | DefaultTimes | None = DEFAULT_TIMES,
        probability: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Make an API method (``"Publish"``, ``"Pull"``, ``"Acknowledge"``,
        ``"StreamingPull"``, …, or ``"*"``) raise ``exception``; the client's own retry
        logic then runs. ``times=k`` fails the next k calls (default 1), ``probability=p``
        (with ``seed=``) fails calls at random, every call unless ``times`` says otherwise.
        Only calls from clients (in-process or over the gRPC server) count: this handle's
        own helpers never use a fault up."""
        self.faults.fail(method, exception, times=times, probability=probability, seed=seed)

    def latency(self, method: str, seconds: float) -> None:
        """Delay every call of an API method (or ``"*"``) by ``seconds``, to widen races."""
        self.faults.set_latency(method, seconds)

    @property
    def retried_calls(self) -> list[RetriedCall]:
        """Client calls retried after failures this fake answered, with the backoff each
        client computed (virtual: no real time passed for it)."""
        return self.faults.retried_calls

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
        """Every message published to ``topic`` so far, in publish order.

        Like every inspection helper, it first sends the batches that clients' ``publish()``
        calls left pending and waits for them to land, as waiting on their futures would.
        """
        self.pending_publishes.settle()
        state = self.backend._topic(self.topic_path(topic))
        with state.lock:
            return list(state.published)

    def subscription(self, subscription: str) -> Subscription:
        """The live, locked state object of one subscription (prefer :meth:`state`)."""
        self.pending_publishes.settle()
        return self.backend._subscription(self.subscription_path(subscription))

    def state(self, subscription: str) -> SubscriptionState:
        """A snapshot of one subscription: backlog, outstanding leases, attempts, acked."""
        sub = self.subscription(subscription)
        self.backend.backlog(sub.name)  # hand expired leases back first
        export = self.backend.exports.get(sub.name)
        exporting: tuple[PublishedMessage, ...] = ()
        if export is not None:
            with export.lock:
                exporting = tuple(export.batch.messages) if export.batch is not None else ()
        with sub.cond:
            attempts = {
                m.message_id: sub.returned[m.seq].attempts
                for m in sub.ready
                if m.seq in sub.returned
            }
            attempts.update((le.message.message_id, le.attempts) for le in sub.leases.values())
            return SubscriptionState(
                name=sub.name,
                topic=sub.config.topic,
                backlog=tuple(sub.ready),
                outstanding=tuple(
                    Outstanding(
                        message=le.message,
                        ack_id=le.ack_id,
                        delivery_attempt=le.attempts,
                        ack_deadline=datetime.fromtimestamp(le.deadline, tz=timezone.utc),
                    )
                    for le in sub.leases.values()
                ),
                acked=tuple(sub.acked),
                dead_lettered=tuple(sub.dead_lettered),
                delivery_attempts=attempts,
                exporting=exporting,
            )

    def backlog(self, subscription: str) -> int:
        """How many messages of ``subscription`` are waiting to be delivered (not leased)."""
        self.pending_publishes.settle()
        return self.backend.backlog(self.subscription_path(subscription))
