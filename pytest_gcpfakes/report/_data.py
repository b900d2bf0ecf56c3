"""The report document: every test, its verdict and what the recorder saw in it.

A test's usage travels on its teardown report as an attribute (plain JSON types, which
pytest's report serialization keeps), so that under pytest-xdist the controller, which runs
no tests, collects every worker's tests into one document, as the terminal summary does.

Document (``--gcpfakes-report-json`` writes it as it is; the HTML page embeds it):

=======================  ==============================================================
field                    meaning
=======================  ==============================================================
``kind``                 ``"gcpfakes-report"``
``version``              ``1``; bumped on any incompatible change
``created``              str, when the report was written (ISO 8601, UTC)
``totals``               object, outcome → number of tests
``tests[]``              one object per test, in the order their results arrived
``tests[].nodeid``       str
``tests[].outcome``      ``"passed"``, ``"failed"``, ``"error"``, ``"skipped"``,
                         ``"xfailed"`` or ``"xpassed"``
``tests[].duration``     float, seconds (setup, call and teardown)
``tests[].usage``        the test's ``gcp_usage.to_dict()`` (JSON schema v1), or null
                         when the test used no fakes
``tests[].flagged``      list of int, serials of the clients found shared by requests
                         in use at once
``tests[].overlapping``  list of int, ``seq`` of the uses of a flagged client made while
                         another request's window on that client was open
=======================  ==============================================================
"""

from __future__ import annotations

import datetime
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KIND = "gcpfakes-report"
VERSION = 1
REPORT_ATTR = "gcpfakes_usage"


def phase_outcome(when: str, outcome: str, wasxfail: bool) -> str:
    """What one phase's report says of its test (pytest's own words for outcomes)."""
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    if outcome == "skipped":
        return "xfailed" if wasxfail else "skipped"
    return "xpassed" if wasxfail and when == "call" else "passed"


def flagged_and_overlapping(usage: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """The clients found shared at once, and the uses of theirs made while another
    request's window on the same client was open (the ones the timeline highlights)."""
    flagged = sorted({f["client"] for f in usage.get("findings", ()) if f["kind"] == "shared"})
    overlapping: list[int] = []
    for client in flagged:
        uses = [u for u in usage["uses"] if u["client"] == client and u["request"] is not None]
        windows: dict[int, list[int]] = {}
        for use in uses:
            window = windows.setdefault(use["request"], [use["seq"], _end(use)])
            window[0] = min(window[0], use["seq"])
            window[1] = max(window[1], _end(use))
        starts = sorted(start for start, _ in windows.values())
        stops = sorted(stop for _, stop in windows.values())
        for use in uses:
            # Windows meeting [seq, end]: those starting by its end, less those over before
            # it began. Its own request's window is one of them.
            meeting = bisect_right(starts, _end(use)) - bisect_left(stops, use["seq"])
            if meeting > 1:
                overlapping.append(use["seq"])
    return flagged, sorted(overlapping)


def _end(use: Mapping[str, Any]) -> int:
    end = use["end_seq"]
    return int(use["seq"] if end is None else end)


class ReportData:
    """Collects tests from pytest's reports (this process's or the workers') into a document."""

    def __init__(self) -> None:
        self._tests: dict[str, dict[str, Any]] = {}

    def add(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        duration: float,
        *,
        wasxfail: bool = False,
        usage: Mapping[str, Any] | None = None,
    ) -> None:
        """Fold one phase's report (setup, call or teardown) into its test."""
        test = self._tests.setdefault(
            nodeid,
            {
                "nodeid": nodeid,
                "outcome": "passed",
                "duration": 0.0,
                "usage": None,
                "flagged": [],
                "overlapping": [],
            },
        )
        verdict = phase_outcome(when, outcome, wasxfail)
        if when == "setup" or (when == "call" and test["outcome"] == "passed"):
            test["outcome"] = verdict
        elif verdict == "error" and test["outcome"] not in ("failed", "error"):
            test["outcome"] = "error"  # a teardown error of a test that passed or was skipped
        test["duration"] = round(test["duration"] + duration, 6)
        if usage is not None:
            test["usage"] = dict(usage)
            test["flagged"], test["overlapping"] = flagged_and_overlapping(usage)

    def document(self, tests: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The report document (module docstring), with ``tests`` after the collected ones."""
        every = [*self._tests.values(), *tests]
        totals: dict[str, int] = {}
        for test in every:
            totals[test["outcome"]] = totals.get(test["outcome"], 0) + 1
        return {
            "kind": KIND,
            "version": VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "totals": totals,
            "tests": every,
        }


def write(document: Mapping[str, Any], *, html: str | None, json_path: str | None) -> list[Path]:
    """Write the page and/or the JSON; return the paths written."""
    written = []
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
        written.append(path)
    if html:
        from pytest_gcpfakes.report._html import render

        path = Path(html)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written
