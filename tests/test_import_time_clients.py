"""Clients built at import time, on a machine with no credentials, are faked in every test."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("clean_env")


def test_module_level_clients_construct_without_credentials_and_hit_each_tests_fakes(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        app="""
        from google.cloud import pubsub_v1, storage

        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        gcs = storage.Client()
        """
    )
    pytester.makepyfile(
        test_app="""
        import app

        TOPIC = "projects/test-project/topics/orders"
        SUB = "projects/test-project/subscriptions/orders-worker"

        def test_first(fake_pubsub, fake_storage):
            app.publisher.create_topic(name=TOPIC)
            app.subscriber.create_subscription(name=SUB, topic=TOPIC)
            app.publisher.publish(TOPIC, b"one").result()
            pulled = app.subscriber.pull(subscription=SUB, max_messages=10)
            assert [m.message.data for m in pulled.received_messages] == [b"one"]
            app.gcs.create_bucket("uploads").blob("a.txt").upload_from_string("hi")
            assert fake_storage.get("uploads", "a.txt") == b"hi"
            assert app.gcs.project == "test-project"

        def test_second_sees_fresh_state(fake_pubsub, fake_storage):
            assert fake_pubsub.topics == []
            assert list(app.gcs.list_buckets()) == []
            app.publisher.create_topic(name=TOPIC)  # no AlreadyExists: a new backend
            assert fake_pubsub.topics == [TOPIC]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_client_built_in_conftest_is_faked(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from google.cloud import storage
        CLIENT = storage.Client()
        """
    )
    pytester.makepyfile(
        """
        from conftest import CLIENT

        def test_it(fake_storage):
            fake_storage.put("bucket-1", "x", b"payload")
            assert CLIENT.bucket("bucket-1").blob("x").download_as_bytes() == b"payload"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
