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


def test_pytest_flask_live_server_runs_in_a_forked_process_that_reaches_the_fakes(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest
        from flask import Flask
        from google.cloud import storage

        gcs = storage.Client()

        @pytest.fixture(scope="session")  # live_server is session-scoped
        def app():
            app = Flask(__name__)

            @app.post("/notes/<name>")
            def write(name):
                gcs.bucket("notes").blob(name).upload_from_string("from the live server")
                return {"written": name}

            return app
        """
    )
    pytester.makepyfile(
        """
        import os

        import requests

        def test_live(live_server, fake_storage, gcp_usage):
            fake_storage.create_bucket("notes")
            url = f"http://127.0.0.1:{live_server.port}/notes/a.txt"
            # pytest-flask sets SERVER_NAME (the machine's name and the port); Flask before
            # 3.1 answers 404 to a request for any other host.
            host = {"Host": live_server.app.config["SERVER_NAME"]}
            answer = requests.post(url, headers=host, timeout=30)
            assert answer.json() == {"written": "a.txt"}
            assert fake_storage.get("notes", "a.txt") == b"from the live server"
            (request,) = gcp_usage.requests
            assert request.label == "POST /notes/a.txt"
            assert request.pid != os.getpid()  # the forked server process
            assert {u.pid for u in gcp_usage.uses} == {request.pid}
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
