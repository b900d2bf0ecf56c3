"""gunicorn settings of the per-worker app: build clients after the fork."""

from __future__ import annotations

from typing import Any


def post_fork(server: Any, worker: Any) -> None:
    import per_worker_app

    per_worker_app.build_clients()
