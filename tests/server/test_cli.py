"""``gcpfakes serve`` / ``gcpfakes reset``: the fakes as standalone servers, end to end.

The server runs as a real subprocess; the test talks to it as any program would: the real
clients on explicit endpoints, ``curl``, and the command line itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import storage
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

STOP_SECONDS = 5.0
CLI = [sys.executable, "-m", "pytest_gcpfakes"]


@dataclass
class Served:
    process: subprocess.Popen[str]
    pubsub: str  # host:port
    storage: str  # http://host:port

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PUBSUB_EMULATOR_HOST": self.pubsub,
            "STORAGE_EMULATOR_HOST": self.storage,
        }


def _serve(*args: str) -> Served:
    process = subprocess.Popen(
        [*CLI, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "GCPFAKES_LINK"},
    )
    assert process.stdout is not None
    first, second = process.stdout.readline(), process.stdout.readline()
    pubsub = re.fullmatch(r"export PUBSUB_EMULATOR_HOST=(127\.0\.0\.1:\d+)\n", first)
    gcs = re.fullmatch(r"export STORAGE_EMULATOR_HOST=(http://127\.0\.0\.1:\d+)\n", second)
    assert pubsub is not None, (first, process.stderr.read() if process.poll() else "")
    assert gcs is not None, second
    return Served(process, pubsub.group(1), gcs.group(1))


@pytest.fixture
def served() -> Iterator[Served]:
    server = _serve()
    yield server
    process = server.process
    if process.poll() is None:
        process.kill()
    process.communicate()  # reads and closes both pipes


@pytest.fixture
def publisher(served: Served) -> Iterator[PublisherClient]:
    """The generated client on a real gRPC channel to the server (closed at teardown)."""
    channel = grpc.insecure_channel(served.pubsub)
    yield PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    channel.close()


def _storage(url: str) -> storage.Client:
    # No credentials: under the plugin the client gets ones that sign URLs the fakes check.
    return storage.Client(project="test-project", client_options={"api_endpoint": url})


def _curl(*args: str) -> dict[str, object]:
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout or "{}")  # type: ignore[no-any-return]


def test_serve_prints_the_emulator_variables_and_serves_both_apis(
    served: Served, publisher: PublisherClient
) -> None:
    topic = publisher.create_topic(name="projects/test-project/topics/cli")
    assert topic.name == "projects/test-project/topics/cli"
    response = publisher.publish(topic=topic.name, messages=[{"data": b"over grpc"}])
    assert len(response.message_ids) == 1

    gcs = _storage(served.storage)
    gcs.create_bucket("cli-bucket").blob("a.txt").upload_from_string("over http")
    assert gcs.bucket("cli-bucket").blob("a.txt").download_as_bytes() == b"over http"


def test_the_pubsub_port_answers_rest_too(served: Served) -> None:
    base = f"http://{served.pubsub}/v1/projects/test-project"
    assert _curl("-X", "PUT", f"{base}/topics/rest")["name"] == "projects/test-project/topics/rest"
    created = _curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"topic": "projects/test-project/topics/rest"}),
        f"{base}/subscriptions/rest-sub",
    )
    assert created["ackDeadlineSeconds"] == 10
    published = _curl(
        "-X",
        "POST",
        "-d",
        json.dumps({"messages": [{"data": "aGVsbG8=", "attributes": {"k": "v"}}]}),
        f"{base}/topics/rest:publish",
    )
    assert published == {"messageIds": ["1"]}
    pulled = _curl("-X", "POST", "-d", '{"maxMessages": 5}', f"{base}/subscriptions/rest-sub:pull")
    (received,) = pulled["receivedMessages"]  # type: ignore[misc]
    assert received["message"]["data"] == "aGVsbG8="
    assert received["message"]["attributes"] == {"k": "v"}
    acked = _curl(
        "-X",
        "POST",
        "-d",
        json.dumps({"ackIds": [received["ackId"]]}),
        f"{base}/subscriptions/rest-sub:acknowledge",
    )
    assert acked == {}
    listed = _curl(f"{base}/topics?pageSize=1")
    assert listed["topics"] == [{"name": "projects/test-project/topics/rest"}]


def test_rest_errors_have_googles_shape(served: Served) -> None:
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            f"http://{served.pubsub}/v1/projects/p/topics/nope",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "404"
    assert json.loads(body) == {
        "error": {
            "code": 404,
            "message": "Resource not found (resource=nope).",
            "status": "NOT_FOUND",
        }
    }


def test_curl_uploads_downloads_and_fetches_a_signed_url(served: Served) -> None:
    gcs = _storage(served.storage)
    gcs.create_bucket("curl-bucket")
    uploaded = _curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        "from curl",
        f"{served.storage}/upload/storage/v1/b/curl-bucket/o?uploadType=media&name=c.txt",
    )
    assert uploaded["name"] == "c.txt"
    assert uploaded["mediaLink"].startswith(f"{served.storage}/download/")  # type: ignore[union-attr]
    done = subprocess.run(
        ["curl", "-sS", "--fail", str(uploaded["mediaLink"])],
        capture_output=True,
        timeout=30,
    )
    assert done.stdout == b"from curl"
    url = (
        gcs.bucket("curl-bucket")
        .blob("c.txt")
        .generate_signed_url(version="v4", expiration=300, api_access_endpoint=served.storage)
    )
    fetched = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == b"from curl"


def test_reset_wipes_every_resource(served: Served, publisher: PublisherClient) -> None:
    publisher.create_topic(name="projects/test-project/topics/kept")
    _storage(served.storage).create_bucket("kept-bucket")
    done = subprocess.run([*CLI, "reset"], env=served.env, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    with pytest.raises(exceptions.NotFound):
        publisher.get_topic(topic="projects/test-project/topics/kept")
    assert list(_storage(served.storage).list_buckets()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_exits_0_within_5_seconds_of_a_signal(
    served: Served, publisher: PublisherClient, sig: signal.Signals
) -> None:
    publisher.create_topic(name="projects/test-project/topics/live")
    served.process.send_signal(sig)
    # wait() raises TimeoutExpired past the bound the CLI promises.
    assert served.process.wait(timeout=STOP_SECONDS) == 0


def test_serve_refuses_a_non_loopback_host_without_the_flag() -> None:
    done = subprocess.run(
        [*CLI, "serve", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "gcpfakes: pytest-gcpfakes serves on loopback only; pass allow_remote=True (CLI: "
        "--allow-remote) to listen on '0.0.0.0'."
    )


def test_the_gcpfakes_console_script_is_installed() -> None:
    script = shutil.which("gcpfakes") or str(Path(sys.executable).parent / "gcpfakes")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "serve" in done.stdout
    assert "reset" in done.stdout


def test_curl_uploads_a_browser_form_under_a_signed_post_policy(
    served: Served, tmp_path: Path
) -> None:
    gcs = _storage(served.storage)
    gcs.create_bucket("forms")
    policy = gcs.generate_signed_post_policy_v4(
        "forms", "report.txt", expiration=300, fields={"content-type": "text/plain"}
    )
    upload = tmp_path / "report.txt"
    upload.write_text("sent as a form")
    fields = [arg for name, value in policy["fields"].items() for arg in ("-F", f"{name}={value}")]
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *fields, "-F", f"file=@{upload}", policy["url"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    blob = gcs.bucket("forms").get_blob("report.txt")
    assert blob is not None
    assert (blob.download_as_bytes(), blob.content_type) == (b"sent as a form", "text/plain")


def test_the_batch_endpoint_serves_a_client_batch(served: Served) -> None:
    gcs = _storage(served.storage)
    bucket = gcs.create_bucket("batched")
    for name in ("a", "b", "c"):
        bucket.blob(name).upload_from_string(name)
    with gcs.batch():
        bucket.delete_blob("a")
        bucket.delete_blob("b")
    assert [b.name for b in gcs.list_blobs("batched")] == ["c"]
