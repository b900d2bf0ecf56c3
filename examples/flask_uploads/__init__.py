"""An upload service in four client-lifecycle variants, and the worker that follows it up.

- ``app.create_app(clients)``: the Flask service (``POST`` / ``GET /files/<name>``).
- ``clients``: the four ways the service can hold its GCP clients.
- ``worker``: processes upload events and writes a manifest of each file to the bucket.
"""
