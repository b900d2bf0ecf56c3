"""The link: kept, framed connections from relays and child processes to the test's fakes.

A call over the link is one frame each way on a connection the caller keeps: a relay's
gRPC face and every forked or spawned child reach the fakes this way, call after call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.pubsub_v1 import types

from pytest_gcpfakes.pubsub._service import LocalCaller
from pytest_gcpfakes.server._http import serve_wsgi, storage_server_app
from pytest_gcpfakes.server._link import PREFIX, LinkApp, RemoteCaller, serve_unix, with_unix
from pytest_gcpfakes.server._remote import ForwardingApp

TOPIC = "projects/test-project/topics/link"
SUBSCRIPTION = "projects/test-project/subscriptions/link-sub"
GET_TOPIC = "/google.pubsub.v1.Publisher/GetTopic"
STREAMING_PULL = "/google.pubsub.v1.Subscriber/StreamingPull"


@pytest.fixture(params=["tcp", "unix"])
def link(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    """A link over this process's fakes (on TCP with an upgrade, or on its Unix socket), and
    one entry per connection a caller opened."""
    opened: list[str] = []
    app = LinkApp(LocalCaller(), storage=storage_server_app)

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == f"{PREFIX}/frames":
            opened.append("tcp")
        return app(environ, start_response)

    serve_unix_connection = app.serve_unix_connection

    def counting_unix(sock: Any) -> None:
        opened.append("unix")
        serve_unix_connection(sock)

    app.serve_unix_connection = counting_unix  # type: ignore[method-assign]
    with serve_wsgi(counting) as server:
        if request.param == "tcp":
            yield server.url, opened
        else:
            unix = serve_unix(app)
            assert unix is not None
            try:
                yield with_unix(server.url, unix.path), opened
            finally:
                unix.stop()
    # A caller given the Unix socket uses it: it never falls back to TCP unnoticed.
    assert set(opened) <= {request.param}


def get_topic(caller: RemoteCaller, topic: str) -> types.Topic:
    request = types.GetTopicRequest.serialize(types.GetTopicRequest(topic=topic))
    return types.Topic.deserialize(caller.unary(GET_TOPIC, request))


def one_message_waiting(fake_pubsub: Any, data: bytes) -> None:
    """The topic and subscription the stream tests pull from, with one message waiting."""
    fake_pubsub.create_topic(TOPIC)
    fake_pubsub.create_subscription(SUBSCRIPTION, TOPIC)
    fake_pubsub.publish(TOPIC, data)


def test_calls_from_one_thread_share_one_kept_connection(
    fake_pubsub: Any, link: tuple[str, list[str]]
) -> None:
    url, served = link
    fake_pubsub.create_topic(TOPIC)
    caller = RemoteCaller(url)

    names = {get_topic(caller, TOPIC).name for _ in range(25)}

    assert names == {TOPIC}
    assert len(served) == 1  # one connection, then 25 calls on it


def test_each_thread_calls_on_a_connection_of_its_own(
    fake_pubsub: Any, link: tuple[str, list[str]]
) -> None:
    url, served = link
    fake_pubsub.create_topic(TOPIC)
    caller = RemoteCaller(url)
    together = threading.Barrier(3)
    answers: list[str] = []

    def calls() -> None:
        together.wait(10)  # all three hold a connection at once
        answers.extend(get_topic(caller, TOPIC).name for _ in range(5))

    threads = [threading.Thread(target=calls) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert answers == [TOPIC] * 15
    assert len(served) == 3


def test_an_error_of_the_fake_is_raised_as_the_same_exception(
    fake_pubsub: Any, link: tuple[str, list[str]]
) -> None:
    url, _ = link
    caller = RemoteCaller(url)

    with pytest.raises(exceptions.NotFound, match="Resource not found"):
        get_topic(caller, "projects/test-project/topics/missing")
    # The connection stays good after an error.
    fake_pubsub.create_topic(TOPIC)
    assert get_topic(caller, TOPIC).name == TOPIC


def test_a_stream_carries_requests_and_responses_and_ends_at_a_cancel(
    fake_pubsub: Any, link: tuple[str, list[str]]
) -> None:
    url, _ = link
    one_message_waiting(fake_pubsub, b"over the link")
    outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    cancels: list[Callable[[], None]] = []

    def requests() -> Iterator[bytes]:
        while (item := outgoing.get()) is not None:
            yield item

    outgoing.put(
        types.StreamingPullRequest.serialize(
            types.StreamingPullRequest(subscription=SUBSCRIPTION, stream_ack_deadline_seconds=60)
        )
    )
    responses = RemoteCaller(url).stream(STREAMING_PULL, requests(), cancels.append)

    first = types.StreamingPullResponse.deserialize(next(responses))
    [received] = first.received_messages
    assert received.message.data == b"over the link"
    # A later request on the same stream reaches the fake: a nack, so the message comes
    # again on this stream.
    outgoing.put(
        types.StreamingPullRequest.serialize(
            types.StreamingPullRequest(
                modify_deadline_ack_ids=[received.ack_id], modify_deadline_seconds=[0]
            )
        )
    )
    again = types.StreamingPullResponse.deserialize(next(responses))
    assert [m.message.data for m in again.received_messages] == [b"over the link"]

    [cancel] = cancels
    cancel()
    assert list(responses) == []  # the stream is over on both sides
    outgoing.put(None)


def test_a_server_that_is_not_a_link_is_named() -> None:
    def not_a_link(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    with serve_wsgi(not_a_link) as server:
        caller = RemoteCaller(server.url)
        with pytest.raises(ConnectionError, match="is not a pytest-gcpfakes link"):
            caller.unary(GET_TOPIC, b"")


def test_a_childs_storage_request_is_served_on_the_kept_connection_as_in_process(
    fake_storage: Any, link: tuple[str, list[str]]
) -> None:
    """What a child's client reaches: the owner's Storage app, given the URL the client
    called, so links in the answer lead back to that address."""
    import json

    from werkzeug.test import Client

    url, served = link
    fake_storage.create_bucket("link-bucket")
    child_app = Client(ForwardingApp(url))
    base = "http://storage.child.test:8123"

    upload = child_app.post(
        "/upload/storage/v1/b/link-bucket/o?uploadType=media&name=dir%2Fobject.txt",
        base_url=base,
        data=b"from the child",
        headers={"Content-Type": "text/plain"},
    )
    download = child_app.get(
        "/download/storage/v1/b/link-bucket/o/dir%2Fobject.txt?alt=media", base_url=base
    )

    assert upload.status_code == 200
    resource = json.loads(upload.data)
    assert resource["mediaLink"].startswith(f"{base}/download/storage/v1/b/link-bucket/o/")
    assert download.data == b"from the child"
    assert fake_storage.objects("link-bucket") == ["dir/object.txt"]
    assert len(served) == 1  # both requests on one kept connection


def test_a_forked_childs_copy_of_a_stream_never_ends_the_parents(
    fake_pubsub: Any, link: tuple[str, list[str]]
) -> None:
    import os
    import warnings

    url, _ = link
    one_message_waiting(fake_pubsub, b"before the fork")
    opening = types.StreamingPullRequest(subscription=SUBSCRIPTION, stream_ack_deadline_seconds=60)
    cancels: list[Callable[[], None]] = []
    held = threading.Event()

    def requests() -> Iterator[bytes]:
        yield types.StreamingPullRequest.serialize(opening)
        held.wait(30)  # the request side stays open until the test ends

    responses = RemoteCaller(url).stream(STREAMING_PULL, requests(), cancels.append)
    assert next(responses)  # the stream is running

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child drops its copy, as a worker's garbage collector would
        try:
            responses.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)

    fake_pubsub.publish(TOPIC, b"after the fork")
    after = types.StreamingPullResponse.deserialize(next(responses))
    assert [m.message.data for m in after.received_messages] == [b"after the fork"]
    cancels[0]()
    held.set()


def test_without_a_usable_unix_socket_the_link_keeps_to_tcp(
    fake_pubsub: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A temporary directory too deep for a socket address (108 bytes on Linux): no Unix
    socket, and callers use TCP."""
    import tempfile

    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    app = LinkApp(LocalCaller())
    assert serve_unix(app) is None
    assert list(deep.iterdir()) == []  # nothing left behind
    fake_pubsub.create_topic(TOPIC)
    with serve_wsgi(app) as server:
        assert get_topic(RemoteCaller(server.url), TOPIC).name == TOPIC
