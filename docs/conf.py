"""Sphinx configuration for pytest-gcpfakes."""

from __future__ import annotations

project = "pytest-gcpfakes"
author = "pytest-gcpfakes developers"
copyright = "2026, pytest-gcpfakes developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3
exclude_patterns = ["_build", "_generated", "examples"]
html_theme = "furo"
html_title = "pytest-gcpfakes"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# Types from the Google libraries are not documented here; do not warn about them.
nitpicky = False
