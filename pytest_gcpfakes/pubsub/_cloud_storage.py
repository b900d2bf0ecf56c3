"""Cloud Storage subscriptions: write a subscription's messages into the Storage fake.

A subscription with ``cloud_storage_config`` gathers its messages into batches and writes
each batch as one object of the bucket, in the Storage fake active in the same test
(looked up per write through the registry, as Storage's notifications look up Pub/Sub).
A batch is written when it holds ``max_messages`` messages or ``max_bytes`` bytes, or once
``max_duration`` (default 5 minutes) has passed on the fakes' clock since it was opened;
its messages then count as acknowledged. Names are
``<filename_prefix><datetime>_<random id><filename_suffix>``, the datetime being when the
batch was opened, in ``filename_datetime_format``.

There is no thread: batches are written when something could see them. That is a
publish to the topic, any call on the subscription, ``fakes.clock.advance()``, and every
bucket lookup of the Storage fake (a hook in ``storage/_backend.py``), so a test that moves
freezegun's clock and then lists the bucket finds the object, deterministically.
``fake_pubsub.flush_cloud_storage()`` writes the open batches at once.

Sources: the ``CloudStorageConfig`` reference (limits, fields, states) and
https://cloud.google.com/pubsub/docs/create-cloudstorage-subscription#file_names (names).
GCP's refusals of out-of-range values are not on record: the classes are GCP's, the
wordings follow the ack deadline's sentence (see docs/fidelity.md).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions
from google.pubsub_v1 import types

from pytest_gcpfakes import _registry
from pytest_gcpfakes.pubsub._delivery import PublishedMessage, Subscription

if TYPE_CHECKING:
    from pytest_gcpfakes.pubsub._backend import PubSubBackend

State = types.CloudStorageConfig.State

MIN_DURATION = 60
MAX_DURATION = 600
DEFAULT_DURATION = 300
MIN_BYTES = 1000  # "Min 1 KB": GCP returns a subscription created with maxBytes "1000"
MAX_BYTES = 10 * 1024**3
MIN_MESSAGES = 1000
DEFAULT_DATETIME_FORMAT = "YYYY-MM-DDThh:mm:ssZ"
WRITER_THREAD = "gcpfakes-pubsub-cloud-storage"

# Elements of filename_datetime_format and what each renders (UTC). "Z" renders the offset
# as GCP's documented example name shows it (2023-09-25T04:10:00+00:00).
_ELEMENTS = {
    "YYYY": "%Y",
    "YY": "%y",
    "MM": "%m",
    "DD": "%d",
    "hh": "%H",
    "mm": "%M",
    "ss": "%S",
    "Z": "+00:00",
}
_ELEMENT = re.compile("|".join(sorted(_ELEMENTS, key=len, reverse=True)))
_DELIMITERS = frozenset("-_:/T.")

# The record of a file without a topic schema: the data alone, or with write_metadata the
# metadata fields first (the field list of AvroConfig.write_metadata's reference).
_METADATA_FIELDS: list[dict[str, Any]] = [
    {"name": "subscription_name", "type": "string"},
    {"name": "message_id", "type": "string"},
    {"name": "publish_time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "attributes", "type": {"type": "map", "values": "string"}},
]
_DATA_FIELD: dict[str, Any] = {"name": "data", "type": "bytes"}

_local = threading.local()  # .pumping: this thread is writing batches (no waiting then)
_hook_lock = threading.Lock()
_hook_installed = False


# -- configuration -----------------------------------------------------------------------


def check_config(config: types.CloudStorageConfig) -> None:
    """Refuse what GCP refuses in a ``cloud_storage_config``, with ``InvalidArgument``."""
    if not config.bucket:
        raise exceptions.InvalidArgument(
            "Invalid Cloud Storage bucket given (bucket=). The bucket must be set."
        )
    if config.bucket.startswith("gs://") or "/" in config.bucket:
        raise exceptions.InvalidArgument(
            f"Invalid Cloud Storage bucket given (bucket={config.bucket}). The bucket name "
            'must be without any prefix like "gs://".'
        )
    if config.filename_suffix.endswith("/"):
        raise exceptions.InvalidArgument(
            f"Invalid filename_suffix given (filename_suffix={config.filename_suffix}). "
            'The filename suffix must not end in "/".'
        )
    if config.filename_datetime_format:
        _check_datetime_format(config.filename_datetime_format)
    if "max_duration" in config:
        seconds = config.max_duration.total_seconds()
        if not MIN_DURATION <= seconds <= MAX_DURATION:
            raise exceptions.InvalidArgument(
                f"Invalid max_duration given (max_duration={seconds:g}s). The max duration "
                f"must be between {MIN_DURATION} and {MAX_DURATION} seconds."
            )
    if config.max_bytes and not MIN_BYTES <= config.max_bytes <= MAX_BYTES:
        raise exceptions.InvalidArgument(
            f"Invalid max_bytes given (max_bytes={config.max_bytes}). The max bytes must be "
            f"between {MIN_BYTES} and {MAX_BYTES}."
        )
    if config.max_messages and config.max_messages < MIN_MESSAGES:
        raise exceptions.InvalidArgument(
            f"Invalid max_messages given (max_messages={config.max_messages}). The max "
            f"messages must be at least {MIN_MESSAGES}."
        )
    if "avro_config" in config:
        # Avro files need fastavro (pytest-gcpfakes[schemas]): without it the subscription
        # is refused as it is created or updated, not when its first batch is written.
        from pytest_gcpfakes.pubsub._schemas import schemas_extra

        schemas_extra("fastavro")


def _check_datetime_format(fmt: str) -> None:
    rest = _ELEMENT.sub("", fmt)
    if any(ch not in _DELIMITERS for ch in rest):
        raise exceptions.InvalidArgument(
            f"Invalid filename_datetime_format given (filename_datetime_format={fmt}). Use "
            "the elements YYYY, YY, MM, DD, hh, mm, ss and Z, separated by -, _, :, /, T "
            "or ."
        )


def render_datetime(fmt: str, moment: datetime) -> str:
    """``moment`` (UTC) in a ``filename_datetime_format`` (the default when empty)."""
    fmt = fmt or DEFAULT_DATETIME_FORMAT
    return _ELEMENT.sub(lambda m: moment.strftime(_ELEMENTS[m.group()]), fmt)


def refuse_requester_pays(config: types.CloudStorageConfig) -> None:
    """``FailedPrecondition`` if the active Storage fake's bucket has Requester Pays on.

    GCP's documentation lists a bucket without Requester Pays among a Cloud Storage
    subscription's requirements; the wording is ours.
    """
    storage = _storage_backend()
    bucket = storage.buckets.get(config.bucket) if storage is not None else None
    if bucket is not None and bucket.requester_pays:
        raise exceptions.FailedPrecondition(
            f"The Cloud Storage bucket {config.bucket} has Requester Pays enabled; Cloud "
            "Storage subscriptions cannot write to Requester Pays buckets."
        )


# -- batching ----------------------------------------------------------------------------


@dataclass
class _Batch:
    opened: float  # the fakes' clock when its first message came
    messages: list[PublishedMessage] = field(default_factory=list)
    size: int = 0


class CloudStorageExport:
    """The open batch and settings of one Cloud Storage subscription."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.lock = threading.Lock()
        self.batch: _Batch | None = None
        self.written: list[str] = []  # object names, oldest first
        self.state: Any = None  # the state last written into the config (None: not yet)
        self._settled: set[int] = set()
        self.reconfigure()

    def reconfigure(self) -> None:
        """Read the subscription's ``cloud_storage_config`` (the open batch is kept)."""
        config = self.sub.config.cloud_storage_config
        self.state = None  # a new config: its state is to be set
        self.bucket = config.bucket
        self.prefix = config.filename_prefix
        self.suffix = config.filename_suffix
        self.datetime_format = config.filename_datetime_format
        self.avro = "avro_config" in config
        self.write_metadata = self.avro and config.avro_config.write_metadata
        self.use_topic_schema = self.avro and config.avro_config.use_topic_schema
        self.max_duration = (
            config.max_duration.total_seconds() if "max_duration" in config else DEFAULT_DURATION
        )
        self.max_bytes = int(config.max_bytes)
        self.max_messages = int(config.max_messages)

    def pump(self, backend: PubSubBackend, *, flush: bool = False, wait: bool = True) -> list[str]:
        """Write the batches due now (all open ones with ``flush``); take new messages.

        Returns the names of the objects written. Without ``wait``, or in a thread already
        writing batches, it never waits for another thread that is writing them: it leaves
        the work to that one, or to the next look. A Storage read may hold a bucket's lock
        (``wait=False`` there), and a write publishes the bucket's notifications, which may
        come back here.
        """
        nested = getattr(_local, "pumping", False)
        if not self.lock.acquire(blocking=wait and not nested):
            return []
        _local.pumping = True
        try:
            return self._pump(backend, flush)
        finally:
            _local.pumping = nested
            self.lock.release()

    def _pump(self, backend: PubSubBackend, flush: bool) -> list[str]:
        sub = self.sub
        now = backend.clock.time()
        storage = _storage_backend()
        bucket = storage.buckets.get(self.bucket) if storage is not None else None
        state: Any
        if bucket is None:
            state = State.NOT_FOUND
        elif bucket.requester_pays:
            state = State.PERMISSION_DENIED
        else:
            state = State.ACTIVE
        batch = self.batch
        if (
            not flush
            and not sub.ready
            and state == self.state
            and (batch is None or now < batch.opened + self.max_duration)
        ):
            return []  # nothing to write or take, nothing changed: the common look
        # What is waiting now goes into this look's batches; what the writes below cause
        # (a notification of the bucket published to this topic) waits for the next look.
        taken: list[PublishedMessage] = []
        if state == State.ACTIVE and not sub.detached:
            with sub.cond:
                taken = sub.take_backlog()
        written: list[str] = []
        in_hand = (list(batch.messages) if batch is not None else []) + taken
        self._settled = set()  # seqs written or given back by this look
        try:
            if batch is not None and (flush or now >= batch.opened + self.max_duration):
                self.batch = None
                if state != State.ACTIVE or not self._write(backend, storage, batch, written):
                    state = State.NOT_FOUND if state == State.ACTIVE else state
                    self._give_back(batch.messages)
            if state != State.ACTIVE:
                self._give_back(taken)
                taken = []
            for message in taken:
                if not self._add(backend, storage, message, now, written):
                    state = State.NOT_FOUND
            if flush and self.batch is not None:
                batch, self.batch = self.batch, None
                if not self._write(backend, storage, batch, written):
                    state = State.NOT_FOUND
                    self._give_back(batch.messages)
        except BaseException:
            # An unexpected failure (an Avro encoding error): nothing in hand is lost; the
            # error reaches the test at teardown (PubSubBackend.pump_exports).
            self.batch = None
            self._give_back([m for m in in_hand if m.seq not in self._settled])
            raise
        self._set_state(state)
        return written

    def _add(
        self,
        backend: PubSubBackend,
        storage: Any,
        message: PublishedMessage,
        now: float,
        written: list[str],
    ) -> bool:
        """Put ``message`` in the open batch, writing batches that fill up; False if a
        write failed (its messages go back to the backlog)."""
        size = self._size(message)
        batch = self.batch
        ok = True
        if batch is not None and self.max_bytes and batch.size + size > self.max_bytes:
            # A message never splits: it starts the next file (one larger than max_bytes
            # alone makes a file of its own, which GCP allows).
            self.batch = None
            ok = self._write_or_give_back(backend, storage, batch, written)
        if self.batch is None:
            self.batch = _Batch(opened=now)
        batch = self.batch
        batch.messages.append(message)
        batch.size += size
        full = (self.max_messages and len(batch.messages) >= self.max_messages) or (
            self.max_bytes and batch.size >= self.max_bytes
        )
        if full:
            self.batch = None
            ok = self._write_or_give_back(backend, storage, batch, written) and ok
        return ok

    def _write_or_give_back(
        self, backend: PubSubBackend, storage: Any, batch: _Batch, written: list[str]
    ) -> bool:
        if self._write(backend, storage, batch, written):
            return True
        self._give_back(batch.messages)
        return False

    def _size(self, message: PublishedMessage) -> int:
        if not self.avro:
            return len(message.data) + 1  # the data and its newline
        if self.write_metadata:
            return message.size + len(message.message_id) + len(self.sub.name) + 8
        return len(message.data)

    def _write(
        self, backend: PubSubBackend, storage: Any, batch: _Batch, written: list[str]
    ) -> bool:
        """Write one batch as an object; acknowledge its messages. False if the bucket is
        gone (the caller returns the messages to the backlog)."""
        from pytest_gcpfakes.storage._errors import GCSError

        opened = datetime.fromtimestamp(batch.opened, tz=timezone.utc)
        name = (
            f"{self.prefix}{render_datetime(self.datetime_format, opened)}_"
            f"{uuid.uuid4().hex}{self.suffix}"
        )
        payload = (
            self._avro_payload(backend, batch.messages)
            if self.avro
            else b"".join(m.data + b"\n" for m in batch.messages)
        )
        try:
            storage.insert_object(self.bucket, name, payload, writer_thread=WRITER_THREAD)
        except GCSError:
            return False
        sub = self.sub
        with sub.cond:
            sub.acked.extend(batch.messages)
            sub.cond.notify_all()
        self._settled.update(m.seq for m in batch.messages)
        written.append(name)
        self.written.append(name)
        return True

    def _give_back(self, messages: list[PublishedMessage]) -> None:
        """Return unwritten messages to the backlog, in publish order."""
        self._settled.update(m.seq for m in messages)
        sub = self.sub
        with sub.cond:
            if sub.deleted:
                return
            sub.give_back(messages)
            sub.cond.notify_all()

    def _set_state(self, state: Any) -> None:
        if state == self.state:
            return  # proto-plus fields cost microseconds to read: skip the config
        self.state = state
        sub = self.sub
        with sub.cond:
            config = sub.config
            if "cloud_storage_config" not in config:
                return
            if config.cloud_storage_config.state != state:
                config.cloud_storage_config.state = state
            wanted: Any = (
                types.Subscription.State.ACTIVE
                if state == State.ACTIVE
                else types.Subscription.State.RESOURCE_ERROR
            )
            if config.state != wanted:
                config.state = wanted

    def _avro_payload(self, backend: PubSubBackend, messages: list[PublishedMessage]) -> bytes:
        topic_schema = self._topic_schema(backend, messages) if self.use_topic_schema else None
        return encode_avro(
            self.sub.name, messages, write_metadata=self.write_metadata, topic_schema=topic_schema
        )

    @staticmethod
    def _topic_schema(backend: PubSubBackend, messages: list[PublishedMessage]) -> str | None:
        """The Avro definition the batch's messages were validated against, or ``None``
        (no schema, a Protocol Buffer one, or messages published without one)."""
        first = messages[0].attributes
        name = first.get("googclient_schemaname")
        revision = first.get("googclient_schemarevisionid")
        if not name or not revision:
            return None
        if any(m.attributes.get("googclient_schemarevisionid") != revision for m in messages[1:]):
            return None
        try:
            _, found = backend.schemas._revision(f"{name}@{revision}")
        except exceptions.GoogleAPICallError:
            return None
        if found.type_ != types.Schema.Type.AVRO:
            return None
        definition: str = found.definition
        return definition


def encode_avro(
    subscription: str,
    messages: list[PublishedMessage],
    *,
    write_metadata: bool,
    topic_schema: str | None,
) -> bytes:
    """One Avro object container file of ``messages``, as a Cloud Storage subscription
    writes it: the data as bytes, or, with ``topic_schema`` (``use_topic_schema``), each
    message decoded into a record of the topic's schema; with ``write_metadata``, the
    subscription name, message id, publish time and attributes (the ordering key among
    them) as fields too. The one place that imports fastavro (through ``schemas_extra``,
    the ``[schemas]`` extra's gate; ``check_config`` refused an Avro config without it)."""
    import io

    from pytest_gcpfakes.pubsub._schemas import schemas_extra

    fastavro = schemas_extra("fastavro")

    fields: list[dict[str, Any]] = list(_METADATA_FIELDS) if write_metadata else []
    records: list[dict[str, Any]] = []
    if topic_schema is not None:
        schema = json.loads(topic_schema)
        parsed = fastavro.parse_schema(schema)
        values: list[Any] = []
        for m in messages:
            if m.attributes.get("googclient_schemaencoding") == "BINARY":
                values.append(fastavro.schemaless_reader(io.BytesIO(m.data), parsed, None))
            else:
                values.append(
                    next(iter(fastavro.json_reader(io.StringIO(m.data.decode()), schema)))
                )
        schema = {**schema, "fields": [*schema["fields"], *fields]}
    else:
        schema = {"type": "record", "name": "PubsubMessage", "fields": [*fields, _DATA_FIELD]}
        values = [{"data": m.data} for m in messages]
    for m, value in zip(messages, values, strict=True):
        record = dict(value)
        if write_metadata:
            attributes = dict(m.attributes)
            if m.ordering_key:
                attributes["ordering_key"] = m.ordering_key
            record.update(
                subscription_name=subscription,
                message_id=m.message_id,
                publish_time=m.publish_time,
                attributes=attributes,
            )
        records.append(record)
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), records)
    return out.getvalue()


# -- where the Storage fake is -----------------------------------------------------------


def _storage_backend() -> Any:
    """The active Storage fake's backend in this process, or ``None``."""
    handle = _registry.peek("storage")
    if handle is None or handle.pid != os.getpid():
        return None
    return getattr(handle, "backend", None)


def install_read_hook() -> None:
    """Make every bucket lookup of the Storage fake write the batches due by then."""
    global _hook_installed
    with _hook_lock:
        if _hook_installed:
            return
        from pytest_gcpfakes.storage._backend import BUCKET_READ_HOOKS

        BUCKET_READ_HOOKS.append(_before_bucket_read)
        _hook_installed = True


def _before_bucket_read(storage: Any, bucket: str) -> None:
    if getattr(_local, "pumping", False) or storage is not _storage_backend():
        return
    handle = _registry.peek("pubsub")
    if handle is None or handle.pid != os.getpid():
        return
    backend: Any = getattr(handle, "backend", None)
    if backend is not None and getattr(backend, "exports", None):
        # The reader may hold the bucket's lock, which a writing thread may be waiting for.
        backend.pump_exports(bucket=bucket, wait=False)
