"""Server mode: the same backends on loopback sockets.

Pub/Sub over gRPC (and its REST/JSON API on the same port), Storage over HTTP. Every face
looks the current fake up per call (``pytest_gcpfakes._registry``), so one long-lived
server follows each test's fresh backends.
"""
