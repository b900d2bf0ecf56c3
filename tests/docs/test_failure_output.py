"""The failure messages shown on docs/assertions.md are what a real run prints, line by line
(the two requests' threads may come in either order)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "usage"))
from test_plugin_checks import APP, LEAK_TEST, LEAKY_APP, TEST

pytestmark = pytest.mark.usefixtures("clean_env")

PAGE = Path(__file__).parent.parent.parent / "docs" / "assertions.md"


def shown(headline: str) -> list[str]:
    """The lines of the page's text block that starts with ``headline``."""
    blocks = re.findall(r"^```text\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    (block,) = [block for block in blocks if block.startswith(headline)]
    return block.splitlines()


def patterns(lines: list[str]) -> list[str]:
    """fnmatch patterns for pytest's ``E   `` lines; a request thread's number is free."""
    escaped = [line.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]") for line in lines]
    return ["E*" + re.sub(r"request-\d", "request-?", line) for line in escaped]


@pytest.mark.parametrize(
    ("headline", "app_source", "test_source"),
    [
        (
            "AssertionError: 1 client was in use by concurrent requests.",
            APP,
            TEST.format(marker='@pytest.mark.gcpfakes(check="sharing")'),
        ),
        ("AssertionError: 1 client was leaked", LEAKY_APP, LEAK_TEST),
    ],
    ids=["sharing", "leaks"],
)
def test_message_on_the_page_is_a_real_one(
    pytester: pytest.Pytester, headline: str, app_source: str, test_source: str
) -> None:
    lines = shown(headline)
    pytester.makepyfile(app=app_source, test_app=test_source)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(patterns(lines), consecutive=True)
