from google.cloud import pubsub_v1, storage

publisher = pubsub_v1.PublisherClient()  # built at import time: still faked
gcs = storage.Client()  # no credentials needed


def test_upload_then_notify(fake_pubsub, fake_storage):
    fake_pubsub.create_topic("uploads")
    gcs.create_bucket("files").blob("a.txt").upload_from_string("hello")
    publisher.publish(fake_pubsub.topic_path("uploads"), b"a.txt").result()
    assert fake_storage.get("files", "a.txt") == b"hello"
