"""Every place where the plugin reaches into a client library's private names.

One module per library, each touch point with the versions it was checked against, so
that a library release that moves one of them breaks in one known place. The rest of the
plugin calls the names defined here, never the libraries' private attributes.
"""
