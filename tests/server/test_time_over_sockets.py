"""Frozen time over real sockets: gRPC deadlines come from ``time.time()``.

Under a freeze in the past, a client on a real gRPC channel would compute every deadline in
the past. The plugin adds ``grpc.`` to freezegun's ignore list, so such clients keep working
while the fakes' observable time stays frozen. time-machine has no ignore list: there the
same call misses its deadline, as documented. In-process clients have no wire deadlines.
"""

from __future__ import annotations

import datetime
import multiprocessing
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import time_machine
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

from pytest_gcpfakes import GCPFakesServer

PAST = datetime.datetime(2001, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)
TOPIC = "projects/test-project/topics/frozen"

publisher = pubsub_v1.PublisherClient()  # module level, inherited by forked children


@pytest.fixture
def socket_publisher(gcpfakes_server: GCPFakesServer) -> Iterator[PublisherClient]:
    """The generated client on a real gRPC channel to this test's server."""
    channel = grpc.insecure_channel(gcpfakes_server.pubsub_address)
    yield PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    channel.close()


def test_under_freezegun_a_real_channel_still_meets_its_deadlines(
    fake_pubsub: Any, socket_publisher: PublisherClient
) -> None:
    with freeze_time(PAST):
        socket_publisher.create_topic(name=TOPIC, timeout=30)
        socket_publisher.publish(topic=TOPIC, messages=[{"data": b"then"}], timeout=30)
    (message,) = fake_pubsub.published("frozen")
    # The fakes' observable time is still the frozen one.
    assert message.publish_time == PAST


def _publish_in_child() -> None:
    publisher.publish(TOPIC, b"from a frozen child").result(timeout=30)


def test_a_forked_child_inherits_the_freeze_and_still_reaches_the_fakes(
    fake_pubsub: Any, gcpfakes_server: GCPFakesServer
) -> None:
    # While gcpfakes_server is up, this process still hosts no gRPC server: forking is safe.
    fake_pubsub.create_topic("frozen")
    with freeze_time(PAST):
        child = multiprocessing.get_context("fork").Process(target=_publish_in_child)
        child.start()
        child.join(60)
    assert child.exitcode == 0
    (message,) = fake_pubsub.published("frozen")
    assert (message.data, message.publish_time) == (b"from a frozen child", PAST)


def test_under_time_machine_a_real_channel_misses_its_deadline_but_in_process_works(
    fake_pubsub: Any, socket_publisher: PublisherClient
) -> None:
    with time_machine.travel(PAST, tick=False):
        # time-machine moves time.time() for everyone, grpc included, and has no ignore
        # list: the deadline is computed in 2001 and the channel checks it against now.
        with pytest.raises(exceptions.DeadlineExceeded):
            socket_publisher.create_topic(name=TOPIC, timeout=30)
        # In-process clients have no deadline on a wire.
        publisher.create_topic(name=TOPIC)
        publisher.publish(TOPIC, b"in-process").result(timeout=30)
    (message,) = fake_pubsub.published("frozen")
    assert message.publish_time == PAST
