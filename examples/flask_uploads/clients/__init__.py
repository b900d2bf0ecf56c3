"""Four ways to give a request its GCP clients: the variants of the example service.

Each variant has what the views call, ``gcs()`` and ``publisher()``, and ``init_app(app)``
for what it must do when a request ends. What pytest-gcpfakes says about each:

1. ``module_globals.ModuleGlobals``: built at import, shared by every request: flagged.
2. ``lazy_globals.LazyGlobals``: built by the first request, then shared: flagged.
3. ``per_request.PerRequest``: built per request on ``flask.g``, closed at its end: passes.
4. ``pool.Pool``: built up front; each request borrows a set and gives it back: passes.

Each lives in its own module, so importing one does not build another's clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flask import Flask
    from google.cloud import pubsub_v1, storage


class Clients(Protocol):
    """What the views need: clients for the current request, and the app to hook into."""

    def init_app(self, app: Flask) -> None: ...
    def gcs(self) -> storage.Client: ...
    def publisher(self) -> pubsub_v1.PublisherClient: ...
