"""In-memory Cloud Storage: state in ``_backend``, JSON API in ``_app``, wiring in ``_adapter``."""
