"""How the plugin is switched on and off: entry point, ``-p gcpfakes``, ``-p no:gcpfakes``."""

from __future__ import annotations

import pytest

USES_BOTH_FIXTURES = """
from google.cloud import pubsub_v1, storage

def test_uses_fakes(fake_pubsub, fake_storage):
    topic = pubsub_v1.PublisherClient().create_topic(name=fake_pubsub.topic_path("top"))
    assert topic.name == "projects/test-project/topics/top"
    assert storage.Client().create_bucket("bkt").name == "bkt"
"""


@pytest.fixture
def no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.mark.usefixtures("clean_env", "no_autoload")
def test_dash_p_gcpfakes_provides_fixtures_with_autoload_disabled(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(USES_BOTH_FIXTURES)
    result = pytester.runpytest_subprocess("-p", "gcpfakes")
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("clean_env", "no_autoload")
def test_without_the_plugin_the_fixtures_do_not_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_BOTH_FIXTURES)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_pubsub' not found*"])


@pytest.mark.usefixtures("clean_env")
def test_entry_point_loads_the_plugin_automatically(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_BOTH_FIXTURES)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("clean_env")
def test_dash_p_no_gcpfakes_switches_the_plugin_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_BOTH_FIXTURES)
    result = pytester.runpytest_subprocess("-p", "no:gcpfakes")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_pubsub' not found*"])


@pytest.mark.usefixtures("clean_env")
def test_dash_p_no_gcpfakes_leaves_clients_unpatched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from google.pubsub_v1.services.publisher import PublisherClient
        from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport

        def test_registry_is_the_librarys_own():
            assert PublisherClient.get_transport_class("grpc") is PublisherGrpcTransport
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:gcpfakes")
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("clean_env")
def test_ini_switch_turns_interception_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_intercept = false\n")
    pytester.makepyfile(
        """
        from google.pubsub_v1.services.publisher import PublisherClient
        from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport

        def test_registry_is_the_librarys_own():
            assert PublisherClient.get_transport_class("grpc") is PublisherGrpcTransport

        def test_fixtures_say_how_to_turn_it_back_on(fake_pubsub):
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E*RuntimeError: GCP client interception is off (gcpfakes_intercept = false); "
            "set it to true to use the gcpfakes fixtures."
        ]
    )
