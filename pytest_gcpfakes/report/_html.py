"""The report page: one self-contained HTML file (CSS, JS and SVG inline; nothing fetched).

The page embeds the report document as JSON and draws from it in the browser, one page of
tests and one test's timeline at a time, so that its DOM stays small however many tests,
requests and uses the run had (a 1,000-test report opens as a few hundred elements).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

DATA_ID = "gcpfakes-data"

_ORDER = ("failed", "error", "xpassed", "passed", "xfailed", "skipped")


def render(document: Mapping[str, Any]) -> str:
    """The page for a report document (see ``_data``)."""
    assets = resources.files("pytest_gcpfakes.report")
    css = assets.joinpath("_page.css").read_text(encoding="utf-8")
    js = assets.joinpath("_page.js").read_text(encoding="utf-8")
    tests = document["tests"]
    totals = document["totals"]
    counts = ", ".join(
        f'<span class="verdict {name}">{totals[name]} {name}</span>'
        for name in sorted(totals, key=lambda name: _ORDER.index(name) if name in _ORDER else 99)
    )
    flagged = sum(1 for test in tests if test["flagged"])
    used = sum(1 for test in tests if test["usage"] is not None)
    # JSON has "<" only inside strings, where \u003c reads the same: no "</script>" inside.
    data = json.dumps(document, separators=(",", ":")).replace("<", "\\u003c")
    return _PAGE.format(
        css=css,
        js=js,
        data=data,
        data_id=DATA_ID,
        created=html.escape(str(document["created"])),
        summary=(
            f"{len(tests)} tests: {counts or 'none'}. {used} used the GCP fakes; "
            f'<span class="flag">{flagged} had a client in use by concurrent requests</span>.'
        ),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>pytest-gcpfakes: GCP client usage</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>GCP client usage</h1>
<p id="summary">{summary}</p>
<p class="created">Written {created} by pytest-gcpfakes. Time runs left to right in logical
order (the recorder's counter), not wall time.</p>
</header>
<main>
<section id="tests-panel" aria-label="tests">
<h2>Tests</h2>
<div class="controls">
<input id="test-filter" type="search" placeholder="filter by name" aria-label="filter tests">
<select id="test-outcome" aria-label="outcome">
<option value="">every outcome</option>
<option value="flagged">flagged</option>
<option value="usage">used the fakes</option>
<option value="failed">failed</option>
<option value="error">error</option>
<option value="passed">passed</option>
<option value="skipped">skipped</option>
</select>
</div>
<table id="tests"><thead><tr><th>outcome</th><th>test</th><th>clients</th>\
<th>requests</th><th>uses</th></tr></thead><tbody></tbody></table>
<nav class="pager" id="tests-pager" aria-label="test pages"></nav>
</section>
<section id="detail" aria-label="test detail">
<h2 id="detail-title">No test selected</h2>
<p id="detail-note"></p>
<div id="legend"></div>
<div id="timeline"></div>
<nav class="pager" id="lanes-pager" aria-label="timeline pages"></nav>
<h3>Clients</h3>
<table id="clients"><thead><tr><th>client</th><th>class</th><th>created at</th>\
<th>thread</th><th>pid</th><th>closed</th><th>uses</th><th>verdict</th></tr></thead>\
<tbody></tbody></table>
<nav class="pager" id="clients-pager" aria-label="client pages"></nav>
<h3>Requests</h3>
<table id="requests"><thead><tr><th>#</th><th>request</th><th>thread</th><th>pid</th>\
<th>start</th><th>end</th><th>uses</th><th>clients</th></tr></thead><tbody></tbody></table>
<nav class="pager" id="requests-pager" aria-label="request pages"></nav>
</section>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="{data_id}">{data}</script>
<script>
{js}</script>
</body>
</html>
"""
