"""What the service does, checked in every client variant (the ``app`` fixture's params)."""

from __future__ import annotations

import json
import queue


def test_upload_stores_the_file(client, fake_storage):
    response = client.post("/files/reports/q1.csv", data=b"a,b\n1,2\n", content_type="text/csv")

    assert response.status_code == 201
    stored = fake_storage.object("uploads", "reports/q1.csv")
    assert stored.data == b"a,b\n1,2\n"
    assert stored.content_type == "text/csv"


def test_upload_publishes_an_event(client, fake_pubsub):
    response = client.post("/files/photo.jpg", data=b"\xff\xd8", content_type="image/jpeg")

    (message,) = fake_pubsub.published("uploads")
    assert message.attributes == {"event": "upload"}
    assert json.loads(message.data)["name"] == "photo.jpg"
    assert response.json["message_id"] == message.message_id


def test_worker_writes_a_manifest(client, worker, fake_pubsub):
    client.post("/files/notes.txt", data=b"hello", content_type="text/plain")

    assert worker.pull_once() == ["manifests/notes.txt.json"]
    manifest = client.get("/files/manifests/notes.txt.json").json
    assert manifest["size"] == 5
    assert manifest["content_type"] == "text/plain"
    assert fake_pubsub.state("uploads-worker").unacked == 0  # the worker acked the event


def test_listening_worker_processes_each_upload(client, worker):
    done = queue.Queue()
    listening = worker.listen(on_done=done.put)
    try:
        client.post("/files/a.txt", data=b"a")
        client.post("/files/b.txt", data=b"b")
        assert {done.get(timeout=10), done.get(timeout=10)} == {
            "manifests/a.txt.json",
            "manifests/b.txt.json",
        }
    finally:
        listening.cancel()
        listening.result()


def test_download_returns_what_was_uploaded(client):
    client.post("/files/report.pdf", data=b"%PDF-1.7", content_type="application/pdf")

    response = client.get("/files/report.pdf")

    assert response.status_code == 200
    assert response.data == b"%PDF-1.7"
    assert response.content_type == "application/pdf"


def test_download_of_a_missing_file_is_404(client):
    response = client.get("/files/nope.txt")

    assert response.status_code == 404
    assert response.json == {"error": "no file 'nope.txt'"}
