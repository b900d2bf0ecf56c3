"""Check a light install: pytest-gcpfakes without the [schemas] extra, in an app's venv.

Run by .ci/run in a fresh venv holding the oldest supported clients and the plugin alone.
Without fastavro and grpcio-tools the plugin loads, serves Pub/Sub and Storage, and answers
schema validation with the one sentence that names the extra.
"""

from __future__ import annotations

import importlib.util
import json
import sys

SENTENCE = "install pytest-gcpfakes[schemas] to validate Avro/protobuf schemas."


def main() -> int:
    for package in ("fastavro", "grpc_tools"):
        if importlib.util.find_spec(package) is not None:
            print(f"{package} is installed: this is not a light install")
            return 1

    from google.api_core import exceptions
    from google.cloud import pubsub_v1, storage
    from google.pubsub_v1 import SchemaServiceClient, types

    from pytest_gcpfakes import GCPFakes

    with GCPFakes() as fakes:
        fakes.start("pubsub")
        fakes.start("storage")
        topic = fakes.pubsub.create_topic("light")
        publisher = pubsub_v1.PublisherClient()
        publisher.publish(topic, b"ok").result(timeout=30)
        gcs = storage.Client()
        gcs.create_bucket("light").blob("a.txt").upload_from_string("ok")
        assert gcs.bucket("light").blob("a.txt").download_as_bytes() == b"ok"
        gcs.close()
        publisher.stop()

        schemas = SchemaServiceClient()
        parent = f"projects/{fakes.project}"
        avro = json.dumps({"type": "record", "name": "R", "fields": []})
        cases = [
            ("fastavro", types.Schema(type_=types.Schema.Type.AVRO, definition=avro)),
            (
                "grpc_tools",
                types.Schema(
                    type_=types.Schema.Type.PROTOCOL_BUFFER,
                    definition='syntax = "proto3"; message R { int32 a = 1; }',
                ),
            ),
        ]
        for package, schema in cases:
            try:
                schemas.create_schema(parent=parent, schema_id=f"r-{package}", schema=schema)
            except exceptions.MethodNotImplemented as error:
                expected = f"{package} is not installed: {SENTENCE}"
                if error.message != expected:
                    print(f"wrong answer without {package}: {error.message!r}")
                    return 1
            else:
                print(f"a schema needing {package} was created without it")
                return 1
    print("light install: the plugin works without [schemas] and names the extra")
    return 0


if __name__ == "__main__":
    sys.exit(main())
