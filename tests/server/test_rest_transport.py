"""Pub/Sub's REST/JSON face: google-cloud-pubsub's REST transport, and raw HTTP.

How the tests build a REST client, and why (google-cloud-pubsub 2.44):

- ``PublisherClient(transport="rest", client_options={"api_endpoint": ...})`` looks
  ``"rest"`` up in the generated client's transport registry, where the plugin has put its
  in-memory transport: it is served in-process and never reaches a socket.
- ``transport=PublisherRestTransport`` (the class) skips the registry, but while
  ``PUBSUB_EMULATOR_HOST`` is set (``gcpfakes_server`` sets it) the generated client hands
  every transport class but the registry's ``"grpc"`` one a ``grpc.aio`` channel: the REST
  class fails (``TypeError: unexpected keyword argument 'channel'``, or ``RuntimeError``
  from ``grpc.aio`` when the thread has no event loop). The library's emulator support is
  gRPC-only, against any emulator.
- A transport *instance*, ``PublisherRestTransport(host="http://HOST:PORT",
  credentials=AnonymousCredentials())``, is used as given: that is what these tests do.

Errors over REST: google-api-core maps a REST error by its HTTP status alone, so NOT_FOUND
(404) arrives as ``NotFound`` as it does in-process, while ALREADY_EXISTS (409) arrives as
``Conflict`` and INVALID_ARGUMENT (400) as ``BadRequest``, their parent classes, as they do
from GCP's REST API; the body's ``status`` names the gRPC code.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports.rest import PublisherRestTransport
from google.pubsub_v1.services.subscriber.transports.rest import SubscriberRestTransport

from pytest_gcpfakes import GCPFakesServer

WAIT = 30  # seconds; a bound on waiting, never a sleep
PROJECT = "projects/test-project"


@dataclass
class RestClients:
    publisher: pubsub_v1.PublisherClient
    subscriber: pubsub_v1.SubscriberClient


@pytest.fixture
def rest(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RestClients]:
    """The library's own clients on its REST transport, pointed at the server's address."""
    endpoint = f"http://{gcpfakes_server.pubsub_address}"
    with monkeypatch.context() as patch:
        # gcpfakes_server sets PUBSUB_EMULATOR_HOST; google-cloud-pubsub before 2.28 then
        # adds credentials beside an explicit transport, which its GAPIC client refuses.
        patch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
        clients = RestClients(
            publisher=pubsub_v1.PublisherClient(
                transport=PublisherRestTransport(host=endpoint, credentials=AnonymousCredentials())
            ),
            subscriber=pubsub_v1.SubscriberClient(
                transport=SubscriberRestTransport(host=endpoint, credentials=AnonymousCredentials())
            ),
        )
    try:
        yield clients
    finally:
        clients.publisher.stop()
        clients.publisher.transport.close()
        # SubscriberClient.close() closes transport.grpc_channel, which a REST transport
        # lacks (AttributeError in google-cloud-pubsub 2.44): close its session instead.
        clients.subscriber.transport.close()


# -- the REST transport ------------------------------------------------------------------------


def test_rest_by_name_is_served_in_process_and_an_instance_reaches_the_server(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer, rest: RestClients
) -> None:
    endpoint = f"http://{gcpfakes_server.pubsub_address}"
    by_name = pubsub_v1.PublisherClient(transport="rest", client_options={"api_endpoint": endpoint})
    assert not isinstance(by_name.transport, PublisherRestTransport)
    assert isinstance(rest.publisher.transport, PublisherRestTransport)
    assert isinstance(rest.subscriber.transport, SubscriberRestTransport)
    assert rest.publisher.transport._host == rest.subscriber.transport._host == endpoint


def test_topic_and_subscription_created_over_rest_are_in_fake_pubsub(
    fake_pubsub: Any, rest: RestClients
) -> None:
    topic = rest.publisher.create_topic(name=fake_pubsub.topic_path("orders"))
    sub = rest.subscriber.create_subscription(
        name=fake_pubsub.subscription_path("worker"), topic=topic.name
    )
    assert fake_pubsub.topics == [topic.name]
    assert fake_pubsub.subscriptions == [sub.name]
    assert (sub.topic, sub.ack_deadline_seconds) == (topic.name, 10)
    assert sub.message_retention_duration.total_seconds() == 7 * 24 * 3600
    # The transport asks for numeric enums ($alt=json;enum-encoding=int): they parse back.
    assert sub.state == pubsub_v1.types.Subscription.State.ACTIVE


def test_get_and_update_over_rest_return_the_new_fields(
    fake_pubsub: Any, rest: RestClients
) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    rest.publisher.update_topic(
        request={
            "topic": {"name": topic, "labels": {"team": "shop"}},
            "update_mask": {"paths": ["labels"]},
        }
    )
    assert dict(rest.publisher.get_topic(topic=topic).labels) == {"team": "shop"}
    updated = rest.subscriber.update_subscription(
        request={
            "subscription": {"name": sub, "ack_deadline_seconds": 42},
            "update_mask": {"paths": ["ack_deadline_seconds"]},
        }
    )
    assert updated.ack_deadline_seconds == 42
    assert rest.subscriber.get_subscription(subscription=sub).ack_deadline_seconds == 42


def test_publish_pull_modify_ack_deadline_and_ack_over_rest(
    fake_pubsub: Any, rest: RestClients
) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    message_id = rest.publisher.publish(topic, b"over rest", origin="rest").result(WAIT)
    (published,) = fake_pubsub.published("orders")
    assert (published.message_id, published.data) == (message_id, b"over rest")

    (first,) = rest.subscriber.pull(subscription=sub, max_messages=5).received_messages
    assert first.message.data == b"over rest"
    assert dict(first.message.attributes) == {"origin": "rest"}
    assert first.message.message_id == message_id
    assert first.message.publish_time.timestamp() > 0
    rest.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[first.ack_id], ack_deadline_seconds=0
    )  # a nack: redelivered at once
    (again,) = rest.subscriber.pull(subscription=sub, max_messages=5).received_messages
    assert (again.message.message_id, again.delivery_attempt) == (message_id, 0)
    assert again.ack_id != first.ack_id
    rest.subscriber.modify_ack_deadline(
        subscription=sub, ack_ids=[again.ack_id], ack_deadline_seconds=120
    )
    assert fake_pubsub.state("worker").outstanding[0].ack_id == again.ack_id
    rest.subscriber.acknowledge(subscription=sub, ack_ids=[again.ack_id])
    state = fake_pubsub.state("worker")
    assert (state.backlog, state.outstanding) == ((), ())
    assert [m.message_id for m in state.acked] == [message_id]


def test_listing_over_rest_pages_with_page_size_and_page_token(
    fake_pubsub: Any, rest: RestClients
) -> None:
    topics = {fake_pubsub.create_topic(f"topic-{i}") for i in range(7)}
    subs = {fake_pubsub.create_subscription(f"sub-{i}", "topic-0") for i in range(5)}
    pager = rest.publisher.list_topics(request={"project": PROJECT, "page_size": 3})
    pages = [[t.name for t in page.topics] for page in pager.pages]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert {name for page in pages for name in page} == topics
    pager = rest.subscriber.list_subscriptions(request={"project": PROJECT, "page_size": 2})
    assert [len(page.subscriptions) for page in pager.pages] == [2, 2, 1]
    pager = rest.publisher.list_topic_subscriptions(
        request={"topic": fake_pubsub.topic_path("topic-0"), "page_size": 4}
    )
    pages = [list(page.subscriptions) for page in pager.pages]
    assert [len(page) for page in pages] == [4, 1]
    assert {name for page in pages for name in page} == subs


def test_deleting_over_rest_removes_from_fake_pubsub(fake_pubsub: Any, rest: RestClients) -> None:
    topic = fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    rest.publisher.delete_topic(topic=topic)
    assert fake_pubsub.topics == []
    assert rest.subscriber.get_subscription(subscription=sub).topic == "_deleted-topic_"
    rest.subscriber.delete_subscription(subscription=sub)
    assert fake_pubsub.subscriptions == []


def test_snapshot_and_seek_over_rest_redeliver(fake_pubsub: Any, rest: RestClients) -> None:
    fake_pubsub.create_topic("orders")
    sub = fake_pubsub.create_subscription("worker", "orders")
    message_id = fake_pubsub.publish("orders", b"replay me")
    snapshot = f"{PROJECT}/snapshots/before"
    created = rest.subscriber.create_snapshot(name=snapshot, subscription=sub)
    assert (created.name, created.topic) == (snapshot, fake_pubsub.topic_path("orders"))
    assert [s.name for s in rest.subscriber.list_snapshots(project=PROJECT)] == [snapshot]
    (received,) = rest.subscriber.pull(subscription=sub, max_messages=1).received_messages
    rest.subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])
    rest.subscriber.seek(request={"subscription": sub, "snapshot": snapshot})
    (replayed,) = rest.subscriber.pull(subscription=sub, max_messages=1).received_messages
    assert replayed.message.message_id == message_id


# -- errors through the REST transport ---------------------------------------------------------


def test_missing_topic_is_not_found_over_rest_as_in_process(
    fake_pubsub: Any, rest: RestClients
) -> None:
    path = fake_pubsub.topic_path("missing")
    with pytest.raises(exceptions.NotFound) as in_process:
        pubsub_v1.PublisherClient().get_topic(topic=path)
    with pytest.raises(exceptions.NotFound) as over_rest:
        rest.publisher.get_topic(topic=path)
    assert type(over_rest.value) is type(in_process.value)
    assert over_rest.value.message.endswith(": Resource not found (resource=missing).")
    assert over_rest.value.response.json()["error"] == {
        "code": 404,
        "message": "Resource not found (resource=missing).",
        "status": "NOT_FOUND",
    }


def test_existing_topic_is_conflict_over_rest_and_already_exists_in_process(
    fake_pubsub: Any, rest: RestClients
) -> None:
    topic = fake_pubsub.create_topic("orders")
    with pytest.raises(exceptions.AlreadyExists) as in_process:
        pubsub_v1.PublisherClient().create_topic(name=topic)
    with pytest.raises(exceptions.Conflict) as over_rest:
        rest.publisher.create_topic(name=topic)
    # The same code, and a class either way that `except Conflict` catches.
    assert isinstance(in_process.value, exceptions.Conflict)
    assert over_rest.value.code == in_process.value.code == 409
    assert over_rest.value.response.json()["error"]["status"] == "ALREADY_EXISTS"
    assert over_rest.value.message.endswith(f": {in_process.value.message}")


def test_invalid_argument_is_bad_request_over_rest_with_the_same_sentence(
    fake_pubsub: Any, rest: RestClients
) -> None:
    sub = fake_pubsub.create_subscription("worker", fake_pubsub.create_topic("orders"))
    with pytest.raises(exceptions.InvalidArgument) as in_process:
        pubsub_v1.SubscriberClient().pull(subscription=sub, max_messages=0)
    with pytest.raises(exceptions.BadRequest) as over_rest:
        rest.subscriber.pull(subscription=sub, max_messages=0)
    assert over_rest.value.response.json()["error"] == {
        "code": 400,
        "message": in_process.value.message,
        "status": "INVALID_ARGUMENT",
    }


def test_publish_to_a_missing_topic_fails_the_future_with_not_found(
    fake_pubsub: Any, rest: RestClients
) -> None:
    future = rest.publisher.publish(fake_pubsub.topic_path("missing"), b"x")
    with pytest.raises(exceptions.NotFound):
        future.result(WAIT)


@pytest.mark.since("google-api-core", "2.44.0", "ErrorInfo on errors read from REST responses")
def test_exactly_once_ack_errors_carry_error_info_over_rest(
    fake_pubsub: Any, rest: RestClients
) -> None:
    fake_pubsub.create_topic("payments")
    sub = fake_pubsub.create_subscription("settle", "payments", enable_exactly_once_delivery=True)
    fake_pubsub.publish("payments", b"slow")
    (first,) = rest.subscriber.pull(subscription=sub, max_messages=1).received_messages
    fake_pubsub.clock.advance(11)  # the 10 s ack deadline passes
    rest.subscriber.pull(subscription=sub, max_messages=1)  # leased again, new ack id
    with pytest.raises(exceptions.InvalidArgument) as in_process:
        pubsub_v1.SubscriberClient().acknowledge(subscription=sub, ack_ids=[first.ack_id])
    with pytest.raises(exceptions.BadRequest) as over_rest:
        rest.subscriber.acknowledge(subscription=sub, ack_ids=[first.ack_id])
    assert over_rest.value.reason == in_process.value.reason
    assert over_rest.value.domain == in_process.value.domain
    assert over_rest.value.metadata == in_process.value.metadata


# -- raw HTTP: what curl sees ------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    body: Any


@pytest.fixture
def call(gcpfakes_server: GCPFakesServer) -> Any:
    host, port = gcpfakes_server.pubsub_address.rsplit(":", 1)

    def send(method: str, path: str, body: bytes | None = None) -> Answer:
        conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return Answer(response.status, response.getheader("Content-Type", ""), json.loads(data))

    return send


def test_list_topics_takes_page_size_and_page_token_query_parameters(
    fake_pubsub: Any, call: Any
) -> None:
    topics = [fake_pubsub.create_topic(f"topic-{i}") for i in range(3)]
    first = call("GET", f"/v1/{PROJECT}/topics?pageSize=2")
    assert first.status == 200
    assert first.content_type == "application/json; charset=UTF-8"
    assert [t["name"] for t in first.body["topics"]] == topics[:2]
    token = quote(first.body["nextPageToken"], safe="")
    # Proto field names work as well as JSON names, as they do on Google's front ends.
    second = call("GET", f"/v1/{PROJECT}/topics?page_size=2&pageToken={token}")
    assert [t["name"] for t in second.body["topics"]] == topics[2:]
    assert "nextPageToken" not in second.body


def test_a_body_that_is_not_json_is_400_invalid_argument_in_googles_error_shape(
    fake_pubsub: Any, call: Any
) -> None:
    topic = fake_pubsub.create_topic("orders")
    answer = call("POST", f"/v1/{topic}:publish", b"{not json")
    assert (answer.status, answer.content_type) == (400, "application/json; charset=UTF-8")
    assert list(answer.body) == ["error"]
    error = answer.body["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Invalid JSON payload received. ")
    assert fake_pubsub.published("orders") == []


def test_an_unknown_query_parameter_is_400_with_googles_sentence(
    fake_pubsub: Any, call: Any
) -> None:
    answer = call("GET", f"/v1/{PROJECT}/topics?colour=blue")
    assert answer.status == 400
    assert answer.body == {
        "error": {
            "code": 400,
            "message": 'Invalid JSON payload received. Unknown name "colour": Cannot bind query '
            "parameter. Field 'colour' could not be found in request message.",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_a_query_parameter_of_the_wrong_type_is_400_with_googles_sentence(
    fake_pubsub: Any, call: Any
) -> None:
    answer = call("GET", f"/v1/{PROJECT}/topics?pageSize=many")
    assert answer.status == 400
    assert answer.body["error"]["message"] == "Invalid value at 'page_size' (TYPE_INT32), \"many\""


def test_system_parameters_are_accepted_and_enum_encoding_is_honoured(
    fake_pubsub: Any, call: Any
) -> None:
    sub = fake_pubsub.create_subscription("worker", fake_pubsub.create_topic("orders"))
    named = call("GET", f"/v1/{sub}?alt=json&prettyPrint=false&quotaUser=me&$.xgafv=2")
    numeric = call("GET", f"/v1/{sub}?%24alt=json%3Benum-encoding%3Dint")
    assert (named.status, numeric.status) == (200, 200)
    assert (named.body["state"], numeric.body["state"]) == ("ACTIVE", 1)


def test_an_unknown_path_is_404_not_found(fake_pubsub: Any, call: Any) -> None:
    answer = call("GET", f"/v1/{PROJECT}/queues")
    assert answer.status == 404
    assert answer.body == {
        "error": {
            "code": 404,
            "message": f"The requested URL /v1/{PROJECT}/queues was not found on this server.",
            "status": "NOT_FOUND",
        }
    }


def test_a_path_with_an_unbound_verb_or_custom_method_is_404(fake_pubsub: Any, call: Any) -> None:
    topic = fake_pubsub.create_topic("orders")
    assert call("POST", f"/v1/{topic}").status == 404  # topics take PUT, GET, PATCH, DELETE
    assert call("POST", f"/v1/{topic}:getIamPolicy").status == 404  # a GET binding
    assert call("POST", f"/v1/{topic}:explode").status == 404


def test_a_custom_method_is_not_taken_for_the_resource_it_follows(
    fake_pubsub: Any, call: Any
) -> None:
    # "orders:getIamPolicy" matches GetTopic's "topics/*" as one segment; the verb wins.
    topic = fake_pubsub.create_topic("orders")
    answer = call("GET", f"/v1/{topic}:getIamPolicy")
    assert (answer.status, answer.body) == (200, {"etag": "ACAB"})  # a policy, not the topic
