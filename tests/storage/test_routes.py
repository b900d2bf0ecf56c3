"""The route table: one name per kind of request, the same for routing and for faults."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.api_core.iam import Policy
from google.cloud import storage
from google.cloud.storage import transfer_manager

from pytest_gcpfakes.storage._routes import ROUTES

# Every id the JSON API reference lists for the resources the fake serves, and the batch.
_METHOD_ID = re.compile(
    r"storage\.batch|storage\.(buckets|objects|notifications)\."
    r"(list|insert|get|patch|update|delete|lockRetentionPolicy|copy|rewrite|compose|move)"
    r"|storage\.(bucket|defaultObject|object)AccessControls\."
    r"(list|insert|get|patch|update|delete)"
    r"|storage\.buckets\.(getIamPolicy|setIamPolicy|testIamPermissions|restore)"
    r"|storage\.objects\.restore"
    r"|storage\.managedFolders\.(insert|list|get|delete)"
    r"|storage\.projects\.serviceAccount\.get"
)
_FOLDERS = "/b/uniform/managedFolders"
# An entity every new bucket's lists hold (the project's viewers, named by the project).
_VIEWERS = "project-viewers-test-project"
KIB = 1024


def test_every_route_names_a_json_api_method_id_and_a_handler() -> None:
    for route in ROUTES:
        assert _METHOD_ID.fullmatch(route.api_method), route
        assert callable(route.handler), route
        assert route.methods, route


def test_routes_differ_in_method_path_or_conditions() -> None:
    keys = [
        (m, r.path, tuple(r.query.items()), r.signed, tuple(r.headers.items()))
        for r in ROUTES
        for m in r.methods
    ]
    assert len(keys) == len(set(keys))


# -- faults fire under the route's method id ----------------------------------------------------


@dataclass
class Case:
    """A real-client call: what it hits (every method id) and the one a fault there fails."""

    method: str
    act: Callable[[Any], object]
    also: tuple[str, ...] = ()  # other ids the call hits on the way (batch parts)
    # What the error says when the client keeps the answer's body to itself.
    says: str | None = None
    # (distribution, version, feature) for a client call newer than the oldest supported.
    since: tuple[str, str, str] | None = None


class World:
    """The state every case starts from, made through fake_storage (no faults there)."""

    def __init__(self, fake_storage: Any, tmp_path: Path) -> None:
        fake_storage.put("bkt", "a.txt", "alpha")
        fake_storage.put("bkt", "z.txt", "zulu")
        fake_storage.create_bucket("empty")
        self.tmp_path = tmp_path
        self.client = storage.Client()
        self.bucket = self.client.get_bucket("bkt")
        self.locked = self.client.create_bucket("locked")
        self.locked.retention_period = 60
        self.locked.patch()  # lockRetentionPolicy sends the metageneration it knows
        self.blob = self.bucket.get_blob("a.txt")
        self.notification = self.bucket.notification(
            topic_name="events", topic_project="test-project"
        )
        self.notification.create()
        # Soft-deleted: an object and a bucket, for the restores.
        gone = self.bucket.blob("gone.txt")
        gone.upload_from_string("g")
        gone.delete()
        self.gone_generation = gone.generation
        self.gone_bucket = self.client.create_bucket("gone-bucket")
        self.gone_bucket.delete()
        # Managed folders need uniform bucket-level access.
        uniform = self.client.bucket("uniform")
        uniform.iam_configuration.uniform_bucket_level_access_enabled = True
        self.client.create_bucket(uniform)
        self.client._post_resource(_FOLDERS, {"name": "m/"})

    def signed(self, method: str, name: str = "a.txt", **kwargs: Any) -> str:
        url: str = self.bucket.blob(name).generate_signed_url(
            version="v4", method=method, expiration=300, **kwargs
        )
        return url

    def fetch(self, method: str, url: str, **kwargs: Any) -> None:
        with requests.Session() as http:
            answer = http.request(method, url, **kwargs)
        if answer.status_code >= 400:
            raise exceptions.from_http_response(answer)

    def resumable(self) -> None:
        blob = self.bucket.blob("big.bin", chunk_size=256 * KIB)
        blob.upload_from_file(io.BytesIO(b"r" * (600 * KIB)), size=None)

    def chunks(self) -> None:
        source = self.tmp_path / "chunks.bin"
        source.write_bytes(b"c" * (3 * KIB))
        transfer_manager.upload_chunks_concurrently(
            str(source),
            self.bucket.blob("chunks.bin"),
            chunk_size=KIB,
            worker_type=transfer_manager.THREAD,
        )

    def form(self) -> None:
        policy = self.client.generate_signed_post_policy_v4("bkt", "form.bin", expiration=300)
        self.fetch("POST", policy["url"], data=policy["fields"], files={"file": b"f"})

    def batch(self) -> None:
        with self.client.batch():
            self.bucket.blob("z.txt").delete()


def _access_control_cases(prefix: str, path: str, reload: Callable[[Any], object]) -> list[Case]:
    """One resource's six methods: list through the client, the rest through its raw
    JSON calls (the client has no method for them)."""
    entry = f"{path}/{_VIEWERS}"
    return [
        Case(prefix + "list", reload),
        Case(
            prefix + "insert",
            lambda w: w.client._post_resource(path, {"entity": "allUsers", "role": "READER"}),
        ),
        Case(prefix + "get", lambda w: w.client._get_resource(entry)),
        Case(prefix + "patch", lambda w: w.client._patch_resource(entry, {"role": "READER"})),
        Case(prefix + "update", lambda w: w.client._put_resource(entry, {"role": "READER"})),
        Case(prefix + "delete", lambda w: w.client._delete_resource(entry)),
    ]


CASES = [
    Case("storage.buckets.list", lambda w: list(w.client.list_buckets())),
    Case("storage.buckets.insert", lambda w: w.client.create_bucket("new-bucket")),
    Case("storage.buckets.get", lambda w: w.client.get_bucket("bkt")),
    Case("storage.buckets.patch", lambda w: w.bucket.patch()),
    Case("storage.buckets.update", lambda w: w.bucket.update()),
    Case("storage.buckets.delete", lambda w: w.client.bucket("empty").delete()),
    Case("storage.buckets.lockRetentionPolicy", lambda w: w.locked.lock_retention_policy()),
    Case("storage.buckets.getIamPolicy", lambda w: w.bucket.get_iam_policy()),
    Case("storage.buckets.setIamPolicy", lambda w: w.bucket.set_iam_policy(Policy())),
    Case(
        "storage.buckets.testIamPermissions",
        lambda w: w.bucket.test_iam_permissions(["storage.objects.get"]),
    ),
    Case("storage.projects.serviceAccount.get", lambda w: w.client.get_service_account_email()),
    Case(
        "storage.notifications.insert",
        lambda w: w.bucket.notification(topic_name="more", topic_project="p").create(),
    ),
    Case("storage.notifications.list", lambda w: list(w.bucket.list_notifications())),
    Case(
        "storage.notifications.get",
        lambda w: w.bucket.get_notification(w.notification.notification_id),
    ),
    Case("storage.notifications.delete", lambda w: w.notification.delete()),
    Case("storage.objects.list", lambda w: list(w.client.list_blobs("bkt"))),
    Case("storage.objects.get", lambda w: w.bucket.get_blob("a.txt")),
    Case("storage.objects.get", lambda w: w.blob.download_as_bytes()),
    Case("storage.objects.get", lambda w: w.blob.open("rb").read()),
    Case("storage.objects.get", lambda w: w.fetch("GET", w.signed("GET"))),
    Case(
        "storage.objects.list",
        lambda w: w.fetch("GET", w.bucket.generate_signed_url(version="v4", expiration=300)),
    ),
    Case("storage.objects.patch", lambda w: w.blob.patch()),
    Case("storage.objects.update", lambda w: w.blob.update()),
    Case("storage.objects.delete", lambda w: w.blob.delete()),
    Case("storage.objects.delete", lambda w: w.fetch("DELETE", w.signed("DELETE"))),
    Case("storage.objects.copy", lambda w: w.bucket.copy_blob(w.blob, w.bucket, "copy.txt")),
    Case("storage.objects.rewrite", lambda w: w.bucket.blob("re.txt").rewrite(w.blob)),
    Case("storage.objects.compose", lambda w: w.bucket.blob("all.txt").compose([w.blob])),
    Case(
        "storage.objects.move",
        lambda w: w.bucket.move_blob(w.blob, "moved.txt"),
        since=("google-cloud-storage", "3.1.0", "Bucket.move_blob()"),
    ),
    Case(
        "storage.objects.restore",
        lambda w: w.bucket.restore_blob("gone.txt", generation=w.gone_generation),
    ),
    Case("storage.objects.list", lambda w: list(w.bucket.list_blobs(soft_deleted=True))),
    Case(
        "storage.objects.get",
        lambda w: w.bucket.get_blob("gone.txt", generation=w.gone_generation, soft_deleted=True),
    ),
    Case(
        "storage.buckets.restore",
        lambda w: w.client.restore_bucket("gone-bucket", generation=w.gone_bucket.generation),
        since=("google-cloud-storage", "2.19.0", "Client.restore_bucket()"),
    ),
    Case(
        "storage.buckets.list",
        lambda w: list(w.client.list_buckets(soft_deleted=True)),
        since=("google-cloud-storage", "2.19.0", "Client.list_buckets(soft_deleted=True)"),
    ),
    Case(
        "storage.managedFolders.insert",
        lambda w: w.client._post_resource(_FOLDERS, {"name": "n/"}),
    ),
    Case("storage.managedFolders.list", lambda w: w.client._get_resource(_FOLDERS)),
    Case("storage.managedFolders.get", lambda w: w.client._get_resource(f"{_FOLDERS}/m%2F")),
    Case("storage.managedFolders.delete", lambda w: w.client._delete_resource(f"{_FOLDERS}/m%2F")),
    Case(
        "storage.objects.list",
        lambda w: list(
            w.client.list_blobs("uniform", delimiter="/", include_folders_as_prefixes=True)
        ),
    ),
    Case("storage.objects.insert", lambda w: w.bucket.blob("new.txt").upload_from_string("n")),
    Case("storage.objects.insert", lambda w: w.resumable()),
    # google-resumable-media's XML multipart upload reports the status only.
    Case("storage.objects.insert", lambda w: w.chunks(), says="status code', 403"),
    Case("storage.objects.insert", lambda w: w.fetch("PUT", w.signed("PUT", "s.txt"), data=b"s")),
    Case(
        "storage.objects.insert",
        lambda w: w.fetch(
            "POST", w.signed("RESUMABLE", "r.txt"), headers={"x-goog-resumable": "start"}
        ),
    ),
    Case("storage.objects.insert", lambda w: w.form()),
    Case("storage.batch", lambda w: w.batch(), also=("storage.objects.delete",)),
    *(
        case
        for kind, path, reload in (
            ("bucket", "/b/bkt/acl", lambda w: w.bucket.acl.reload()),
            (
                "defaultObject",
                "/b/bkt/defaultObjectAcl",
                lambda w: w.bucket.default_object_acl.reload(),
            ),
            ("object", "/b/bkt/o/a.txt/acl", lambda w: w.blob.acl.reload()),
        )
        for case in _access_control_cases(f"storage.{kind}AccessControls.", path, reload)
    ),
]
_PARAMS = [
    pytest.param(
        case,
        id=f"{case.method}-{index}",  # e.g. storage.objects.get-13
        marks=[pytest.mark.since(*case.since)] if case.since else [],
    )
    for index, case in enumerate(CASES)
]


def test_the_cases_cover_every_method_id_in_the_table() -> None:
    assert {case.method for case in CASES} == {route.api_method for route in ROUTES}


@pytest.mark.parametrize("case", _PARAMS)
def test_a_fault_under_another_method_id_does_not_fire(
    case: Case, fake_storage: Any, tmp_path: Path
) -> None:
    world = World(fake_storage, tmp_path)
    hit = {case.method, *case.also}
    for method in {route.api_method for route in ROUTES} - hit:
        fake_storage.fail(method, exceptions.Forbidden, times=None)
    case.act(world)


@pytest.mark.parametrize("case", _PARAMS)
def test_a_fault_under_the_calls_method_id_fires(
    case: Case, fake_storage: Any, tmp_path: Path
) -> None:
    world = World(fake_storage, tmp_path)
    fake_storage.fail(case.method, exceptions.Forbidden)
    says = case.says or f"fake_storage.fail({case.method!r}"
    with pytest.raises(Exception, match=re.escape(says)):
        case.act(world)


def test_a_fault_on_a_batched_method_fails_that_part_only(fake_storage: Any) -> None:
    fake_storage.put("bkt", "keep.txt", "k")
    fake_storage.put("bkt", "gone.txt", "g")
    fake_storage.fail("storage.objects.delete", exceptions.Forbidden)
    client = storage.Client()
    bucket = client.bucket("bkt")
    with client.batch(raise_exception=False) as batch:
        bucket.blob("keep.txt").delete()
        bucket.blob("gone.txt").delete()
    statuses = [response.status_code for response in batch._responses]
    assert statuses == [403, 204]
    assert fake_storage.objects("bkt") == ["keep.txt"]
