"""Fixtures shared by the Storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from google.cloud import storage


@pytest.fixture
def client(fake_storage: Any) -> Iterator[storage.Client]:
    """The real client, built inside the test as an application would build it."""
    with closing(storage.Client()) as gcs:
        yield gcs
