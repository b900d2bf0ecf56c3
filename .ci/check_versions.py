"""Check that the installed distributions are exactly the pinned ones.

Usage: python .ci/check_versions.py PINS_FILE [NAME ...]

PINS_FILE holds ``name==version`` lines (comments allowed); with NAMEs, only those pins are
checked. The tox ``min`` environment installs the pins, then pytest-gcpfakes: if pip had to
upgrade or downgrade any of them to install the plugin, the lower bounds in pyproject.toml
are wrong, and this says which.
"""

from __future__ import annotations

import sys
from importlib import metadata


def pins(path: str) -> dict[str, str]:
    """``name -> version`` from a pins file, names normalised as pip does."""
    found = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                name, version = requirement.split("==")
                found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def main(argv: list[str]) -> int:
    wanted = pins(argv[0])
    names = [name.lower() for name in argv[1:]] or list(wanted)
    wrong = []
    for name in names:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != wanted[name]:
            wrong.append(f"- {name}: pinned {wanted[name]}, installed {installed}")
    if wrong:
        print(f"{len(wrong)} pinned version(s) changed by the install:", *wrong, sep="\n")
        return 1
    print(f"all {len(names)} pinned versions unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
