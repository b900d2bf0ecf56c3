import pytest
from flask import Flask, g
from google.cloud import storage

from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    assert_no_leaked_clients,
    concurrent_requests,
)

app = Flask(__name__)


@app.post("/upload/<name>")
def upload(name):
    if "gcs" not in g:
        g.gcs = storage.Client()  # one client per request...
    g.gcs.bucket("uploads").blob(name).upload_from_string(b"data")
    return "ok"


@app.teardown_appcontext
def close_gcs(error):
    client = g.pop("gcs", None)
    if client is not None:
        client.close()  # ...closed when the request ends


def test_upload_endpoint(fake_storage):
    fake_storage.create_bucket("uploads")
    results = concurrent_requests(app, [("POST", "/upload/a"), ("POST", "/upload/b")])
    assert [r.status_code for r in results] == [200, 200]
    assert_no_cross_request_sharing()
    assert_no_leaked_clients()


@pytest.mark.gcpfakes(check=("sharing", "leaks"))
def test_upload_endpoint_checked_after_the_test(fake_storage):
    fake_storage.create_bucket("uploads")
    concurrent_requests(app, [("POST", "/upload/a"), ("POST", "/upload/b")])
