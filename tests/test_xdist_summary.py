"""The terminal summary under pytest-xdist: workers send their lines, the controller prints."""

from __future__ import annotations

import pytest

pytest.importorskip("xdist")
pytestmark = pytest.mark.usefixtures("clean_env")

TESTS = """
from google.cloud import pubsub_v1, storage


def test_publisher(fake_pubsub):
    topic = fake_pubsub.create_topic("orders")
    publisher = pubsub_v1.PublisherClient()
    publisher.get_topic(topic=topic)


def test_storage(fake_storage):
    client = storage.Client()
    client.create_bucket("uploads")
    client.close()


def test_without_clients(fake_pubsub):
    pass
"""


@pytest.mark.parametrize("flag", ["--gcpfakes-summary", "-v"])
def test_summary_under_xdist_is_printed_once_by_the_controller(
    pytester: pytest.Pytester, flag: str
) -> None:
    pytester.makepyfile(test_two=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "xdist", "-n", "2", flag)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*gcpfakes: GCP clients per test*",
            "test_two.py::test_publisher",
            "  PublisherClient #*  created at test_two.py:6  0 requests  threads 'MainThread'  ok",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*gcpfakes: GCP clients per test*",
            "test_two.py::test_storage",
            "  storage.Client #*  created at test_two.py:11  0 requests  threads 'MainThread'  ok",
        ]
    )
    output = result.stdout.str()
    assert output.count("GCP clients per test") == 1
    assert output.count("test_two.py::test_publisher\n") == 1
    assert "test_two.py::test_without_clients\n" not in output


def test_summary_without_xdist_is_unchanged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gcpfakes-summary")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*gcpfakes: GCP clients per test*",
            "test_two.py::test_publisher",
            "  PublisherClient #1  created at test_two.py:6  0 requests  threads 'MainThread'  ok",
            "test_two.py::test_storage",
            "  storage.Client #2  created at test_two.py:11  0 requests  threads 'MainThread'  ok",
        ]
    )


def test_xdist_summary_stays_off_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=3)
    assert "GCP clients per test" not in result.stdout.str()
