from contextlib import closing

from google.cloud import pubsub_v1, storage


def handle_orders(subscription):  # the code under test: pull what is there, ack it
    with pubsub_v1.SubscriberClient() as subscriber:
        response = subscriber.pull(subscription=subscription, max_messages=10)
        ack_ids = [received.ack_id for received in response.received_messages]
        subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)


def test_worker(fake_pubsub):
    topic = fake_pubsub.create_topic("orders")  # "projects/test-project/topics/orders"
    sub = fake_pubsub.create_subscription("worker", "orders", ack_deadline_seconds=30)
    fake_pubsub.publish("orders", b'{"id": 1}', origin="shop")  # as if another service did

    handle_orders(sub)

    assert topic == "projects/test-project/topics/orders"
    assert [m.data for m in fake_pubsub.published("orders")] == [b'{"id": 1}']
    assert fake_pubsub.backlog("worker") == 0


def count_rows(bucket, name):  # the code under test: write NAME.count beside NAME
    with closing(storage.Client()) as client:  # `with` alone needs storage 3.11
        rows = client.bucket(bucket).blob(name).download_as_text().splitlines()
        client.bucket(bucket).blob(f"{name}.count").upload_from_string(str(len(rows)))


def test_report(fake_storage):
    fake_storage.put("reports", "2026/q1.csv", "a,b\n")  # creates the bucket if needed

    count_rows("reports", "2026/q1.csv")

    assert fake_storage.get("reports", "2026/q1.csv") == b"a,b\n"
    assert fake_storage.get("reports", "2026/q1.csv.count") == b"1"
    version = fake_storage.object("reports", "2026/q1.csv")
    assert version.generation > 0
    assert version.content_type == "text/plain; charset=utf-8"


def without_pytest():
    from pytest_gcpfakes import GCPFakes

    with GCPFakes() as fakes:  # or GCPFakes(services=("pubsub",))
        fakes.pubsub.create_topic("orders")
        pubsub_v1.PublisherClient().publish(fakes.pubsub.topic_path("orders"), b"hi").result()
        return [m.data for m in fakes.pubsub.published("orders")]


def test_without_pytest():
    assert without_pytest() == [b"hi"]
