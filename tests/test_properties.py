"""Property-based tests: generated input through the real clients, against GCP's rules.

Every call either succeeds or raises the ``google.api_core`` exception GCP would raise:
never a 500, ``INTERNAL`` or ``UNKNOWN``, a hang, or a traceback from our code. Where GCP's
documentation gives the rule (names, limits, the filter language, byte ranges,
preconditions), the outcome must be the one the rule gives, and what succeeded must read
back as written.

Each example runs against fresh fakes (``with GCPFakes()``, about a millisecond), so examples
are independent and a failure replays alone. The ``ci`` profile is derandomized and bounded;
``GCPFAKES_HYPOTHESIS_PROFILE=big`` runs twenty times as many random examples.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests
from google.api_core import exceptions
from google.cloud import pubsub_v1, storage
from google.cloud.pubsub_v1.types import BatchSettings
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from pytest_gcpfakes import GCPFakes

# No "explain" phase: it reruns a failure hundreds of times to annotate it.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
settings.register_profile(
    "ci",
    phases=PHASES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "big",
    phases=PHASES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("GCPFAKES_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "big"):
    raise pytest.UsageError("GCPFAKES_HYPOTHESIS_PROFILE is 'ci' (the default) or 'big'.")
settings.load_profile(PROFILE)
SCALE = 20 if PROFILE == "big" else 1


def examples(count: int, *, shared_fixtures: bool = False) -> settings:
    """``count`` examples under the ci profile, twenty times more under big.

    ``shared_fixtures``: the test takes function-scoped fixtures, shared by its examples.
    """
    checks = list(settings().suppress_health_check)
    if shared_fixtures:
        checks.append(HealthCheck.function_scoped_fixture)
    return settings(max_examples=count * SCALE, suppress_health_check=checks)


PROJECT = "test-project"
WAIT = 30.0  # seconds: a bound on every future, so a hang fails instead of waiting forever
HOST = "https://storage.gcpfakes.invalid"
T = TypeVar("T")

# Clients built once, as an application builds them at import time: each example's fresh
# fakes serve them.
publisher = pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_messages=1))
subscriber = pubsub_v1.SubscriberClient()
gcs = storage.Client()


@pytest.fixture(autouse=True, scope="module")
def _close_clients() -> Iterator[None]:
    yield
    publisher.stop()
    subscriber.close()
    gcs.close()


@dataclass
class Refused:
    """A call GCP refused: the ``google.api_core`` exception it raised."""

    error: exceptions.GoogleAPICallError


def attempt(call: Callable[[], T]) -> T | Refused:
    """Run ``call``: its result, or ``Refused`` with the GCP error it raised.

    A server error (500, INTERNAL, UNKNOWN) fails the test; so does any other exception
    raised from our code. A client library's own refusal (raised in ``google/``, before
    any request) propagates: the strategies keep to what the clients send.
    """
    __tracebackhide__ = True
    try:
        return call()
    except exceptions.GoogleAPICallError as error:
        if isinstance(error, (exceptions.InternalServerError, exceptions.Unknown)) or (
            isinstance(error.code, int) and error.code >= 500
        ):
            pytest.fail(f"a server error: {error!r}\n{_trace(error)}")
        return Refused(error)
    except Exception as error:
        # The usage recorder's wrappers only pass calls through to the client's methods.
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if not frame.filename.endswith(_PASS_THROUGH)
        ]
        if frames and f"{os.sep}pytest_gcpfakes{os.sep}" in frames[-1].filename:
            pytest.fail(f"a traceback from our code: {error!r}\n{_trace(error)}")
        raise


_PASS_THROUGH = os.path.join("pytest_gcpfakes", "usage", "_instrument.py")


def _trace(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def expect_refusal(outcome: object, *classes: type[exceptions.GoogleAPICallError]) -> None:
    __tracebackhide__ = True
    assert isinstance(outcome, Refused), f"expected {[c.__name__ for c in classes]}: {outcome!r}"
    assert isinstance(outcome.error, classes), repr(outcome.error)


def expect_success(outcome: T | Refused) -> T:
    __tracebackhide__ = True
    assert not isinstance(outcome, Refused), repr(outcome.error)
    return outcome


# -- Pub/Sub: names -----------------------------------------------------------------------------

# https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names: an id starts with a
# letter, has 3 to 255 letters, digits and -_.~+%, and does not start with "goog".
ID_CHARS = "abcXYZ0189-_.~+%"
resource_ids = st.one_of(
    st.text(alphabet=ID_CHARS, min_size=0, max_size=8),
    st.text(alphabet=ID_CHARS, min_size=250, max_size=260),
    st.text(min_size=0, max_size=20),  # anything at all: spaces, slashes, non-ASCII
    st.builds(lambda tail: "goog" + tail, st.text(alphabet=ID_CHARS, max_size=5)),
)


def valid_id(resource_id: str) -> bool:
    return bool(
        re.fullmatch(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}", resource_id)
        and not resource_id.startswith("goog")
    )


@examples(150)
@given(topic_id=resource_ids, subscription_id=resource_ids)
@example(topic_id="abc", subscription_id="a" * 255)
@example(topic_id="a/b/c", subscription_id="..")
def test_a_topic_or_subscription_name_is_taken_or_refused_as_gcp_documents(
    topic_id: str, subscription_id: str
) -> None:
    with GCPFakes(services=("pubsub",)):
        topic = f"projects/{PROJECT}/topics/{topic_id}"
        created = attempt(lambda: publisher.create_topic(name=topic))
        if not valid_id(topic_id):
            expect_refusal(created, exceptions.InvalidArgument)
            return
        assert expect_success(created).name == topic
        assert publisher.get_topic(topic=topic).name == topic
        subscription = f"projects/{PROJECT}/subscriptions/{subscription_id}"
        made = attempt(lambda: subscriber.create_subscription(name=subscription, topic=topic))
        if not valid_id(subscription_id):
            expect_refusal(made, exceptions.InvalidArgument)
            return
        assert expect_success(made).name == subscription
        assert [s.name for s in subscriber.list_subscriptions(project=f"projects/{PROJECT}")] == [
            subscription
        ]


# -- Pub/Sub: attributes and payloads --------------------------------------------------------

# publish() takes attributes as keyword arguments: these names are its own parameters.
_PUBLISH_PARAMETERS = {"self", "topic", "data", "ordering_key", "retry", "timeout"}
attribute_keys = st.one_of(
    st.text(min_size=0, max_size=10),
    st.text(alphabet="ké", min_size=120, max_size=140),  # about the 256-byte limit
    st.sampled_from(["goog", "Goog_x", "googclient_traceparent", "x-goog", "a" * 256]),
).filter(lambda key: key not in _PUBLISH_PARAMETERS)
attribute_values = st.one_of(
    st.text(max_size=20), st.text(alphabet="vé", min_size=500, max_size=520)
)


def valid_message(data: bytes, attributes: dict[str, str]) -> bool:
    """https://cloud.google.com/pubsub/quotas#resource_limits and the service's refusals."""
    if not data and not attributes:
        return False  # a message must have data or at least one attribute
    if len(attributes) > 100:
        return False
    for key, value in attributes.items():
        reserved = key.lower().startswith("goog") and key not in {
            "googclient_traceparent",
            "googclient_tracestate",
        }
        if not key or reserved or len(key.encode()) > 256 or len(value.encode()) > 1024:
            return False
    return True


@examples(80)
@given(
    data=st.binary(max_size=300),
    attributes=st.dictionaries(attribute_keys, attribute_values, max_size=4)
    | st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1, max_size=4),
        st.just("v"),
        min_size=95,
        max_size=105,
    ),
)
@example(data=b"", attributes={})
@example(data=b"x", attributes={"k" * 257: "v"})
@example(data=b"x", attributes={"k": "é" * 513})
def test_a_message_is_published_or_refused_and_arrives_as_sent(
    data: bytes, attributes: dict[str, str]
) -> None:
    with GCPFakes(services=("pubsub",)) as fakes:
        topic = fakes.pubsub.create_topic("topic")
        subscription = fakes.pubsub.create_subscription("subs", "topic")
        published = attempt(lambda: publisher.publish(topic, data, **attributes).result(WAIT))
        if not valid_message(data, attributes):
            expect_refusal(published, exceptions.InvalidArgument)
            return
        message_id = expect_success(published)
        received = subscriber.pull(subscription=subscription, max_messages=10).received_messages
        assert [(m.message.message_id, m.message.data) for m in received] == [(message_id, data)]
        assert dict(received[0].message.attributes) == attributes


# Sizes about the limits: the client's batch (1 MB, then alone), the service's 10 MB
# request (decimal) and the client's own 10 MB check.
payload_sizes = st.one_of(
    st.integers(0, 2000),
    st.sampled_from([1_000_000, 1_048_576, 9_999_950, 9_999_990, 10_000_000, 10_485_760]),
    st.integers(9_999_900, 10_000_100),
)


@examples(12)
@given(size=payload_sizes)
def test_a_payload_of_any_size_is_published_or_refused_before_or_at_the_service(
    size: int,
) -> None:
    from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError

    data = b"\x5a" * size
    with GCPFakes(services=("pubsub",)) as fakes:
        topic = fakes.pubsub.create_topic("topic")
        fakes.pubsub.create_subscription("subs", "topic")
        try:
            future = publisher.publish(topic, data, n="1")
        except MessageTooLargeError:
            # The client's own refusal, before any request (10 MB of serialized request).
            assert size > 9_999_900
            return
        published = attempt(lambda: future.result(WAIT))
        if isinstance(published, Refused):
            expect_refusal(published, exceptions.InvalidArgument)
            assert size > 9_999_900
            return
        assert [m.data for m in fakes.pubsub.published("topic")] == [data]
        assert fakes.pubsub.backlog("subs") == 1


# -- Pub/Sub: filters ----------------------------------------------------------------------------

FILTER_KEYS = ["a", "b-2", "c_3", "iana.org/tag"]
FILTER_VALUES = ["", "x", "xy", "X", 'q"uote', "back\\slash", "é"]


@dataclass(frozen=True)
class Filter:
    """A generated filter: its text and what it means."""

    text: str
    matches: Callable[[dict[str, str]], bool]


def _key_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _literal(key)


def _literal(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _atoms(key: str, value: str) -> st.SearchStrategy[Filter]:
    k = _key_text(key)
    return st.sampled_from(
        [
            Filter(f"attributes:{k}", lambda a: key in a),
            Filter(f"attributes.{k} = {_literal(value)}", lambda a: a.get(key) == value),
            Filter(f"attributes.{k} != {_literal(value)}", lambda a: a.get(key) != value),
            Filter(
                f"hasPrefix(attributes.{k}, {_literal(value)})",
                lambda a: key in a and a[key].startswith(value),
            ),
        ]
    )


atoms = st.tuples(st.sampled_from(FILTER_KEYS), st.sampled_from(FILTER_VALUES)).flatmap(
    lambda kv: _atoms(*kv)
)


def _combine(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    def negate(f: Filter, word: str) -> Filter:
        return Filter(f"{word}({f.text})", lambda a: not f.matches(a))

    def join(fs: list[Filter], op: str) -> Filter:
        text = f" {op} ".join(f"({f.text})" for f in fs)
        if op == "AND":
            return Filter(text, lambda a: all(f.matches(a) for f in fs))
        return Filter(text, lambda a: any(f.matches(a) for f in fs))

    return st.one_of(
        st.builds(negate, children, st.sampled_from(["NOT ", "-", "NOT"])),
        st.builds(join, st.lists(children, min_size=2, max_size=3), st.sampled_from(["AND", "OR"])),
    )


filters = st.recursive(atoms, _combine, max_leaves=6)
messages_attributes = st.lists(
    st.dictionaries(st.sampled_from(FILTER_KEYS), st.sampled_from(FILTER_VALUES), max_size=3),
    min_size=1,
    max_size=8,
)


def _filtered(subscription_filter: str, attributes: list[dict[str, str]]) -> object:
    """Create a subscription with the filter, publish, pull: the indexes delivered (or the
    refusal)."""
    with GCPFakes(services=("pubsub",)) as fakes:
        fakes.pubsub.create_topic("topic")
        path = f"projects/{PROJECT}/subscriptions/subs"
        made = attempt(
            lambda: subscriber.create_subscription(
                request={
                    "name": path,
                    "topic": fakes.pubsub.topic_path("topic"),
                    "filter": subscription_filter,
                }
            )
        )
        if isinstance(made, Refused):
            return made
        for index, attrs in enumerate(attributes):
            fakes.pubsub.publish("topic", str(index).encode(), **attrs)
        delivered: list[int] = []
        while True:
            response = subscriber.pull(subscription=path, max_messages=100, return_immediately=True)
            if not response.received_messages:
                break
            delivered.extend(int(m.message.data) for m in response.received_messages)
            subscriber.acknowledge(
                subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        assert fakes.pubsub.state("subs").backlog == ()
        return sorted(delivered)


@examples(100)
@given(subscription_filter=filters, attributes=messages_attributes)
def test_a_filter_delivers_exactly_the_messages_it_matches(
    subscription_filter: Filter, attributes: list[dict[str, str]]
) -> None:
    outcome = _filtered(subscription_filter.text, attributes)
    if len(subscription_filter.text.encode()) > 256:
        expect_refusal(outcome, exceptions.InvalidArgument)
        return
    expected = [i for i, attrs in enumerate(attributes) if subscription_filter.matches(attrs)]
    assert outcome == expected, subscription_filter.text


filter_noise = st.one_of(
    st.text(max_size=40),
    st.text(alphabet='attributes.:=!" ()-NOTANDRhasPrefix,\\ab', max_size=60),
)


@examples(150)
@given(subscription_filter=filter_noise)
@example(subscription_filter="attributes:a AND attributes:b OR attributes:c")
@example(subscription_filter='hasPrefix(attributes.a, "\\')
@example(subscription_filter="NOT NOT attributes:a")
@example(subscription_filter='attributes.a = "\\uD800"')
def test_any_filter_text_is_taken_or_refused_as_invalid_argument(subscription_filter: str) -> None:
    outcome = _filtered(subscription_filter, [{"a": "x"}, {}])
    if isinstance(outcome, Refused):
        expect_refusal(outcome, exceptions.InvalidArgument)


# -- Storage: object names -----------------------------------------------------------------------

object_names = st.one_of(
    st.text(min_size=1, max_size=30),
    st.text(alphabet="a/.%?#[]*~ \\+&=é\t", min_size=1, max_size=30),
    st.text(alphabet="né", min_size=500, max_size=530),  # about the 1024-byte limit
    st.sampled_from([".", "..", ".well-known/acme-challenge/x", "a\nb", "a\rb", "/", "a//b"]),
)


def valid_object_name(name: str) -> bool:
    """https://cloud.google.com/storage/docs/objects#naming."""
    return (
        0 < len(name.encode()) <= 1024
        and "\r" not in name
        and "\n" not in name
        and name not in (".", "..")
        and not name.startswith(".well-known/acme-challenge/")
    )


@examples(150)
@given(name=object_names, data=st.binary(max_size=64))
@example(name="é" * 512, data=b"x")
@example(name="é" * 512 + "a", data=b"x")
def test_an_object_name_is_stored_or_refused_as_gcs_documents(name: str, data: bytes) -> None:
    with GCPFakes(services=("storage",)):
        bucket = gcs.create_bucket("names")
        stored = attempt(lambda: bucket.blob(name).upload_from_string(data))
        if not valid_object_name(name):
            expect_refusal(stored, exceptions.BadRequest)
            assert list(gcs.list_blobs(bucket)) == []
            return
        expect_success(stored)
        assert bucket.blob(name).download_as_bytes() == data
        assert [b.name for b in gcs.list_blobs(bucket, prefix=name)][:1] == [name]
        assert bucket.get_blob(name).size == len(data)
        bucket.blob(name).delete()
        expect_refusal(attempt(lambda: bucket.blob(name).download_as_bytes()), exceptions.NotFound)


# -- Storage: listings --------------------------------------------------------------------------


@examples(60)
@given(
    names=st.lists(st.text(alphabet="ab/é", min_size=1, max_size=4), min_size=1, max_size=12),
    page_size=st.integers(1, 5),
    writes=st.lists(st.integers(0, 11), max_size=12),
    versioned=st.booleans(),
)
def test_a_listing_paged_while_objects_are_overwritten_lists_each_once_in_order(
    names: list[str], page_size: int, writes: list[int], versioned: bool
) -> None:
    """Between two pages, objects are overwritten (the last one listed among them): every
    name still comes once, in order; with versions, each generation at most once."""
    with GCPFakes(services=("storage",)):
        bucket = gcs.create_bucket("pages")
        if versioned:
            bucket.versioning_enabled = True
            bucket.patch()
        for name in names:
            bucket.blob(name).upload_from_string(b"1")
        listed: list[tuple[str, int]] = []
        pages = gcs.list_blobs(bucket, page_size=page_size, versions=versioned).pages
        for page_number, page in enumerate(pages):
            listed.extend((blob.name, blob.generation) for blob in page)
            # Overwrite the last listed object, and another: a bounded number of times, as a
            # versioned listing goes on to each new noncurrent generation after its token.
            if listed and page_number < 12:
                bucket.blob(listed[-1][0]).upload_from_string(b"2")
            if page_number < len(writes):
                name = names[writes[page_number] % len(names)]
                bucket.blob(name).upload_from_string(b"3")
        keys = [(name.encode(), generation) for name, generation in listed]
        assert keys == sorted(set(keys)), listed
        if not versioned:
            assert [name for name, _ in listed] == sorted(set(names), key=str.encode)


# -- Storage: metadata ---------------------------------------------------------------------------

metadata = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6)
# What the client can send in a header (requests refuses control characters and leading
# whitespace before any request is made).
header_texts = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40).map(str.lstrip),
)


@examples(100)
@given(
    custom=metadata,
    content_type=header_texts,
    cache_control=header_texts,
    content_disposition=header_texts,
    content_language=header_texts,
    patch=metadata,
)
def test_metadata_is_stored_as_given_or_refused_as_bad_request(
    custom: dict[str, str],
    content_type: str | None,
    cache_control: str | None,
    content_disposition: str | None,
    content_language: str | None,
    patch: dict[str, str],
) -> None:
    with GCPFakes(services=("storage",)):
        bucket = gcs.create_bucket("meta")
        blob = bucket.blob("o")
        blob.metadata = custom
        blob.cache_control = cache_control
        blob.content_disposition = content_disposition
        blob.content_language = content_language
        stored = attempt(lambda: blob.upload_from_string(b"data", content_type=content_type))
        if isinstance(stored, Refused):
            expect_refusal(stored, exceptions.BadRequest)
            assert list(gcs.list_blobs(bucket)) == []
            return
        read = bucket.get_blob("o")
        assert (read.metadata or {}) == custom
        assert read.cache_control == (cache_control or None)
        assert read.content_disposition == (content_disposition or None)
        assert read.content_language == (content_language or None)
        read.metadata = patch
        patched = attempt(read.patch)
        if isinstance(patched, Refused):
            expect_refusal(patched, exceptions.BadRequest)
            assert (bucket.get_blob("o").metadata or {}) == custom
            return
        assert (bucket.get_blob("o").metadata or {}) == {**custom, **patch}
        assert bucket.blob("o").download_as_bytes() == b"data"


# -- Storage: byte ranges ------------------------------------------------------------------------


def served_range(size: int, start: int | None, end: int | None) -> tuple[int, int] | str | None:
    """What RFC 9110 serves for the Range header the client sends for ``start``/``end``
    (``google.cloud.storage._media._download.add_bytes_range``): the slice, ``None`` for
    the whole object (no Range, or one that does not parse), or "416"."""
    if start is None and end is None:
        return None
    if start is None:
        header = f"0-{end}"
    elif end is None:
        header = f"{start}" if start < 0 else f"{start}-"
    else:
        header = f"{start}-{end}"
    if match := re.fullmatch(r"(\d+)-(\d*)", header):
        first = int(match[1])
        last = int(match[2]) if match[2] else None
        if last is not None and last < first:
            return None  # an invalid range is ignored
        if first >= size:
            return "416"
        return first, size if last is None else min(last + 1, size)
    if match := re.fullmatch(r"-(\d+)", header):
        suffix = int(match[1])
        if suffix == 0 or size == 0:
            return "416"
        return max(0, size - suffix), size
    return None


bounds = st.one_of(st.none(), st.integers(-40, 400), st.sampled_from([0, -1, 2**40]))


@examples(150)
@given(size=st.integers(0, 300), start=bounds, end=bounds)
@example(size=0, start=0, end=None)
@example(size=10, start=-3, end=None)
@example(size=10, start=5, end=2)
def test_a_ranged_read_gives_the_bytes_http_says_or_416(
    size: int, start: int | None, end: int | None
) -> None:
    data = bytes(i % 251 for i in range(size))
    with GCPFakes(services=("storage",)) as fakes:
        fakes.storage.put("ranges", "o", data)
        blob = gcs.bucket("ranges").blob("o")
        read = attempt(lambda: blob.download_as_bytes(start=start, end=end))
        served = served_range(size, start, end)
        if size == 0 and served == "416" and read == b"":
            return  # an empty object: the fake sends its no bytes, GCS may answer 416
        if served == "416":
            expect_refusal(read, exceptions.RequestRangeNotSatisfiable)
        elif served is None:
            assert expect_success(read) == data
        else:
            first, stop = served
            assert expect_success(read) == data[first:stop]


@examples(40)
@given(
    size=st.integers(0, 3000),
    steps=st.lists(st.tuples(st.integers(0, 3100), st.integers(-1, 700)), max_size=6),
)
def test_seeking_and_reading_an_open_blob_gives_the_bytes_at_that_offset(
    size: int, steps: list[tuple[int, int]]
) -> None:
    data = bytes(i % 253 for i in range(size))
    with GCPFakes(services=("storage",)) as fakes:
        fakes.storage.put("ranges", "o", data)
        with gcs.bucket("ranges").blob("o").open("rb", chunk_size=1024) as reader:
            for offset, count in steps:
                reader.seek(offset)
                assert reader.read(count) == data[offset:][: None if count < 0 else count]


# -- Storage: preconditions ----------------------------------------------------------------------

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Preconditions:
    if_generation_match: int | None
    if_generation_not_match: int | None
    if_metageneration_match: int | None
    if_metageneration_not_match: int | None

    def kwargs(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _precondition_values(current: int) -> st.SearchStrategy[int | None]:
    return st.one_of(
        st.none(),
        st.just(current),
        st.just(current + 1),
        st.just(0),
        st.integers(1, INT64_MAX),
        st.integers(-(2**64), -1),
        st.integers(INT64_MAX + 1, 2**70),
    )


def expected_outcome(
    p: Preconditions, generation: int, metageneration: int, *, read: bool
) -> set[type[exceptions.GoogleAPICallError] | None]:
    """What GCS answers (https://cloud.google.com/storage/docs/request-preconditions): a
    failed *match* is 412; a failed *not match* is 304 on a read and 412 on a write. Any
    of several failures may be the one reported."""
    # A value outside int64's non-negative range is 400 where GCS does not parse it, or a
    # number that matches no generation where it does.
    unparsed = any(v < 0 or v > INT64_MAX for v in p.kwargs().values())
    failures: set[type[exceptions.GoogleAPICallError] | None] = set()
    not_match = exceptions.NotModified if read else exceptions.PreconditionFailed
    if p.if_generation_match is not None and p.if_generation_match != generation:
        failures.add(exceptions.PreconditionFailed)
    if p.if_metageneration_match is not None and p.if_metageneration_match != metageneration:
        failures.add(exceptions.PreconditionFailed)
    if p.if_generation_not_match is not None and p.if_generation_not_match == generation:
        failures.add(not_match)
    if (
        p.if_metageneration_not_match is not None
        and p.if_metageneration_not_match == metageneration
    ):
        failures.add(not_match)
    return (failures or {None}) | ({exceptions.BadRequest} if unparsed else set())


OPERATIONS = ["download", "reload", "upload", "patch", "delete", "copy"]
# Copy's preconditions here are on its source, but the request is a write (a POST): a
# failed *not match* is 412 there, as on any write.
READS = {"download", "reload"}


@examples(150)
@given(data=st.data(), operation=st.sampled_from(OPERATIONS))
def test_preconditions_pass_or_fail_as_gcs_documents(data: Any, operation: str) -> None:
    with GCPFakes(services=("storage",)):
        bucket = gcs.create_bucket("pre")
        blob = bucket.blob("o")
        blob.upload_from_string(b"first")
        blob.metadata = {"m": "1"}
        blob.patch()
        generation, metageneration = blob.generation, blob.metageneration
        p = Preconditions(
            data.draw(_precondition_values(generation), "if_generation_match"),
            data.draw(_precondition_values(generation), "if_generation_not_match"),
            data.draw(_precondition_values(metageneration), "if_metageneration_match"),
            data.draw(_precondition_values(metageneration), "if_metageneration_not_match"),
        )
        if operation == "upload":
            # google-cloud-storage 3.17 sends this one as "ifMetaGenerationNotMatch" on
            # uploads (blob.py, multipart and resumable), a name GCS does not define: it
            # never reaches the service as a precondition.
            p = dataclasses.replace(p, if_metageneration_not_match=None)
        kwargs = p.kwargs()
        target = bucket.blob("o")
        calls: dict[str, Callable[[], Any]] = {
            "download": lambda: target.download_as_bytes(**kwargs),
            "reload": lambda: target.reload(**kwargs),
            "upload": lambda: target.upload_from_string(b"second", **kwargs),
            "patch": lambda: bucket.get_blob("o").patch(**kwargs),
            "delete": lambda: target.delete(**kwargs),
            "copy": lambda: bucket.copy_blob(
                target,
                bucket,
                "copy",
                **{f"if_source_{k[3:]}": v for k, v in kwargs.items()},
            ),
        }
        outcome = attempt(calls[operation])
        allowed = expected_outcome(p, generation, metageneration, read=operation in READS)
        got = type(outcome.error) if isinstance(outcome, Refused) else None
        assert got in allowed, (operation, p, outcome)
        # A refused call changed nothing.
        current = bucket.get_blob("o")
        if got is not None or operation in ("download", "reload", "copy"):
            assert current is not None
            assert (current.generation, current.metageneration) == (generation, metageneration)
            assert current.download_as_bytes() == b"first"


# -- Storage: raw JSON bodies --------------------------------------------------------------------

FIELD_NAMES = [
    "name", "bucket", "metadata", "contentType", "contentEncoding", "cacheControl", "acl",
    "labels", "lifecycle", "versioning", "retentionPolicy", "customTime", "cors",
    "storageClass", "billing", "website", "logging", "iamConfiguration", "temporaryHold",
    "eventBasedHold", "sourceObjects", "destination", "defaultObjectAcl", "autoclass",
    "softDeletePolicy", "encryption", "retention", "kind", "id", "generation", "rule",
    "action", "condition", "age", "type", "entity", "role", "x",
]  # fmt: skip
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-13-01", "STANDARD", "Delete", "true"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6),
    json_values,
)
ENDPOINTS = [
    ("POST", "/storage/v1/b?project=test-project", "bucket insert"),
    ("PATCH", "/storage/v1/b/raw", "bucket patch"),
    ("PUT", "/storage/v1/b/raw", "bucket update"),
    ("PATCH", "/storage/v1/b/raw/o/obj", "object patch"),
    ("PUT", "/storage/v1/b/raw/o/obj", "object update"),
    ("POST", "/storage/v1/b/raw/o?name=made", "object insert without upload"),
    ("POST", "/upload/storage/v1/b/raw/o?uploadType=multipart", "multipart upload"),
    ("POST", "/upload/storage/v1/b/raw/o?uploadType=resumable&name=r", "resumable start"),
    ("POST", "/storage/v1/b/raw/o/composed/compose", "compose"),
    ("POST", "/storage/v1/b/raw/o/obj/copyTo/b/raw/o/copied", "copy"),
    ("POST", "/storage/v1/b/raw/o/obj/rewriteTo/b/raw/o/rewritten", "rewrite"),
    ("POST", "/storage/v1/b/raw/notificationConfigs", "notification insert"),
    ("POST", "/storage/v1/b/raw/acl", "bucket acl insert"),
]


def _multipart(metadata: bytes) -> tuple[bytes, dict[str, str]]:
    body = (
        b"--b\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + metadata
        + b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nxyz\r\n--b--\r\n"
    )
    return body, {"Content-Type": 'multipart/related; boundary="b"'}


def _json_answer(response: requests.Response, what: str) -> None:
    __tracebackhide__ = True
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] == response.status_code, error
        assert error["message"], error


@examples(250)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=json_bodies,
    raw=st.sampled_from([False, False, False, True]),
)
def test_any_json_body_gets_an_answer_and_leaves_the_state_usable(
    endpoint: tuple[str, str, str], body: Any, raw: bool
) -> None:
    method, path, what = endpoint
    payload = json.dumps(body).encode()
    if raw:  # not always JSON: cut it short
        payload = payload[: max(0, len(payload) - 1)]
    with GCPFakes(services=("storage",)) as fakes, requests.Session() as http:
        fakes.storage.put("raw", "obj", b"0123456789")
        headers = {"Content-Type": "application/json"}
        if "uploadType=multipart" in path:
            payload, headers = _multipart(payload)
        response = http.request(method, HOST + path, data=payload, headers=headers)
        event(f"storage answered {response.status_code}")
        _json_answer(response, what)
        # Whatever was stored can be read, listed and used again.
        for follow_up in ("/storage/v1/b/raw", "/storage/v1/b/raw/o", "/storage/v1/b?project=x"):
            _json_answer(http.get(HOST + follow_up), f"GET {follow_up} after {what}")
        for blob in gcs.list_blobs("raw", versions=True):
            assert blob.download_as_bytes() is not None
        gcs.bucket("raw").blob("after").upload_from_string(b"still works")
        for bucket in gcs.list_buckets():
            bucket.reload()


# -- Pub/Sub: raw JSON bodies on the REST face ---------------------------------------------------

PUBSUB_FIELDS = [
    "name", "topic", "labels", "messageRetentionDuration", "messages", "data", "attributes",
    "orderingKey", "ackDeadlineSeconds", "retainAckedMessages", "pushConfig", "pushEndpoint",
    "filter", "deadLetterPolicy", "deadLetterTopic", "maxDeliveryAttempts", "retryPolicy",
    "minimumBackoff", "expirationPolicy", "ttl", "enableMessageOrdering",
    "enableExactlyOnceDelivery", "maxMessages", "returnImmediately", "ackIds",
    "subscription", "updateMask", "snapshot", "time", "schemaSettings", "schema",
    "encoding", "type", "definition", "x",
]  # fmt: skip
pubsub_values = st.recursive(
    json_scalars | st.sampled_from(["10s", "-1s", "600.5s", "AAAA", "labels"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(PUBSUB_FIELDS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
PUSH_ENDPOINT = "https://push.example.invalid/push"
NAMES = ["raw", "raw-2", "x"]  # "x" is too short for GCP: a refusal
TOPICS = [f"projects/{PROJECT}/topics/{n}" for n in NAMES]
SUBSCRIPTIONS = [f"projects/{PROJECT}/subscriptions/{n}-sub" for n in NAMES]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right shape, sometimes anything."""
    return st.one_of(strategy, strategy, strategy, pubsub_values)


def _body(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A body with any of ``fields`` (each mostly well-shaped), sometimes another field."""
    plausible = st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in fields.items()})
    return st.one_of(
        plausible,
        plausible,
        st.dictionaries(st.sampled_from(PUBSUB_FIELDS), pubsub_values, max_size=4),
        pubsub_values,
    )


durations = st.sampled_from(["600s", "10s", "700000s", "1.5s", "0s", "x"])
labels = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "data": _maybe(st.sampled_from(["aGVsbG8=", "", "not base64!", "AA=="])),
            "attributes": _maybe(st.dictionaries(st.text(max_size=5), st.text(max_size=5))),
            "orderingKey": _maybe(st.text(max_size=5)),
        },
    ),
    max_size=3,
)
subscription_fields = {
    "topic": st.sampled_from(TOPICS),
    "ackDeadlineSeconds": st.integers(-5, 700),
    "labels": labels,
    "filter": st.sampled_from(["", "attributes:a", "attributes.a = ", "NOT"]),
    "messageRetentionDuration": durations,
    "enableExactlyOnceDelivery": st.booleans(),
    "pushConfig": st.fixed_dictionaries(
        # An endpoint the fake routes (below); one it cannot reach is reported at teardown.
        {},
        optional={"pushEndpoint": st.sampled_from(["", PUSH_ENDPOINT])},
    ),
    "retryPolicy": st.fixed_dictionaries(
        {}, optional={"minimumBackoff": durations, "maximumBackoff": durations}
    ),
    "deadLetterPolicy": st.fixed_dictionaries(
        {},
        optional={
            "deadLetterTopic": st.sampled_from(TOPICS),
            "maxDeliveryAttempts": st.integers(-1, 120),
        },
    ),
}
masks = st.lists(
    st.sampled_from(["labels", "ackDeadlineSeconds", "messageRetentionDuration", "x", ""]),
    max_size=3,
).map(",".join)
PUBSUB_REQUESTS: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    ("PUT", "topics/{}", _body(labels=labels, messageRetentionDuration=durations)),
    (
        "PATCH",
        "topics/{}",
        _body(topic=_body(labels=labels, messageRetentionDuration=durations), updateMask=masks),
    ),
    ("POST", "topics/{}:publish", _body(messages=messages)),
    ("PUT", "subscriptions/{}-sub", _body(**subscription_fields)),
    (
        "PATCH",
        "subscriptions/{}-sub",
        _body(subscription=_body(**subscription_fields), updateMask=masks),
    ),
    (
        "POST",
        "subscriptions/{}-sub:pull",
        _body(maxMessages=st.integers(-2, 2000), returnImmediately=st.booleans()),
    ),
    ("POST", "subscriptions/{}-sub:acknowledge", _body(ackIds=st.lists(st.text(max_size=9)))),
    (
        "POST",
        "subscriptions/{}-sub:modifyAckDeadline",
        _body(ackIds=st.lists(st.text(max_size=9)), ackDeadlineSeconds=st.integers(-5, 700)),
    ),
    (
        "POST",
        "subscriptions/{}-sub:modifyPushConfig",
        _body(pushConfig=subscription_fields["pushConfig"]),
    ),
    (
        "POST",
        "subscriptions/{}-sub:seek",
        _body(
            time=st.sampled_from(["2024-01-01T00:00:00Z", "yesterday"]),
            snapshot=st.sampled_from([f"projects/{PROJECT}/snapshots/{n}-snap" for n in NAMES]),
        ),
    ),
    ("PUT", "snapshots/{}-snap", _body(subscription=st.sampled_from(SUBSCRIPTIONS), labels=labels)),
    (
        "POST",
        "schemas?schemaId={}-schema",
        _body(
            type=st.sampled_from(["AVRO", "PROTOCOL_BUFFER", "TYPE_UNSPECIFIED", "x"]),
            definition=st.sampled_from(['{"type": "string"}', "syntax = 1", ""]),
        ),
    ),
]
pubsub_requests = st.sampled_from(PUBSUB_REQUESTS).flatmap(
    lambda r: st.tuples(st.just(r[0]), st.sampled_from(NAMES).map(r[1].format), r[2])
)


def _push_receiver(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("204 No Content", [])
    return []


@examples(150, shared_fixtures=True)
@given(request=pubsub_requests, raw=st.sampled_from([False, False, False, True]))
@example(request=("POST", "schemas?schemaId=raw-schema", {"type": -1}), raw=False)
def test_any_json_body_on_the_pubsub_rest_face_gets_a_grpc_status_not_a_crash(
    fake_pubsub: Any, gcpfakes_server: Any, request: tuple[str, str, Any], raw: bool
) -> None:
    # One server and one fake for all examples (servers take a while to start): what an
    # example made stays for the next, as a long-lived service's state would.
    method, path, body = request
    payload = json.dumps(body).encode()
    if raw:  # not always JSON: cut it short
        payload = payload[: max(0, len(payload) - 1)]
    if not fake_pubsub.topics:  # the first example: something to act on
        fake_pubsub.route_push(PUSH_ENDPOINT, _push_receiver)
        fake_pubsub.create_topic("raw")
        fake_pubsub.create_subscription("raw-sub", "raw")
    base = f"http://{gcpfakes_server.pubsub_address}/v1/projects/{PROJECT}"
    with requests.Session() as http:
        response = http.request(
            method,
            f"{base}/{path}",
            data=payload,
            headers={"Content-Type": "application/json"},
            timeout=WAIT,
        )
        event(f"Pub/Sub REST answered {response.status_code}")
        assert response.status_code < 500, f"{method} {path}: {response.text[:500]}"
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["code"] == response.status_code, error
            assert error["status"] not in ("INTERNAL", "UNKNOWN"), error
        # The service still answers: list what there is, and use it through a client.
        for listing in ("topics", "subscriptions", "snapshots", "schemas"):
            answer = http.get(f"{base}/{listing}", timeout=WAIT)
            assert answer.status_code == 200, answer.text[:500]
    for topic in fake_pubsub.topics:
        fake_pubsub.publish(topic.rsplit("/", 1)[-1], b"still works")
    for subscription in fake_pubsub.subscriptions:
        subscriber.pull(subscription=subscription, max_messages=5, return_immediately=True)
