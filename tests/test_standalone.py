"""``GCPFakes`` works without pytest, and importing the package stays cheap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.usefixtures("clean_env")


def _run_python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_gcpfakes_context_manager_works_with_pytest_unimportable() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # any `import pytest` now raises ImportError

        from google.cloud import pubsub_v1, storage
        from pytest_gcpfakes import GCPFakes, FakeNotActiveError

        with GCPFakes() as fakes:
            publisher = pubsub_v1.PublisherClient()
            topic = fakes.pubsub.create_topic("top")
            sub = fakes.pubsub.create_subscription("sub", "top")
            publisher.publish(topic, b"standalone").result()
            pulled = pubsub_v1.SubscriberClient().pull(subscription=sub, max_messages=1)
            assert pulled.received_messages[0].message.data == b"standalone"
            storage.Client().create_bucket("standalone-bucket").blob("x").upload_from_string("y")
            assert fakes.storage.get("standalone-bucket", "x") == b"y"
        try:
            publisher.publish(topic, b"after").result(timeout=30)
        except FakeNotActiveError:
            print("OK")
        """
    )
    result = _run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


def test_clients_built_inside_fail_fast_after_the_fakes_are_gone() -> None:
    script = textwrap.dedent(
        """
        from google.cloud import pubsub_v1, storage
        from pytest_gcpfakes import GCPFakes, FakeNotActiveError

        with GCPFakes():
            gcs = storage.Client()
            subscriber = pubsub_v1.SubscriberClient()
        for call in (
            lambda: gcs.get_bucket("some-bucket"),
            lambda: subscriber.get_subscription(subscription="projects/p/subscriptions/s"),
        ):
            try:
                call()
            except FakeNotActiveError:
                print("OK")
        """
    )
    result = _run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["OK", "OK"]


def test_leaving_gcpfakes_restores_the_librarys_transport() -> None:
    script = textwrap.dedent(
        """
        from google.pubsub_v1.services.publisher import PublisherClient
        from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport
        from pytest_gcpfakes import GCPFakes

        with GCPFakes():
            assert PublisherClient.get_transport_class("grpc") is not PublisherGrpcTransport
        assert PublisherClient.get_transport_class("grpc") is PublisherGrpcTransport
        print("OK")
        """
    )
    result = _run_python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


def test_importing_the_package_imports_neither_pytest_nor_google() -> None:
    result = _run_python("-X", "importtime", "-c", "import pytest_gcpfakes")
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "pytest_gcpfakes" in imported
    assert not [m for m in imported if m == "pytest" or m.startswith(("google", "grpc", "_pytest"))]


def test_loading_the_plugin_does_not_import_google_cloud() -> None:
    result = _run_python("-X", "importtime", "-c", "import pytest_gcpfakes.plugin")
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "pytest_gcpfakes.plugin" in imported
    assert not [m for m in imported if m.startswith(("google", "grpc"))]
