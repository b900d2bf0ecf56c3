"""Configuration: marker options merged field by field, ini options, and clean errors."""

from __future__ import annotations

import pytest

from pytest_gcpfakes import GCPFakes
from pytest_gcpfakes._config import Config, build_config, merge

pytestmark = pytest.mark.usefixtures("clean_env")


def test_config_is_frozen_and_keyword_only() -> None:
    config = Config(project="p")
    with pytest.raises(AttributeError):
        config.project = "q"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Config("p")  # type: ignore[misc]


def test_unknown_option_is_a_type_error_listing_valid_options() -> None:
    with pytest.raises(TypeError) as caught:
        build_config({"projekt": "p"}, where="@pytest.mark.gcpfakes")
    assert str(caught.value) == (
        "@pytest.mark.gcpfakes got unknown option 'projekt'; valid options are "
        "project, publish_immediately, check, rendezvous, latency."
    )


def test_wrong_option_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"option publish_immediately= takes bool, not str"):
        GCPFakes(publish_immediately="yes")


def test_merge_takes_each_field_from_the_first_layer_that_sets_it() -> None:
    merged = merge([{"project": "closest"}, {"project": "far", "publish_immediately": True}])
    assert merged == Config(project="closest", publish_immediately=True)


def test_marker_options_merge_field_by_field_closest_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.gcpfakes(project="module-project", publish_immediately=True)

        @pytest.mark.gcpfakes(project="function-project")
        def test_function_marker_wins_project_module_keeps_the_rest(gcpfakes):
            assert gcpfakes.config.project == "function-project"
            assert gcpfakes.config.publish_immediately is True

        class TestClass:
            pytestmark = pytest.mark.gcpfakes(publish_immediately=False)

            def test_class_marker_overrides_module(self, gcpfakes):
                assert gcpfakes.config.project == "module-project"
                assert gcpfakes.config.publish_immediately is False
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


def test_ini_options_fill_fields_no_marker_set(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_publish_immediately = true\n")
    pytester.makepyfile(
        """
        import pytest

        def test_from_ini(gcpfakes):
            assert gcpfakes.config.publish_immediately is True

        @pytest.mark.gcpfakes(publish_immediately=False)
        def test_marker_beats_ini(gcpfakes):
            assert gcpfakes.config.publish_immediately is False
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


def test_project_comes_from_env_then_ini_then_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\ngcpfakes_project = ini-project\n")
    pytester.makepyfile(
        """
        import os
        from google.cloud import storage

        IMPORT_TIME = storage.Client()

        def test_project(fake_pubsub, fake_storage):
            expected = os.environ.get("EXPECTED")
            assert IMPORT_TIME.project == expected
            assert storage.Client().project == expected
            assert fake_pubsub.topic_path("t") == f"projects/{expected}/topics/t"
        """
    )
    monkeypatch.setenv("EXPECTED", "ini-project")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("EXPECTED", "env-project")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    pytester.makeini("[pytest]\n")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    monkeypatch.setenv("EXPECTED", "test-project")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_marker_project_applies_to_clients_built_in_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from google.cloud import storage

        @pytest.mark.gcpfakes(project="marker-project")
        def test_it(fake_storage):
            client = storage.Client()
            assert client.project == "marker-project"
            client.create_bucket("marker-bucket")
            assert [b.name for b in client.list_buckets()] == ["marker-bucket"]
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_bad_marker_option_errors_the_test_with_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gcpfakes(publish_immediatly=True)
        def test_typo(fake_pubsub):
            pass

        @pytest.mark.gcpfakes(True)
        def test_positional(fake_pubsub):
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "E*TypeError: @pytest.mark.gcpfakes got unknown option 'publish_immediatly'; "
            "valid options are project, publish_immediately, check, rendezvous, latency.",
            "E*TypeError: @pytest.mark.gcpfakes takes keyword options only, e.g. "
            "@pytest.mark.gcpfakes(publish_immediately=True).",
        ]
    )


def test_bad_ini_boolean_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_publish_immediately = maybe\n")
    pytester.makepyfile("def test_it(gcpfakes):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["E*TypeError: gcpfakes_publish_immediately in tox.ini must be true or false, not 'maybe'."]
    )


def test_check_option_takes_known_check_names() -> None:
    assert build_config({"check": "sharing"}).check == ("sharing",)
    assert build_config({"check": ["sharing", "leaks"]}).check == ("sharing", "leaks")
    with pytest.raises(TypeError) as caught:
        build_config({"check": ("sharing", "leakz")}, where="@pytest.mark.gcpfakes")
    assert str(caught.value) == (
        "@pytest.mark.gcpfakes option check= got unknown check 'leakz'; checks are "
        "'sharing', 'leaks', 'use_after_close', 'processes'."
    )


def test_ini_check_option_is_split_on_spaces_and_commas() -> None:
    from pytest_gcpfakes._config import parse_ini_value

    assert parse_ini_value("check", "sharing, leaks use_after_close") == (
        "sharing",
        "leaks",
        "use_after_close",
    )


CHECKS_LISTED = "checks are 'sharing', 'leaks', 'use_after_close', 'processes'."


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("tox.ini", "in tox.ini"),
        ("pyproject.toml", "in pyproject.toml"),
        ("-o", "from -o/--override-ini"),
    ],
)
def test_unknown_ini_check_names_where_the_value_came_from(
    pytester: pytest.Pytester, where: str, source: str
) -> None:
    args = []
    if where == "tox.ini":
        pytester.makeini("[pytest]\ngcpfakes_check = sharing leakz\n")
    elif where == "pyproject.toml":
        pytester.makepyprojecttoml('[tool.pytest.ini_options]\ngcpfakes_check = "sharing leakz"\n')
    else:
        pytester.makeini("[pytest]\ngcpfakes_check = sharing\n")
        args = ["-o", "gcpfakes_check=sharing leakz"]
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gcpfakes(rendezvous=None)
        def test_it(fake_pubsub):
            pass
        """
    )
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"E*TypeError: gcpfakes_check {source} got unknown check 'leakz'; {CHECKS_LISTED}"]
    )
    result.stdout.no_fnmatch_line("*@pytest.mark.gcpfakes option check=*")


def test_unknown_marker_check_still_names_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngcpfakes_check = sharing\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gcpfakes(check="leakz")
        def test_it(fake_pubsub):
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E*TypeError: @pytest.mark.gcpfakes option check= got unknown check 'leakz'; "
            + CHECKS_LISTED
        ]
    )
