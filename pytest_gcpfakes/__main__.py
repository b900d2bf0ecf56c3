"""``python -m pytest_gcpfakes``: the ``gcpfakes`` command line (``serve``, ``reset``)."""

import sys

from pytest_gcpfakes.server._cli import main

sys.exit(main())
