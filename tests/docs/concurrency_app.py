"""The app of the concurrency recipes (docs/concurrency.md): uploads with a client per
request, orders through one module-level publisher (the bug the recipes catch), and a
Pub/Sub push endpoint."""

import base64
from contextlib import closing

from flask import Flask, g, request
from google.cloud import pubsub_v1, storage

app = Flask(__name__)
publisher = pubsub_v1.PublisherClient()  # shared by every request: the sharing check fails
ORDERS = "projects/test-project/topics/orders"
received = []


def gcs():
    if "gcs" not in g:
        g.gcs = storage.Client()
    return g.gcs


@app.teardown_appcontext
def close_gcs(error):
    client = g.pop("gcs", None)
    if client is not None:
        client.close()


@app.post("/files/<name>")
def upload(name):
    gcs().bucket("uploads").blob(name).upload_from_string(request.get_data())
    return "", 201


@app.get("/files/<name>")
def download(name):
    return gcs().bucket("uploads").blob(name).download_as_bytes()


@app.post("/orders")
def order():
    publisher.publish(ORDERS, b"order").result()
    return "", 201


@app.post("/pubsub/push")
def push():
    envelope = request.get_json()
    received.append(base64.b64decode(envelope["message"]["data"]))
    return "", 204


def upload_report():
    """Code outside a request: upload one report."""
    with closing(storage.Client()) as client:  # `with` alone needs storage 3.11
        client.bucket("uploads").blob("report.csv").upload_from_string("a,b\n")
