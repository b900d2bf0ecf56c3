"""The verdicts on each client variant, with requests that overlap for certain.

``rendezvous=2`` holds each request at its first client use until two requests have got
there, so the two uploads below are in flight at once every time: no sleeps, no luck.
"""

from __future__ import annotations

import pytest

from flask_uploads.app import create_app
from flask_uploads.clients.per_request import PerRequest
from pytest_gcpfakes import (
    assert_no_cross_request_sharing,
    assert_no_leaked_clients,
    concurrent_requests,
    rendezvous,
)

TWO_UPLOADS = [
    ("POST", "/files/a.txt", {"data": b"a"}),
    ("POST", "/files/b.txt", {"data": b"b"}),
]


@pytest.mark.gcpfakes(rendezvous=2)
@pytest.mark.parametrize("app", ["module_globals", "lazy_globals"], indirect=True)
def test_global_clients_are_flagged_as_shared(app):
    responses = concurrent_requests(app, TWO_UPLOADS)
    assert [r.status_code for r in responses] == [201, 201]

    with pytest.raises(AssertionError) as caught:
        assert_no_cross_request_sharing()
    report = str(caught.value)
    assert "storage.Client #" in report
    assert "POST /files/a.txt" in report
    assert "POST /files/b.txt" in report


@pytest.mark.gcpfakes(rendezvous=2)
@pytest.mark.parametrize("app", ["per_request", "pool"], indirect=True)
def test_request_scoped_clients_pass_both_checks(app):
    responses = concurrent_requests(app, TWO_UPLOADS)
    assert [r.status_code for r in responses] == [201, 201]

    assert_no_cross_request_sharing()
    assert_no_leaked_clients()


class Unclosed(PerRequest):
    """The per-request variant with its teardown forgotten."""

    def init_app(self, app):
        pass


@pytest.mark.gcpfakes(rendezvous=2)
def test_per_request_clients_never_closed_are_flagged_as_leaked(gcp):
    concurrent_requests(create_app(Unclosed()), TWO_UPLOADS)

    assert_no_cross_request_sharing()
    with pytest.raises(AssertionError, match=r"^4 clients were leaked"):
        assert_no_leaked_clients()


@pytest.mark.parametrize("app", ["module_globals"], indirect=True)
def test_real_http_requests_are_checked_too(app, live_app):
    base_url = live_app(app)  # werkzeug's threaded server, in this process

    with rendezvous(2):
        responses = concurrent_requests(base_url, TWO_UPLOADS)
    assert [r.status_code for r in responses] == [201, 201]

    with pytest.raises(AssertionError, match=r"storage\.Client #\d+"):
        assert_no_cross_request_sharing()
