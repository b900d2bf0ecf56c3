"""The API reference page names every exported name, and the handles' attributes it
documents from their docstrings exist and do what those say."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pytest_gcpfakes

pytestmark = pytest.mark.usefixtures("clean_env")

ROOT = Path(__file__).parent.parent.parent


def documented_names() -> set[str]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\.\. auto\w+:: pytest_gcpfakes\.(\w+)", text, re.MULTILINE))


def test_api_page_documents_every_exported_name() -> None:
    assert set(pytest_gcpfakes.__all__) - documented_names() == set()
    assert documented_names() - set(pytest_gcpfakes.__all__) == set()


@pytest.mark.parametrize(
    ("module", "cls", "attributes"),
    [
        ("storage/_handle.py", "FakeStorage", {"app", "clock", "project", "config", "pid"}),
        ("pubsub/_handle.py", "FakePubSub", {"clock", "project", "config", "pid"}),
    ],
)
def test_handle_attributes_have_docstrings(module: str, cls: str, attributes: set[str]) -> None:
    """autodoc shows an instance attribute only when a string follows its assignment."""
    tree = ast.parse((ROOT / "pytest_gcpfakes" / module).read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    (init,) = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    documented = set()
    for statement, following in zip(init.body, init.body[1:], strict=False):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            for target in statement.targets:
                if isinstance(target, ast.Attribute):
                    documented.add(target.attr)
    assert attributes - documented == set()


def test_fake_storage_app_answers_the_json_api_as_its_docstring_says(
    fake_storage: pytest_gcpfakes.FakeStorage,
) -> None:
    from werkzeug.test import Client

    fake_storage.create_bucket("uploads")
    response = Client(fake_storage.app).get("/storage/v1/b/uploads")
    assert response.status_code == 200
    assert response.json["name"] == "uploads"
    assert fake_storage.clock is fake_storage.app.backend.clock
