"""Listings: prefixes, delimiters, pages."""

from __future__ import annotations

import pytest

TREE = [
    "a.txt",
    "docs/2024/jan.txt",
    "docs/2024/feb.txt",
    "docs/2025/jan.txt",
    "docs/readme.md",
    "images/logo.png",
    "images/icons/small.png",
]


@pytest.fixture
def tree(stack):
    bucket = stack.bucket()
    for name in TREE:
        bucket.blob(name).upload_from_string(name.encode())
    return bucket


def _names(stack, bucket, **options):
    return [blob.name for blob in stack.gcs.list_blobs(bucket.name, **options)]


def test_a_listing_is_in_name_order(stack, tree):
    assert _names(stack, tree) == sorted(TREE)


def test_an_empty_bucket_lists_nothing(stack):
    assert _names(stack, stack.bucket()) == []


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "docs/",
            ["docs/2024/feb.txt", "docs/2024/jan.txt", "docs/2025/jan.txt", "docs/readme.md"],
        ),
        ("docs/2024/", ["docs/2024/feb.txt", "docs/2024/jan.txt"]),
        ("images/i", ["images/icons/small.png"]),
    ],
)
def test_a_prefix_narrows_the_listing(stack, tree, prefix, expected):
    assert _names(stack, tree, prefix=prefix) == expected


@pytest.mark.parametrize(
    ("prefix", "names", "prefixes"),
    [
        (None, ["a.txt"], {"docs/", "images/"}),
        ("docs/", ["docs/readme.md"], {"docs/2024/", "docs/2025/"}),
        ("images/", ["images/logo.png"], {"images/icons/"}),
    ],
)
def test_a_delimiter_folds_folders_into_prefixes(stack, tree, prefix, names, prefixes):
    blobs = stack.gcs.list_blobs(tree.name, prefix=prefix, delimiter="/")
    assert [b.name for b in blobs] == names
    assert blobs.prefixes == prefixes


def test_pages_cover_every_object_once(stack, tree):
    pages = stack.gcs.list_blobs(tree.name, max_results=None, page_size=2).pages
    seen = [blob.name for page in pages for blob in page]
    assert seen == sorted(TREE)


def test_max_results_caps_the_listing(stack, tree):
    assert len(_names(stack, tree, max_results=3)) == 3


def test_start_offset_skips_earlier_names(stack, tree):
    assert _names(stack, tree, start_offset="images/") == [
        "images/icons/small.png",
        "images/logo.png",
    ]


def test_a_deleted_object_leaves_the_listing(stack, tree):
    tree.blob("a.txt").delete()
    assert "a.txt" not in _names(stack, tree)


def test_a_bucket_is_listed_in_its_project(stack):
    bucket = stack.bucket()
    assert bucket.name in [b.name for b in stack.gcs.list_buckets()]


def test_the_service_lists_a_folder(stack, client):
    for name in ("inbox/1.txt", "inbox/2.txt", "inbox/old/0.txt", "outbox/9.txt"):
        client.post(f"/documents/{name}", data=b"x", content_type="text/plain")
    response = client.get("/documents?prefix=inbox/&delimiter=/")
    assert response.json == {"names": ["inbox/1.txt", "inbox/2.txt"], "prefixes": ["inbox/old/"]}
