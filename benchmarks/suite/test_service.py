"""The service's endpoints, end to end, and its signed download links."""

from __future__ import annotations

import pytest


def test_a_created_document_is_served_back(client):
    client.post("/documents/hello.txt", data=b"hello", content_type="text/plain")
    response = client.get("/documents/hello.txt")
    assert response.status_code == 200
    assert response.data == b"hello"
    assert response.content_type == "text/plain"


def test_a_missing_document_is_404(client):
    assert client.get("/documents/nothing.txt").status_code == 404


def test_a_deleted_document_is_404(client):
    client.post("/documents/old.txt", data=b"x")
    assert client.delete("/documents/old.txt").status_code == 204
    assert client.get("/documents/old.txt").status_code == 404


def test_deleting_a_missing_document_is_404(client):
    assert client.delete("/documents/nothing.txt").status_code == 404


@pytest.mark.parametrize("name", ["nested/deeper/file.csv", "with space.txt", "ünïcode.md"])
def test_document_names_round_trip(client, name):
    assert client.post(f"/documents/{name}", data=name.encode()).status_code == 201
    assert client.get(f"/documents/{name}").data == name.encode()


def test_the_document_lands_in_the_bucket(client, documents):
    bucket, _ = documents
    client.post("/documents/report.csv", data=b"a,b\n1,2\n", content_type="text/csv")
    blob = bucket.get_blob("report.csv")
    assert blob.size == 8
    assert blob.content_type == "text/csv"


def test_the_listing_of_an_empty_service(client):
    assert client.get("/documents").json == {"names": [], "prefixes": []}


def test_a_signed_link_downloads_the_document(client, http):
    client.post("/documents/shared.pdf", data=b"%PDF-1.7", content_type="application/pdf")
    url = client.get("/documents/shared.pdf/link").json["url"]
    response = http.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7"


def test_a_signed_link_to_a_missing_document_is_404(client, http):
    url = client.get("/documents/missing.pdf/link").json["url"]
    assert http.get(url, timeout=30).status_code == 404


def test_a_signed_link_sees_the_latest_version(client, http):
    created = client.post("/documents/live.txt", data=b"v1").json
    url = client.get("/documents/live.txt/link").json["url"]
    client.put(
        "/documents/live.txt",
        data=b"v2",
        headers={"If-Generation-Match": str(created["generation"])},
    )
    assert http.get(url, timeout=30).content == b"v2"


def test_a_signed_upload_url_stores_the_body(stack, http, documents):
    import datetime

    bucket, _ = documents
    url = bucket.blob("upload.bin").generate_signed_url(
        version="v4",
        expiration=datetime.timedelta(minutes=15),
        method="PUT",
        content_type="application/octet-stream",
        credentials=stack.signing,
    )
    response = http.put(
        url,
        data=b"via signed url",
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 200
    assert bucket.blob("upload.bin").download_as_bytes() == b"via signed url"
