"""In-memory Pub/Sub: state in ``_backend``, the GAPIC transport in ``_transport``."""
