"""Object and bucket listing through the real client."""

from __future__ import annotations

import re
from contextlib import closing
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import storage

NAMES = ["a/1", "a/2", "a/b/3", "a/", "b.txt", "b/4", "c.txt", "é.txt", "z"]


@pytest.fixture
def client(fake_storage: Any) -> Any:
    for name in NAMES:
        fake_storage.put("tree", name, name)
    with closing(storage.Client()) as gcs:
        yield gcs


def _names(iterator: Any) -> list[str]:
    return [blob.name for blob in iterator]


def test_names_are_listed_in_utf8_byte_order(client: Any) -> None:
    assert _names(client.list_blobs("tree")) == sorted(NAMES, key=lambda n: n.encode())


def test_prefix_selects_names_that_start_with_it(client: Any) -> None:
    assert _names(client.list_blobs("tree", prefix="a/")) == ["a/", "a/1", "a/2", "a/b/3"]


def test_delimiter_folds_deeper_names_into_prefixes(client: Any) -> None:
    iterator = client.list_blobs("tree", prefix="a/", delimiter="/")
    assert _names(iterator) == ["a/", "a/1", "a/2"]
    assert iterator.prefixes == {"a/b/"}


def test_trailing_delimiter_object_is_an_item_and_a_prefix_when_asked(client: Any) -> None:
    plain = client.list_blobs("tree", delimiter="/")
    assert _names(plain) == ["b.txt", "c.txt", "z", "é.txt"]
    assert plain.prefixes == {"a/", "b/"}
    both = client.list_blobs("tree", delimiter="/", include_trailing_delimiter=True)
    assert _names(both) == ["a/", "b.txt", "c.txt", "z", "é.txt"]
    assert both.prefixes == {"a/", "b/"}


def test_start_and_end_offsets_bound_the_names(client: Any) -> None:
    names = _names(client.list_blobs("tree", start_offset="a/2", end_offset="c.txt"))
    assert names == ["a/2", "a/b/3", "b.txt", "b/4"]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*.txt", ["b.txt", "c.txt", "é.txt"]),
        ("a/*", ["a/", "a/1", "a/2"]),
        ("a/**", ["a/", "a/1", "a/2", "a/b/3"]),
        ("**/3", ["a/b/3"]),
        ("?.txt", ["b.txt", "c.txt", "é.txt"]),
        ("[bc].txt", ["b.txt", "c.txt"]),
        ("[!b].txt", ["c.txt", "é.txt"]),
        ("{z,b/*}", ["b/4", "z"]),
    ],
)
def test_match_glob_filters_names(client: Any, glob: str, expected: list[str]) -> None:
    assert _names(client.list_blobs("tree", match_glob=glob)) == expected


def test_page_size_splits_pages_and_tokens_are_opaque_and_url_safe(client: Any) -> None:
    iterator = client.list_blobs("tree", page_size=4)
    pages = list(iterator.pages)
    assert [len(list(page)) for page in pages] == [4, 4, 1]
    token = client.list_blobs("tree", page_size=4)._get_next_page_response()["nextPageToken"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert "a/" not in token


def test_page_boundaries_lose_and_repeat_nothing(client: Any) -> None:
    paged = _names(client.list_blobs("tree", page_size=2))
    assert paged == _names(client.list_blobs("tree"))


def test_prefixes_count_towards_the_page_size(client: Any) -> None:
    iterator = client.list_blobs("tree", delimiter="/", page_size=2)
    pages = [(sorted(b.name for b in page), sorted(page.prefixes)) for page in iterator.pages]
    # "b.txt" sorts before the prefix "b/" ("." < "/").
    assert pages == [(["b.txt"], ["a/"]), (["c.txt"], ["b/"]), (["z", "é.txt"], [])]


def test_max_results_caps_the_whole_listing(client: Any) -> None:
    assert len(_names(client.list_blobs("tree", max_results=3, page_size=2))) == 3


def test_an_unknown_page_token_is_bad_request(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest):
        list(client.list_blobs("tree", page_token="not-a-token!"))


def test_versions_lists_every_kept_generation_oldest_first(client: Any) -> None:
    bucket = client.create_bucket("kept")
    bucket.versioning_enabled = True
    bucket.patch()
    blob = bucket.blob("doc")
    for text in ("v1", "v2", "v3"):
        blob.upload_from_string(text)
    assert _names(client.list_blobs("kept")) == ["doc"]
    versions = list(client.list_blobs("kept", versions=True))
    assert [b.download_as_text() for b in versions] == ["v1", "v2", "v3"]
    assert [b.time_deleted is None for b in versions] == [False, False, True]


def test_listing_a_missing_bucket_is_not_found(client: Any) -> None:
    with pytest.raises(exceptions.NotFound):
        list(client.list_blobs("no-such-bucket"))


def test_buckets_list_by_prefix_in_pages(client: Any) -> None:
    for name in ("logs-1", "logs-2", "logs-3", "other"):
        client.create_bucket(name)
    iterator = client.list_buckets(prefix="logs-", page_size=2)
    assert [[b.name for b in page] for page in iterator.pages] == [
        ["logs-1", "logs-2"],
        ["logs-3"],
    ]
