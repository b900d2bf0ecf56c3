"""The usage report: ``--gcpfakes-report=report.html`` and ``--gcpfakes-report-json=PATH``.

``_data`` builds the report document (the tests, their verdicts and each one's ``gcp_usage``
in JSON schema v1) from pytest's reports, on the controller when pytest-xdist runs the tests;
``_html`` turns that document into one self-contained page (inline CSS, JS and SVG).
"""
