"""The Pub/Sub Schema service through the real SchemaServiceClient, and schema validation."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import fastavro
import pytest
from freezegun import freeze_time
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.protobuf import descriptor_pb2
from google.pubsub_v1 import SchemaServiceClient, types

from pytest_gcpfakes.pubsub import _schemas

AVRO = types.Schema.Type.AVRO
PROTOCOL_BUFFER = types.Schema.Type.PROTOCOL_BUFFER
JSON = types.Encoding.JSON
BINARY = types.Encoding.BINARY
BASIC = types.SchemaView.BASIC
FULL = types.SchemaView.FULL

STATE_AVRO = {
    "type": "record",
    "name": "State",
    "namespace": "utilities",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "post_abbr", "type": "string"},
    ],
}
# A compatible next revision: one more field, with a default.
STATE_AVRO_V2 = {
    **STATE_AVRO,
    "fields": [*STATE_AVRO["fields"], {"name": "population", "type": "long", "default": 0}],
}
ALASKA = {"name": "Alaska", "post_abbr": "AK"}
STATE_PROTO = """\
syntax = "proto3";
package utilities;
message State {
  string name = 1;
  string post_abbr = 2;
}
"""
FAILED = "Invalid data in message: Message failed schema validation."


def avro_binary(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def client(fake_pubsub: Any) -> SchemaServiceClient:
    return SchemaServiceClient()


@pytest.fixture
def project(fake_pubsub: Any) -> str:
    return f"projects/{fake_pubsub.project}"


@pytest.fixture
def registry(fake_pubsub: Any) -> Any:
    return fake_pubsub.backend.schemas


def create(
    client: SchemaServiceClient,
    project: str,
    schema_id: str,
    definition: Any = STATE_AVRO,
    type_: types.Schema.Type = AVRO,
) -> types.Schema:
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    return client.create_schema(
        parent=project,
        schema_id=schema_id,
        schema=types.Schema(type_=type_, definition=definition),
    )


def commit(client: SchemaServiceClient, name: str, definition: Any) -> types.Schema:
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    return client.commit_schema(name=name, schema=types.Schema(type_=AVRO, definition=definition))


def validate(client: SchemaServiceClient, project: str, message: bytes, **spec: Any) -> Any:
    return client.validate_message(request={"parent": project, "message": message, **spec})


# -- create, get, list, delete -------------------------------------------------------------


def test_created_schema_has_its_name_type_definition_and_a_revision(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    assert created.name == f"{project}/schemas/states"
    assert created.type_ == AVRO
    assert json.loads(created.definition) == STATE_AVRO
    assert re.fullmatch(r"[0-9a-f]{8}", created.revision_id)


def test_revision_create_time_follows_frozen_time(
    client: SchemaServiceClient, project: str
) -> None:
    with freeze_time("2030-01-02 03:04:05"):
        created = create(client, project, "states")
    assert created.revision_create_time == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_creating_an_existing_schema_is_already_exists(
    client: SchemaServiceClient, project: str
) -> None:
    create(client, project, "states")
    with pytest.raises(
        exceptions.AlreadyExists,
        match=re.escape("Resource already exists in the project (resource=states)."),
    ):
        create(client, project, "states")


def test_schema_without_an_id_is_an_invalid_resource_name(
    client: SchemaServiceClient, project: str
) -> None:
    with pytest.raises(
        exceptions.InvalidArgument,
        match=re.escape(f"Invalid resource name given (name={project}/schemas/)."),
    ):
        create(client, project, "")


def test_schema_type_must_be_given(client: SchemaServiceClient, project: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=r"^400 Invalid schema type$"):
        client.create_schema(
            parent=project,
            schema_id="states",
            schema=types.Schema(definition=json.dumps(STATE_AVRO)),
        )


@pytest.mark.parametrize(
    "definition",
    [
        "{not json",
        "",
        "42",
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}',
        '{"type": "record", "name": "X"}',
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "int"},'
        ' {"name": "a", "type": "int"}]}',
        '{"type": "record", "name": "1X", "fields": []}',
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "string",'
        ' "default": null}]}',
        '["int", "int"]',
    ],
    ids=[
        "not-json",
        "empty",
        "number",
        "unknown-type",
        "no-fields",
        "duplicate-field",
        "bad-name",
        "bad-default",
        "duplicate-union-branch",
    ],
)
def test_avro_definition_that_does_not_parse_is_invalid_argument(
    client: SchemaServiceClient, project: str, definition: str
) -> None:
    with pytest.raises(
        exceptions.InvalidArgument, match=r"^400 Could not parse schema definition$"
    ):
        create(client, project, "states", definition)


def test_definition_over_300_kb_is_invalid_argument(
    client: SchemaServiceClient, project: str
) -> None:
    definition = json.dumps({**STATE_AVRO, "doc": "x" * 300 * 1024})
    with pytest.raises(
        exceptions.InvalidArgument,
        match=r"The value for definition_size is too large\. You passed \d+ in the request,"
        r" but the maximum value is 307200\.",
    ):
        create(client, project, "states", definition)


def test_get_returns_the_definition_by_default(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states")
    fetched = client.get_schema(name=created.name)
    assert fetched == created


def test_get_with_basic_view_omits_only_the_definition(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    fetched = client.get_schema(request={"name": created.name, "view": BASIC})
    assert fetched.definition == ""
    assert (fetched.name, fetched.type_, fetched.revision_id) == (
        created.name,
        AVRO,
        created.revision_id,
    )


def test_getting_a_missing_schema_is_not_found(client: SchemaServiceClient, project: str) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        client.get_schema(name=f"{project}/schemas/nope")


def test_get_with_a_revision_suffix_returns_that_revision(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    commit(client, first.name, STATE_AVRO_V2)
    fetched = client.get_schema(name=f"{first.name}@{first.revision_id}")
    assert fetched.revision_id == first.revision_id
    assert json.loads(fetched.definition) == STATE_AVRO


def test_get_with_an_unknown_revision_is_not_found(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(
        exceptions.NotFound, match=re.escape("Resource not found (resource=states@deadbeef).")
    ):
        client.get_schema(name=f"{created.name}@deadbeef")


def test_list_schemas_omits_definitions_by_default(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    (listed,) = client.list_schemas(parent=project)
    assert (listed.name, listed.type_, listed.definition) == (created.name, AVRO, "")


def test_list_schemas_with_full_view_includes_definitions(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    (listed,) = client.list_schemas(request={"parent": project, "view": FULL})
    assert listed == created


def test_list_schemas_shows_each_schema_s_latest_revision(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    latest = commit(client, created.name, STATE_AVRO_V2)
    (listed,) = client.list_schemas(parent=project)
    assert listed.revision_id == latest.revision_id


def test_list_schemas_pages_through_every_schema_in_name_order(
    client: SchemaServiceClient, project: str
) -> None:
    for schema_id in ("eee", "bbb", "aaa", "ddd", "ccc"):
        create(client, project, schema_id)
    pages = list(client.list_schemas(request={"parent": project, "page_size": 2}).pages)
    assert [[s.name.rsplit("/", 1)[1] for s in page.schemas] for page in pages] == [
        ["aaa", "bbb"],
        ["ccc", "ddd"],
        ["eee"],
    ]


def test_list_schemas_shows_only_the_given_project(
    client: SchemaServiceClient, project: str
) -> None:
    create(client, project, "states")
    create(client, "projects/other-project", "states")
    assert [s.name for s in client.list_schemas(parent=project)] == [f"{project}/schemas/states"]


def test_deleted_schema_is_not_found_afterwards(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states")
    client.delete_schema(name=created.name)
    with pytest.raises(exceptions.NotFound):
        client.get_schema(name=created.name)
    assert list(client.list_schemas(parent=project)) == []


def test_deleting_a_missing_schema_is_not_found(client: SchemaServiceClient, project: str) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        client.delete_schema(name=f"{project}/schemas/nope")


def test_deleting_a_schema_tells_the_listeners(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    deleted: list[str] = []
    registry.on_schema_deleted(deleted.append)
    created = create(client, project, "states")
    client.delete_schema(name=created.name)
    assert deleted == [created.name]


# -- revisions -------------------------------------------------------------------------------


def test_committed_revision_becomes_the_latest(client: SchemaServiceClient, project: str) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    assert second.name == first.name
    assert second.revision_id != first.revision_id
    assert client.get_schema(name=first.name) == second


def test_commit_to_a_missing_schema_is_not_found(client: SchemaServiceClient, project: str) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        commit(client, f"{project}/schemas/nope", STATE_AVRO)


def test_commit_with_a_bad_definition_adds_no_revision(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(
        exceptions.InvalidArgument, match=r"^400 Could not parse schema definition$"
    ):
        commit(client, created.name, "{")
    assert len(list(client.list_schema_revisions(name=created.name))) == 1


def test_commit_to_a_revision_name_is_an_invalid_resource_name(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    name = f"{created.name}@{created.revision_id}"
    with pytest.raises(
        exceptions.InvalidArgument, match=re.escape(f"Invalid resource name given (name={name}).")
    ):
        commit(client, name, STATE_AVRO)


def test_a_schema_holds_at_most_20_revisions(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states")
    for _ in range(19):
        commit(client, created.name, STATE_AVRO)
    with pytest.raises(
        exceptions.ResourceExhausted, match=r"^429 Already at maximum number of schema revisions$"
    ):
        commit(client, created.name, STATE_AVRO)
    with pytest.raises(exceptions.ResourceExhausted):
        client.rollback_schema(name=created.name, revision_id=created.revision_id)


def test_revisions_are_listed_newest_first_without_definitions(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    listed = list(client.list_schema_revisions(name=first.name))
    assert [r.revision_id for r in listed] == [second.revision_id, first.revision_id]
    assert {r.definition for r in listed} == {""}


def test_revisions_full_view_includes_definitions(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    listed = list(client.list_schema_revisions(request={"name": first.name, "view": FULL}))
    assert listed == [second, first]


def test_revisions_are_listed_in_pages(client: SchemaServiceClient, project: str) -> None:
    first = create(client, project, "states")
    later = [commit(client, first.name, STATE_AVRO).revision_id for _ in range(4)]
    request = {"name": first.name, "page_size": 2}
    pages = list(client.list_schema_revisions(request=request).pages)
    assert [[r.revision_id for r in page.schemas] for page in pages] == [
        [later[3], later[2]],
        [later[1], later[0]],
        [first.revision_id],
    ]


def test_listing_revisions_of_a_missing_schema_is_not_found(
    client: SchemaServiceClient, project: str
) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        list(client.list_schema_revisions(name=f"{project}/schemas/nope"))


def test_rollback_adds_a_revision_with_the_old_definition(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    rolled = client.rollback_schema(name=first.name, revision_id=first.revision_id)
    assert rolled.revision_id not in (first.revision_id, second.revision_id)
    assert rolled.definition == first.definition
    assert client.get_schema(name=first.name) == rolled
    assert len(list(client.list_schema_revisions(name=first.name))) == 3


def test_rollback_to_an_unknown_revision_is_not_found(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(
        exceptions.NotFound, match=re.escape("Resource not found (resource=states@deadbeef).")
    ):
        client.rollback_schema(name=created.name, revision_id="deadbeef")


def test_rollback_without_a_revision_id_is_invalid_argument(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument, match=r"^400 Missing revision ID$"):
        client.rollback_schema(name=created.name, revision_id="")


def test_deleting_a_revision_returns_it_and_removes_it(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    deleted = client.delete_schema_revision(name=f"{first.name}@{second.revision_id}")
    assert deleted == second
    assert [r.revision_id for r in client.list_schema_revisions(name=first.name)] == [
        first.revision_id
    ]
    assert client.get_schema(name=first.name) == first
    with pytest.raises(exceptions.NotFound):
        client.get_schema(name=f"{first.name}@{second.revision_id}")


def test_deleting_the_only_revision_is_invalid_argument(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(
        exceptions.InvalidArgument,
        match=r"^400 Cannot delete last revision\. Please use DeleteSchema\.$",
    ):
        client.delete_schema_revision(name=f"{created.name}@{created.revision_id}")


def test_deleting_a_revision_needs_the_revision_in_the_name(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    commit(client, created.name, STATE_AVRO_V2)
    with pytest.raises(
        exceptions.NotFound, match=re.escape("Resource not found (resource=states).")
    ):
        client.delete_schema_revision(
            request={"name": created.name, "revision_id": created.revision_id}
        )


def test_deleting_an_already_deleted_revision_is_not_found(
    client: SchemaServiceClient, project: str
) -> None:
    first = create(client, project, "states")
    commit(client, first.name, STATE_AVRO_V2)
    name = f"{first.name}@{first.revision_id}"
    client.delete_schema_revision(name=name)
    with pytest.raises(
        exceptions.NotFound,
        match=re.escape(f"Resource not found (resource=states@{first.revision_id})."),
    ):
        client.delete_schema_revision(name=name)


# -- ValidateSchema --------------------------------------------------------------------------


def test_validate_schema_accepts_a_good_avro_definition(
    client: SchemaServiceClient, project: str
) -> None:
    schema = types.Schema(type_=AVRO, definition=json.dumps(STATE_AVRO))
    assert client.validate_schema(parent=project, schema=schema) == types.ValidateSchemaResponse()


def test_validate_schema_rejects_a_bad_definition(
    client: SchemaServiceClient, project: str
) -> None:
    schema = types.Schema(type_=AVRO, definition='{"type": "nope"}')
    with pytest.raises(
        exceptions.InvalidArgument, match=r"^400 Could not parse schema definition$"
    ):
        client.validate_schema(parent=project, schema=schema)


def test_validate_schema_creates_nothing(client: SchemaServiceClient, project: str) -> None:
    schema = types.Schema(type_=AVRO, definition=json.dumps(STATE_AVRO))
    client.validate_schema(parent=project, schema=schema)
    assert list(client.list_schemas(parent=project)) == []


# -- ValidateMessage, Avro -------------------------------------------------------------------


def test_validate_message_accepts_conforming_avro_json(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    response = validate(client, project, json_bytes(ALASKA), name=created.name, encoding=JSON)
    assert response == types.ValidateMessageResponse()


def test_avro_json_may_carry_fields_the_schema_lacks(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    message = json_bytes({**ALASKA, "capital": "Juneau"})
    validate(client, project, message, name=created.name, encoding=JSON)


def test_avro_json_missing_a_field_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument) as caught:
        validate(client, project, json_bytes({"name": "Alaska"}), name=created.name, encoding=JSON)
    assert caught.value.message == FAILED
    assert caught.value.reason == "INVALID_JSON_AVRO_MESSAGE"
    assert caught.value.domain == "pubsub.googleapis.com"


def test_avro_json_with_a_wrongly_typed_field_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    message = json_bytes({"name": 42, "post_abbr": "AK"})
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, message, name=created.name, encoding=JSON)


def test_avro_json_that_is_not_json_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, b"Alaska", name=created.name, encoding=JSON)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"string": "Juneau"}, True),
        (None, True),
        ("Juneau", False),
        ({"int": 5}, False),
    ],
    ids=["wrapped", "null", "unwrapped", "wrong-branch"],
)
def test_avro_json_union_values_are_null_or_wrapped_in_their_type_name(
    client: SchemaServiceClient, project: str, value: Any, ok: bool
) -> None:
    definition = {
        "type": "record",
        "name": "City",
        "fields": [{"name": "capital", "type": ["null", "string"], "default": None}],
    }
    schema = types.Schema(type_=AVRO, definition=json.dumps(definition))
    message = json_bytes({"capital": value})
    if ok:
        validate(client, project, message, schema=schema, encoding=JSON)
    else:
        with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
            validate(client, project, message, schema=schema, encoding=JSON)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(5, True), (2**63, False), (1.5, False), ("5", False), (True, False)],
    ids=["integer", "too-big", "fraction", "string", "boolean"],
)
def test_avro_json_long_takes_only_64_bit_integers(
    client: SchemaServiceClient, project: str, value: Any, ok: bool
) -> None:
    definition = {"type": "record", "name": "P", "fields": [{"name": "n", "type": "long"}]}
    schema = types.Schema(type_=AVRO, definition=json.dumps(definition))
    message = json_bytes({"n": value})
    if ok:
        validate(client, project, message, schema=schema, encoding=JSON)
    else:
        with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
            validate(client, project, message, schema=schema, encoding=JSON)


def test_avro_json_checks_enums_arrays_maps_and_logical_types(
    client: SchemaServiceClient, project: str
) -> None:
    definition = {
        "type": "record",
        "name": "Event",
        "fields": [
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "counts", "type": {"type": "map", "values": "int"}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    schema = types.Schema(type_=AVRO, definition=json.dumps(definition))
    good = {"kind": "A", "tags": ["x"], "counts": {"x": 1}, "at": 10**15}
    validate(client, project, json_bytes(good), schema=schema, encoding=JSON)
    for bad in ({"kind": "C"}, {"tags": [1]}, {"counts": {"x": "1"}}, {"at": "now"}):
        with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
            validate(client, project, json_bytes({**good, **bad}), schema=schema, encoding=JSON)


def test_validate_message_accepts_conforming_avro_binary(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    message = avro_binary(STATE_AVRO, ALASKA)
    validate(client, project, message, name=created.name, encoding=BINARY)


def test_avro_binary_with_trailing_bytes_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    message = avro_binary(STATE_AVRO, ALASKA) + b"\x00"
    with pytest.raises(exceptions.InvalidArgument) as caught:
        validate(client, project, message, name=created.name, encoding=BINARY)
    assert caught.value.message == FAILED
    assert caught.value.reason == "INVALID_BINARY_AVRO_MESSAGE"


def test_truncated_avro_binary_fails_validation(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states")
    message = avro_binary(STATE_AVRO, ALASKA)[:-1]
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, message, name=created.name, encoding=BINARY)


def test_validate_message_by_name_uses_the_latest_revision(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    commit(client, created.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, json_bytes(ALASKA), name=created.name, encoding=JSON)


def test_validate_message_by_revision_name_uses_that_revision(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states")
    commit(client, created.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    name = f"{created.name}@{created.revision_id}"
    validate(client, project, json_bytes(ALASKA), name=name, encoding=JSON)


def test_validate_message_against_a_missing_schema_is_not_found(
    client: SchemaServiceClient, project: str
) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        validate(client, project, b"{}", name=f"{project}/schemas/nope", encoding=JSON)


def test_validate_message_needs_an_encoding(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument, match=r"^400 No encoding provided\.$"):
        validate(client, project, json_bytes(ALASKA), name=created.name)


def test_validate_message_with_a_bad_inline_schema_is_invalid_argument(
    client: SchemaServiceClient, project: str
) -> None:
    schema = types.Schema(type_=AVRO, definition="{")
    with pytest.raises(
        exceptions.InvalidArgument, match=r"^400 Could not parse schema definition$"
    ):
        validate(client, project, b"{}", schema=schema, encoding=JSON)


def test_validate_message_without_a_schema_is_invalid_argument(
    client: SchemaServiceClient, project: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=r"^400 Invalid schema type$"):
        validate(client, project, b"{}", encoding=JSON)


# -- Protocol Buffer schemas -----------------------------------------------------------------


def test_protobuf_schema_is_created(client: SchemaServiceClient, project: str) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    assert (created.type_, created.definition) == (PROTOCOL_BUFFER, STATE_PROTO)


@pytest.mark.parametrize(
    "definition",
    [
        "message {",
        'syntax = "proto3"; message A { int32 a = 1; } message B { int32 b = 1; }',
        'syntax = "proto3"; enum E { X = 0; } message A { E e = 1; }',
        'syntax = "proto3"; import "google/protobuf/timestamp.proto";'
        " message A { google.protobuf.Timestamp t = 1; }",
        "",
    ],
    ids=["syntax-error", "two-messages", "top-level-enum", "import", "empty"],
)
def test_protobuf_definition_must_compile_to_one_top_level_message(
    client: SchemaServiceClient, project: str, definition: str
) -> None:
    with pytest.raises(
        exceptions.InvalidArgument, match=r"^400 Could not parse schema definition$"
    ):
        create(client, project, "states", definition, PROTOCOL_BUFFER)


def test_protobuf_schema_may_nest_types_inside_its_message(
    client: SchemaServiceClient, project: str
) -> None:
    definition = """\
syntax = "proto2";
message Order {
  enum Status { NEW = 0; PAID = 1; }
  message Line { required string sku = 1; optional int32 quantity = 2; }
  required Status status = 1;
  repeated Line lines = 2;
}
"""
    create(client, project, "orders", definition, PROTOCOL_BUFFER)


def proto_state(**fields: str) -> bytes:
    """Encode a utilities.State by hand (field 1 name, field 2 post_abbr)."""
    out = b""
    for number, key in ((1, "name"), (2, "post_abbr")):
        if key in fields:
            value = fields[key].encode()
            out += bytes([number << 3 | 2, len(value)]) + value
    return out


def test_validate_message_accepts_conforming_protobuf_binary(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    message = proto_state(name="Alaska", post_abbr="AK")
    validate(client, project, message, name=created.name, encoding=BINARY)


def test_protobuf_binary_with_a_field_the_schema_lacks_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    message = proto_state(name="Alaska") + b"\x18\x01"  # field 3, varint 1
    with pytest.raises(exceptions.InvalidArgument) as caught:
        validate(client, project, message, name=created.name, encoding=BINARY)
    assert caught.value.message == FAILED
    assert caught.value.reason == "INVALID_BINARY_PROTO_MESSAGE"


def test_malformed_protobuf_binary_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, b"\x08\xff", name=created.name, encoding=BINARY)


def test_validate_message_accepts_conforming_protobuf_json(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    message = json_bytes({"name": "Alaska", "postAbbr": "AK"})
    validate(client, project, message, name=created.name, encoding=JSON)


def test_protobuf_json_with_an_unknown_field_fails_validation(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    with pytest.raises(exceptions.InvalidArgument) as caught:
        validate(
            client, project, json_bytes({"capital": "Juneau"}), name=created.name, encoding=JSON
        )
    assert caught.value.reason == "INVALID_JSON_PROTO_MESSAGE"


def test_protobuf_revision_that_retypes_a_field_is_rejected(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    retyped = STATE_PROTO.replace("string post_abbr = 2", "int64 post_abbr = 2")
    with pytest.raises(exceptions.InvalidArgument) as caught:
        client.commit_schema(
            name=created.name, schema=types.Schema(type_=PROTOCOL_BUFFER, definition=retyped)
        )
    assert caught.value.message == (
        "Compatibility checking failed to commit a schema revision. Revision is incompatible"
        f" with previous revision: {created.revision_id}. post_abbr of type int64 is not"
        " compatible with post_abbr of type string"
    )


def test_protobuf_revision_that_adds_a_field_is_committed(
    client: SchemaServiceClient, project: str
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    added = STATE_PROTO.replace("}", "  int64 population = 3;\n}")
    second = client.commit_schema(
        name=created.name, schema=types.Schema(type_=PROTOCOL_BUFFER, definition=added)
    )
    assert second.definition == added


@pytest.mark.since("google-cloud-pubsub", "2.40.0", "Schema.compiled_proto_schema")
def test_precompiled_protobuf_schema_validates_messages(
    client: SchemaServiceClient, project: str
) -> None:
    file = descriptor_pb2.FileDescriptorProto(name="state.proto", package="utilities")
    file.syntax = "proto3"
    message_type = file.message_type.add(name="State")
    message_type.field.add(name="name", number=1, type=9, label=1, json_name="name")
    compiled = descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString()
    schema = types.Schema(
        type_=PROTOCOL_BUFFER,
        compiled_proto_schema=types.CompiledProtoSchema(
            root_message="utilities.State", compiled_bytes=compiled
        ),
    )
    validate(client, project, proto_state(name="Alaska"), schema=schema, encoding=BINARY)
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        validate(client, project, proto_state(post_abbr="AK"), schema=schema, encoding=BINARY)


# -- messages published to topics with schemas -----------------------------------------------


def settings(schema: str, encoding: types.Encoding = JSON, **revisions: str) -> Any:
    return types.SchemaSettings(schema=schema, encoding=encoding, **revisions)


def test_conforming_message_gets_the_schema_attributes(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    attributes = registry.validated_attributes(settings(created.name), json_bytes(ALASKA))
    assert attributes == {
        "googclient_schemaname": created.name,
        "googclient_schemarevisionid": created.revision_id,
        "googclient_schemaencoding": "JSON",
    }


def test_check_message_rejects_a_non_conforming_json_message_with_gcp_s_error(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument) as caught:
        registry.check_message(settings(created.name), json_bytes({"name": 1, "post_abbr": "AK"}))
    assert caught.value.message == FAILED
    assert caught.value.reason == "INVALID_JSON_AVRO_MESSAGE"
    assert dict(caught.value.metadata) == {
        "message": "Message failed schema validation",
        "revisionInfo": "Could not validate message with any schema revision for schema:"
        f" {created.name}, last checked revision: revision_id={created.revision_id} failed"
        " with status: JSON object with type number_integer does not match schema which"
        " expected string",
    }


def test_check_message_rejects_a_non_conforming_binary_message(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    data = avro_binary(STATE_AVRO, ALASKA) + b"\x00"
    with pytest.raises(exceptions.InvalidArgument) as caught:
        registry.check_message(settings(created.name, BINARY), data)
    assert caught.value.reason == "INVALID_BINARY_AVRO_MESSAGE"
    assert caught.value.metadata["revisionInfo"].endswith(
        "failed with status: Too much data to parse for schema."
    )


def test_message_conforming_to_any_revision_is_accepted(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    old = registry.validated_attributes(settings(first.name), json_bytes(ALASKA))
    new = registry.validated_attributes(settings(first.name), json_bytes({"code": 1}))
    assert old["googclient_schemarevisionid"] == first.revision_id
    assert new["googclient_schemarevisionid"] == second.revision_id


def test_first_revision_id_excludes_older_revisions(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    topic = settings(first.name, first_revision_id=second.revision_id)
    registry.check_message(topic, json_bytes({"code": 1}))
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        registry.check_message(topic, json_bytes(ALASKA))


def test_last_revision_id_excludes_newer_revisions(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    commit(client, first.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    topic = settings(first.name, last_revision_id=first.revision_id)
    registry.check_message(topic, json_bytes(ALASKA))
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        registry.check_message(topic, json_bytes({"code": 1}))


def test_deleted_first_revision_moves_the_range_to_the_next_revision(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    third = commit(client, first.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    topic = settings(first.name, first_revision_id=second.revision_id)
    client.delete_schema_revision(name=f"{first.name}@{second.revision_id}")
    attributes = registry.validated_attributes(topic, json_bytes({"code": 1}))
    assert attributes["googclient_schemarevisionid"] == third.revision_id
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        registry.check_message(topic, json_bytes(ALASKA))


def test_deleted_last_revision_moves_the_range_to_the_previous_revision(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    commit(client, first.name, {**STATE_AVRO, "fields": [{"name": "code", "type": "int"}]})
    topic = settings(first.name, last_revision_id=second.revision_id)
    client.delete_schema_revision(name=f"{first.name}@{second.revision_id}")
    attributes = registry.validated_attributes(topic, json_bytes(ALASKA))
    assert attributes["googclient_schemarevisionid"] == first.revision_id
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        registry.check_message(topic, json_bytes({"code": 1}))


def test_publishing_against_a_deleted_schema_is_not_found(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    client.delete_schema(name=created.name)
    for name in (created.name, _schemas.DELETED_SCHEMA):
        with pytest.raises(
            exceptions.NotFound, match=r"^404 Schema associated with topic deleted\.$"
        ):
            registry.check_message(settings(name), json_bytes(ALASKA))


def test_check_message_validates_protobuf_topics(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states", STATE_PROTO, PROTOCOL_BUFFER)
    topic = settings(created.name, BINARY)
    registry.check_message(topic, proto_state(name="Alaska"))
    with pytest.raises(exceptions.InvalidArgument) as caught:
        registry.check_message(topic, b"\x08\xff")
    assert caught.value.reason == "INVALID_BINARY_PROTO_MESSAGE"


@pytest.fixture
def publisher(fake_pubsub: Any) -> Iterator[Any]:
    client = pubsub_v1.PublisherClient()
    yield client
    client.stop()


def test_publish_to_a_topic_with_a_schema_rejects_a_non_conforming_message(
    client: SchemaServiceClient, project: str, fake_pubsub: Any, publisher: Any
) -> None:
    created = create(client, project, "states")
    topic = fake_pubsub.create_topic(
        "states", schema_settings=types.SchemaSettings(schema=created.name, encoding=JSON)
    )
    publisher.publish(topic, json_bytes(ALASKA)).result(timeout=30)
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(FAILED)):
        publisher.publish(topic, b'{"name": "Alaska"}').result(timeout=30)


# -- topic schema settings -------------------------------------------------------------------


def test_topic_schema_settings_must_name_an_existing_schema(project: str, registry: Any) -> None:
    with pytest.raises(exceptions.NotFound, match=re.escape("Resource not found (resource=nope).")):
        registry.check_topic_schema_settings(settings(f"{project}/schemas/nope"))


def test_topic_schema_settings_need_an_encoding(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.InvalidArgument, match=r"^400 Invalid schema encoding provided$"):
        registry.check_topic_schema_settings(types.SchemaSettings(schema=created.name))


def test_topic_schema_settings_revisions_must_exist(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    created = create(client, project, "states")
    with pytest.raises(exceptions.NotFound, match=r"^404 First revision could not be found$"):
        registry.check_topic_schema_settings(settings(created.name, first_revision_id="deadbeef"))
    with pytest.raises(exceptions.NotFound, match=r"^404 Last revision could not be found$"):
        registry.check_topic_schema_settings(settings(created.name, last_revision_id="deadbeef"))


def test_topic_schema_settings_first_revision_must_not_follow_the_last(
    client: SchemaServiceClient, project: str, registry: Any
) -> None:
    first = create(client, project, "states")
    second = commit(client, first.name, STATE_AVRO_V2)
    registry.check_topic_schema_settings(
        settings(
            first.name, first_revision_id=first.revision_id, last_revision_id=second.revision_id
        )
    )
    with pytest.raises(
        exceptions.InvalidArgument,
        match=r"^400 First revision creation time is after last revision creation time$",
    ):
        registry.check_topic_schema_settings(
            settings(
                first.name, first_revision_id=second.revision_id, last_revision_id=first.revision_id
            )
        )


# -- topics with a schema, through the real publisher ------------------------------------------

_AVRO_DEFINITION = '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]}'


def _topic_with_schema(fake_pubsub: Any, encoding: str = "JSON") -> str:
    from google.pubsub_v1 import SchemaServiceClient

    schema_name = f"projects/{fake_pubsub.project}/schemas/order-schema"
    SchemaServiceClient().create_schema(
        request={
            "parent": f"projects/{fake_pubsub.project}",
            "schema_id": "order-schema",
            "schema": {"type_": "AVRO", "definition": _AVRO_DEFINITION},
        }
    )
    return fake_pubsub.create_topic(
        "orders", schema_settings={"schema": schema_name, "encoding": encoding}
    )


def test_topic_with_schema_accepts_a_conforming_message_and_names_the_schema(
    fake_pubsub: Any,
) -> None:
    from google.cloud import pubsub_v1

    topic = _topic_with_schema(fake_pubsub)
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(topic, b'{"id": 7}').result(30)
    (message,) = fake_pubsub.published("orders")
    assert message.attributes["googclient_schemaname"].endswith("/schemas/order-schema")
    assert message.attributes["googclient_schemaencoding"] == "JSON"
    publisher.stop()


def test_topic_with_schema_rejects_a_non_conforming_message(fake_pubsub: Any) -> None:
    from google.cloud import pubsub_v1

    topic = _topic_with_schema(fake_pubsub)
    publisher = pubsub_v1.PublisherClient()
    with pytest.raises(exceptions.InvalidArgument, match="Message failed schema validation"):
        publisher.publish(topic, b'{"id": "not a number"}').result(30)
    assert fake_pubsub.published("orders") == []
    publisher.stop()


def test_topic_whose_schema_was_deleted_refuses_publishes(fake_pubsub: Any) -> None:
    from google.cloud import pubsub_v1
    from google.pubsub_v1 import SchemaServiceClient

    topic = _topic_with_schema(fake_pubsub)
    SchemaServiceClient().delete_schema(name=f"projects/{fake_pubsub.project}/schemas/order-schema")
    assert pubsub_v1.PublisherClient().get_topic(topic=topic).schema_settings.schema == (
        "_deleted-schema_"
    )
    with pytest.raises(exceptions.NotFound):
        pubsub_v1.PublisherClient().publish(topic, b'{"id": 1}').result(30)


def test_topic_with_a_missing_schema_cannot_be_created(fake_pubsub: Any) -> None:
    from google.cloud import pubsub_v1

    with pytest.raises(exceptions.GoogleAPICallError):
        pubsub_v1.PublisherClient().create_topic(
            request={
                "name": fake_pubsub.topic_path("orders"),
                "schema_settings": {
                    "schema": f"projects/{fake_pubsub.project}/schemas/nothing-here",
                    "encoding": "JSON",
                },
            }
        )
