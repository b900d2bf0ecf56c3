"""Push subscriptions deliver into a Flask app: in-process (route_push) or over HTTP."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from flask import Flask, request
from google.cloud import pubsub_v1

from pytest_gcpfakes import GCPFakes
from pytest_gcpfakes.pubsub._push import PushUnroutable

WAIT = 10
ENDPOINT = "https://push.example.com/pubsub/push"


class Receiver:
    """A Flask app with a push endpoint that answers with the statuses it is told to."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []
        self.app = Flask("receiver")
        self.lock = threading.Lock()

        @self.app.post("/pubsub/push")
        def push() -> tuple[str, int]:
            with self.lock:
                self.bodies.append(request.get_json())
                status = self.statuses.pop(0) if self.statuses else 204
            return "", status


def _push_subscription(fake_pubsub: Any, endpoint: str = ENDPOINT, **fields: Any) -> str:
    fake_pubsub.create_topic("events")
    return fake_pubsub.create_subscription(
        "pusher", "events", push_config={"push_endpoint": endpoint}, **fields
    )


def test_routed_push_delivers_gcps_envelope_to_the_app(fake_pubsub: Any) -> None:
    receiver = Receiver(204)
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    sub = _push_subscription(fake_pubsub)
    message_id = fake_pubsub.publish("events", b"hello push", kind="greeting")
    (attempt,) = fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert (attempt.status, attempt.acked, attempt.message_id) == (204, True, message_id)
    (body,) = receiver.bodies
    assert body["subscription"] == sub
    assert base64.b64decode(body["message"]["data"]) == b"hello push"
    assert body["message"]["attributes"] == {"kind": "greeting"}
    assert body["message"]["messageId"] == body["message"]["message_id"] == message_id
    assert body["message"]["publishTime"] == body["message"]["publish_time"]
    assert body["message"]["publishTime"].endswith("Z")
    assert "deliveryAttempt" not in body
    assert fake_pubsub.state("pusher").acked[0].message_id == message_id


@pytest.mark.parametrize("status", [102, 200, 201, 202, 204])
def test_each_documented_success_code_acknowledges(fake_pubsub: Any, status: int) -> None:
    receiver = Receiver(status)
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    _push_subscription(fake_pubsub)
    fake_pubsub.publish("events", b"x")
    (attempt,) = fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert attempt.acked


def test_an_error_status_nacks_and_the_message_is_pushed_again_after_backoff(
    fake_pubsub: Any,
) -> None:
    receiver = Receiver(500, 204)
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    _push_subscription(fake_pubsub, retry_policy={"minimum_backoff": {"seconds": 30}})
    fake_pubsub.publish("events", b"retry me")
    (first,) = fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert (first.status, first.acked) == (500, False)
    assert fake_pubsub.state("pusher").unacked == 1
    fake_pubsub.clock.advance(30)  # the retry policy's backoff, on the fakes' clock
    attempts = fake_pubsub.wait_for_pushes(2, timeout=WAIT)
    assert [(a.status, a.acked, a.delivery_attempt) for a in attempts] == [
        (500, False, 1),
        (204, True, 2),
    ]


def test_push_with_dead_lettering_carries_delivery_attempt_and_forwards(
    fake_pubsub: Any,
) -> None:
    receiver = Receiver(*([503] * 5))
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    fake_pubsub.create_topic("events-dead")
    _push_subscription(
        fake_pubsub,
        dead_letter_policy={
            "dead_letter_topic": fake_pubsub.topic_path("events-dead"),
            "max_delivery_attempts": 5,
        },
    )
    fake_pubsub.publish("events", b"poison")
    for attempt in range(1, 6):
        fake_pubsub.wait_for_pushes(attempt, timeout=WAIT)
        fake_pubsub.clock.advance(60)  # past the push backoff
    assert [body["deliveryAttempt"] for body in receiver.bodies] == [1, 2, 3, 4, 5]
    state = fake_pubsub.state("pusher")
    assert [m.data for m in state.dead_lettered] == [b"poison"]
    assert [m.data for m in fake_pubsub.published("events-dead")] == [b"poison"]


def test_push_to_a_live_app_url_goes_over_real_http(fake_pubsub: Any, live_app: Any) -> None:
    receiver = Receiver(200)
    url = live_app(receiver.app)
    _push_subscription(fake_pubsub, endpoint=f"{url}/pubsub/push")
    fake_pubsub.publish("events", b"over http")
    (attempt,) = fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert attempt.acked
    assert base64.b64decode(receiver.bodies[0]["message"]["data"]) == b"over http"


def test_messages_published_through_the_real_publisher_are_pushed(fake_pubsub: Any) -> None:
    receiver = Receiver()
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    _push_subscription(fake_pubsub)
    publisher = pubsub_v1.PublisherClient()
    for i in range(3):
        publisher.publish(fake_pubsub.topic_path("events"), f"{i}".encode()).result(WAIT)
    fake_pubsub.wait_for_pushes(3, timeout=WAIT)
    assert [base64.b64decode(b["message"]["data"]) for b in receiver.bodies] == [
        b"0",
        b"1",
        b"2",
    ]
    publisher.stop()


def test_each_push_is_a_request_the_recorder_sees(fake_pubsub: Any, gcp_usage: Any) -> None:
    receiver = Receiver()
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    _push_subscription(fake_pubsub)
    fake_pubsub.publish("events", b"x")
    fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert [r.label for r in gcp_usage.requests] == ["POST /pubsub/push"]


def test_push_to_an_unroutable_endpoint_fails_at_the_end_with_the_fix() -> None:
    fakes = GCPFakes(services=("pubsub",))
    # The error is raised again when the fakes close, on the test's thread.
    with pytest.raises(PushUnroutable) as caught, fakes:  # noqa: PT012
        _push_subscription(fakes.pubsub, endpoint="https://elsewhere.example.com/push")
        fakes.pubsub.publish("events", b"nowhere to go")
        with pytest.raises(PushUnroutable, match="cannot push"):
            fakes.pubsub.wait_for_pushes(1, timeout=WAIT)
    assert str(caught.value) == (
        "pytest-gcpfakes: cannot push to https://elsewhere.example.com/push without leaving "
        "this machine; route it to your app with fake_pubsub.route_push(url_prefix, app), or "
        "push to a live_app() URL."
    )


def test_routing_after_an_unroutable_push_delivers_the_waiting_message(
    fake_pubsub: Any,
) -> None:
    _push_subscription(fake_pubsub)
    fake_pubsub.publish("events", b"waited")
    with pytest.raises(PushUnroutable, match="cannot push"):
        fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    receiver = Receiver()
    fake_pubsub.route_push("https://push.example.com/", receiver.app)
    (attempt,) = fake_pubsub.wait_for_pushes(1, timeout=WAIT)
    assert attempt.acked
