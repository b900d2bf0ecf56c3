"""Push delivery: POST each message of a push subscription to its endpoint.

One delivery thread per push subscription takes messages in order, one per request, as
Pub/Sub's push does, and sends GCP's JSON envelope through a *sender* the handle provides
(an app routed with ``fake_pubsub.route_push()``, or real HTTP to a loopback URL such as
``live_app()`` gives). The documented success codes (102, 200, 201, 202, 204) acknowledge;
anything else is a nack, retried after the subscription's retry-policy backoff, or else
Pub/Sub's push backoff (exponential from 100 ms to 60 s), on the fakes' clock.

The thread starts no request of its own, so the recorder sees each push as the request the
app handles, and never as a use by the test.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING, Any

from google.pubsub_v1 import types

from pytest_gcpfakes.pubsub._delivery import RECHECK_SECONDS

if TYPE_CHECKING:
    from pytest_gcpfakes.pubsub._backend import PubSubBackend
    from pytest_gcpfakes.pubsub._delivery import DeadLetter, Subscription

SUCCESS_CODES = frozenset({102, 200, 201, 202, 204})
_PULL_RESPONSE_PB = types.PullResponse.pb()
_PUSH_BACKOFF_MIN = 0.1
_PUSH_BACKOFF_MAX = 60.0

# (endpoint, JSON body, headers) -> HTTP status; raises PushUnroutable for nowhere to send.
Sender = Callable[[str, bytes, dict[str, str]], int]


class PushUnroutable(Exception):
    """A push endpoint that the fakes cannot reach without leaving this machine."""


@dataclass(frozen=True)
class PushAttempt:
    """One push request and its outcome."""

    subscription: str
    endpoint: str
    message_id: str
    delivery_attempt: int
    status: int
    acked: bool


def envelope(subscription: str, received: Any, with_attempt: bool) -> dict[str, Any]:
    """GCP's push request body for one received message."""
    message = received.message  # a raw protobuf (see Subscription.take)
    publish_time = message.publish_time.ToDatetime(tzinfo=timezone.utc)
    stamp = publish_time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{publish_time.microsecond:06d}Z"
    body: dict[str, Any] = {
        "message": {
            "attributes": dict(message.attributes),
            "data": base64.b64encode(bytes(message.data)).decode(),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": stamp,
            "publish_time": stamp,
        },
        "subscription": subscription,
    }
    if message.ordering_key:
        body["message"]["orderingKey"] = message.ordering_key
    if with_attempt:
        body["deliveryAttempt"] = received.delivery_attempt
    return body


class PushDelivery:
    """The delivery thread of one push subscription."""

    def __init__(
        self,
        backend: PubSubBackend,
        sub: Subscription,
        sender: Sender,
        on_attempt: Callable[[PushAttempt], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._backend = backend
        self._sub = sub
        self._sender = sender
        self._on_attempt = on_attempt
        self._on_error = on_error
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"gcpfakes-push-{sub.name.rsplit('/', 1)[-1]}", daemon=True
        )
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """Whether this thread has stopped delivering (deleted subscription, unroutable)."""
        return self._stopped or not self._thread.is_alive()

    def stop(self) -> None:
        """Stop delivering and wait for the thread (a push in flight finishes first)."""
        self._stopped = True
        with self._sub.cond:
            self._sub.cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(30)

    def _run(self) -> None:
        try:
            while not self._stopped:
                received, endpoint = self._next()
                if received is None:
                    continue
                self._push(received, endpoint)
        except BaseException as error:  # surfaced at teardown, never swallowed
            self._on_error(error)

    def _next(self) -> tuple[Any, str]:
        sub = self._sub
        with sub.cond:
            while not self._stopped and not sub.deleted:
                endpoint = sub.push_endpoint
                if not endpoint:
                    sub.cond.wait(RECHECK_SECONDS)
                    continue
                now = sub.clock.time()
                letters = sub.expire(now)
                if letters:
                    break
                one = _PULL_RESPONSE_PB().received_messages
                if sub.take(now, 1, one):
                    return one[0], endpoint
                sub.cond.wait(RECHECK_SECONDS)
            else:
                self._stopped = True
                return None, ""
        self._backend._forward(letters)
        return None, ""

    def _push(self, received: Any, endpoint: str) -> None:
        sub = self._sub
        body = json.dumps(envelope(sub.name, received, sub.dead_letter is not None)).encode()
        try:
            status = self._sender(endpoint, body, {"Content-Type": "application/json"})
        except PushUnroutable as error:
            # Put it back and stop: nothing here can deliver to that endpoint.
            with sub.cond:
                sub.modify_deadline([received.ack_id], 0, sub.clock.time())
                sub.push_endpoint_blocked = endpoint
            self._on_error(error)
            self._stopped = True
            return
        acked = status in SUCCESS_CODES
        with sub.cond:
            now = sub.clock.time()
            held = sub.leases.get(received.ack_id)
            attempt = held.attempts if held is not None else 0
            letters: list[DeadLetter] = []
            if acked:
                sub.acknowledge([received.ack_id])
            else:
                lease = sub.leases.get(received.ack_id)
                _, letters = sub.modify_deadline([received.ack_id], 0, now)
                if lease is not None and sub.backoff is None:
                    # No retry policy: Pub/Sub's own push backoff still spaces retries.
                    attempts = lease.attempts
                    sub.hold_back(
                        lease.message,
                        now + min(_PUSH_BACKOFF_MIN * 2 ** max(attempts - 1, 0), _PUSH_BACKOFF_MAX),
                    )
        if letters:
            self._backend._forward(letters)
        self._on_attempt(
            PushAttempt(
                sub.name,
                endpoint,
                received.message.message_id,
                attempt,
                status,
                acked,
            )
        )
