"""The usage recorder: clients, requests, uses (``_recorder``), the patches that feed it
(``_instrument``, ``_requests``), and the analyses and reports over what it recorded."""
