"""Fails on purpose: the use-after-close report (docs/examples/output/use_after_close.txt)."""

from __future__ import annotations

from google.cloud import storage

from pytest_gcpfakes import assert_no_use_after_close


def test_export(fake_storage):
    fake_storage.create_bucket("exports")
    gcs = storage.Client()
    bucket = gcs.bucket("exports")
    gcs.close()
    bucket.blob("late.txt").upload_from_string("still works against the fake")
    assert_no_use_after_close()
