"""pytest-flask's ``app`` / ``client`` fixtures work alongside the fakes and the recorder."""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_flask", reason="pytest-flask is installed by tox's test env")
pytestmark = pytest.mark.usefixtures("clean_env")


def test_pytest_flask_client_fixture_hits_the_fakes_and_is_recorded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest
        from flask import Flask
        from google.cloud import storage

        gcs = storage.Client()

        @pytest.fixture
        def app():
            app = Flask(__name__)

            @app.get("/buckets")
            def buckets():
                return {"names": [b.name for b in gcs.list_buckets()]}

            return app
        """
    )
    pytester.makepyfile(
        """
        def test_listing(client, fake_storage, gcp_usage):
            fake_storage.create_bucket("from-the-fake")
            assert client.get("/buckets").json == {"names": ["from-the-fake"]}
            assert [r.label for r in gcp_usage.requests] == ["GET /buckets"]
            assert gcp_usage.uses[0].method == "list_buckets"
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
