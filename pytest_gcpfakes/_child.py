"""Start-up hook of a process started to reach another process's fakes.

``pytest_gcpfakes.pth`` (installed with the package, as pytest-cov installs its own) calls
:func:`attach` at interpreter start-up when ``GCPFAKES_LINK`` is set: in a multiprocessing
child spawned during a test, a fork server, or a subprocess run with
``gcpfakes_server.env``. The clients of such a process are faked as under the plugin and
reach the fakes of the process behind the link. Without the variable nothing is imported.
"""

from __future__ import annotations

import os
import sys

_attached: list[str] = []
SESSION_ENV = "GCPFAKES_SESSION"


def attach() -> None:
    """Fake this process's clients against the fakes behind ``$GCPFAKES_LINK`` (once)."""
    from pytest_gcpfakes._processes import LINK_ENV

    url = os.environ.get(LINK_ENV, "")
    if not url or _attached:
        return
    try:
        from pytest_gcpfakes import _activation, _registry
        from pytest_gcpfakes.server._remote import (
            RemotePubSub,
            RemoteStorage,
            config_from,
            fetch_info,
        )

        info = fetch_info(url)
        config = config_from(info)
        project = str(info["project"])
        # A subprocess started for one test (gcpfakes_server.env) names it: its calls after
        # that test has ended are refused rather than landing in a later test's fakes.
        raw = os.environ.get(SESSION_ENV, "")
        session = int(raw) if raw.isdigit() else 0
        from pytest_gcpfakes.server._link import RemoteCaller
        from pytest_gcpfakes.usage._recorder import recorder

        _activation.install()
        recorder.forward_to(RemoteCaller(url))
        _registry.replace("pubsub", RemotePubSub(url, config, project, session=session))
        storage = RemoteStorage(url, config, project, session=session)
        _registry.replace("storage", storage)
        _attached.append(url)
    except Exception as error:  # a start-up hook must never stop the interpreter
        sys.stderr.write(
            f"pytest-gcpfakes: {LINK_ENV}={url} is set but the fakes there cannot be reached "
            f"({type(error).__name__}: {error}); this process's GCP clients are not faked.\n"
        )


def detach() -> None:
    """Stop reaching another process's fakes: this process runs fakes of its own.

    A pytest run started from a test (pytester, a subprocess) inherits ``GCPFAKES_LINK``
    and attaches at start-up; once it enters ``GCPFakes`` its own fakes and its own
    recording are the ones that count.
    """
    if not _attached:
        return
    from pytest_gcpfakes import _registry
    from pytest_gcpfakes.usage._recorder import recorder

    recorder.forward_to(None)
    _registry.drop_remote()
    _attached.clear()
