"""A listing reads its range, not the bucket: names kept sorted, prefixes skipped whole.

The suite never times anything: these tests count what a listing reads. The listings
themselves go through the real client and are compared with a full scan of the bucket.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import closing
from typing import Any

import pytest
from google.cloud import storage

from pytest_gcpfakes.storage import _listing
from pytest_gcpfakes.storage._sorted import SortedKeys, after_all

TREE = [
    f"{top}/{mid}/{leaf}"
    for top in ("a", "b", "c", "é")
    for mid in ("x", "y", "y/z")
    for leaf in ("1", "2")
] + ["a", "a/", "b.txt", "c/", "c/x/", "z", "\U0001f600/1"]


class CountingReads(Sequence[Any]):
    """A sequence that counts the items read from it."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.reads = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        self.reads += 1
        return self.items[index]


def test_a_bucket_keeps_its_names_sorted(fake_storage: Any) -> None:
    names = [f"n/{i:03d}" for i in range(200)]
    random.Random(3).shuffle(names)
    bucket = storage.Client().bucket(fake_storage.create_bucket("sorted").name)
    for name in names:
        bucket.blob(name).upload_from_string(b"x")
    for name in names[:50]:
        bucket.blob(name).delete()
    state = fake_storage.backend.buckets["sorted"]
    assert state.live.names == sorted(names[50:])
    assert list(state.live) == names[50:]  # still a dict in insertion order


def test_a_delimited_listing_skips_each_folded_prefix(fake_storage: Any) -> None:
    for folder in range(20):
        for item in range(200):
            fake_storage.put("wide", f"f{folder:02d}/{item:03d}", b"")
    versions = CountingReads(fake_storage.backend.list_objects("wide"))
    found = _listing.entries(versions, _listing.ListOptions(delimiter="/"))
    assert [e.prefix for e in found] == [f"f{folder:02d}/" for folder in range(20)]
    # A full scan reads all 4,000; skipping reads one name and a bisection per folder.
    assert versions.reads < 20 * 16


def test_a_prefix_listing_reads_only_the_names_under_it(
    fake_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for item in range(1000):
        fake_storage.put("big", f"other/{item:04d}", b"")
    for item in range(5):
        fake_storage.put("big", f"mine/{item}", b"")
    reads: list[str] = []
    read = SortedKeys.__getitem__

    def counting(self: SortedKeys[Any], key: str) -> Any:
        reads.append(key)
        return read(self, key)

    monkeypatch.setattr(SortedKeys, "__getitem__", counting)
    with closing(storage.Client()) as client:
        assert [b.name for b in client.list_blobs("big", prefix="mine/")] == [
            f"mine/{item}" for item in range(5)
        ]
    assert sorted(set(reads)) == [f"mine/{item}" for item in range(5)]


def _full_scan(names: list[str], **options: Any) -> tuple[list[str], set[str]]:
    """What a listing answers, by reading every name (the model the fake must match)."""
    prefix, delimiter = options.get("prefix") or "", options.get("delimiter") or ""
    start, end = options.get("start_offset") or "", options.get("end_offset") or ""
    trailing = options.get("include_trailing_delimiter", False)
    items, prefixes = [], set()
    for name in sorted(names, key=str.encode):
        if not name.startswith(prefix) or name.encode() < start.encode():
            continue
        if end and name.encode() >= end.encode():
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            folded = name[: cut + len(delimiter)]
            prefixes.add(folded)
            if not (trailing and folded == name):
                continue
        items.append(name)
    return items, prefixes


@pytest.mark.parametrize(
    "options",
    [
        {"delimiter": "/"},
        {"prefix": "a/", "delimiter": "/"},
        {"prefix": "a/y", "delimiter": "/"},
        {"prefix": "c/", "delimiter": "/", "include_trailing_delimiter": True},
        {"delimiter": "/", "include_trailing_delimiter": True},
        {"delimiter": "/", "start_offset": "b", "end_offset": "é"},
        {"prefix": "é/", "delimiter": "y/"},
        {"prefix": "b", "start_offset": "b/y", "end_offset": "c"},
        {"prefix": "\U0001f600"},
        {"delimiter": "/", "max_results": 3},
    ],
)
def test_listings_match_a_full_scan(fake_storage: Any, options: dict[str, Any]) -> None:
    names = list(TREE)
    random.Random(7).shuffle(names)
    for name in names:
        fake_storage.put("tree", name, b"")
    with closing(storage.Client()) as client:
        if "max_results" in options:  # pages of 3: every entry once, in order
            pages = client.list_blobs("tree", page_size=3, delimiter="/").pages
            items, prefixes = [], set()
            for page in pages:
                items.extend(blob.name for blob in page)
                prefixes |= set(page.prefixes)
        else:
            iterator = client.list_blobs("tree", **options)
            items = [blob.name for blob in iterator]
            prefixes = iterator.prefixes
    expected = {k: v for k, v in options.items() if k != "max_results"}
    assert (items, prefixes) == _full_scan(names, **expected)


def test_versions_under_a_prefix_come_with_every_generation(fake_storage: Any) -> None:
    fake_storage.create_bucket("kept", versioning={"enabled": True})
    for name in ("a/1", "a/2", "b/1"):
        fake_storage.put("kept", name, b"v1")
        fake_storage.put("kept", name, b"v2")
    with closing(storage.Client()) as client:
        found = [
            (b.name, b.generation) for b in client.list_blobs("kept", prefix="a/", versions=True)
        ]
    assert [name for name, _ in found] == ["a/1", "a/1", "a/2", "a/2"]
    assert found == sorted(found)


def test_after_all_bounds_every_extension_of_a_prefix() -> None:
    assert after_all("a/") == "a0"
    assert after_all("a\U0010ffff") == "b"
    assert after_all("") is None
    for name in ("a/", "a/b", "a/\U0010ffff\U0010ffff"):
        assert name < after_all("a/")  # type: ignore[operator]
