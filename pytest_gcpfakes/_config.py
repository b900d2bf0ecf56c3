"""The plugin's configuration: one frozen, keyword-only dataclass.

Marker keyword arguments are its fields; ``gcpfakes_*`` ini options fill the fields no
marker set. Both paths go through :func:`build_config`, so a misspelt option fails the
same way wherever it was written, and the error names where that was (the marker, or the
ini file / ``-o`` the value came from).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PROJECT = "test-project"


@dataclass(frozen=True, kw_only=True)
class Config:
    """Options of one ``GCPFakes`` session (a test, or a ``with GCPFakes()`` block).

    Attributes:
        project: the project the fakes and clients built while they are active use; ``None``
            means ``GOOGLE_CLOUD_PROJECT``, else the ini option ``gcpfakes_project``,
            else ``"test-project"``.
        publish_immediately: commit each ``PublisherClient.publish()`` at once instead of
            after the library's batch timer (``BatchSettings.max_latency``, 10 ms by default),
            so ``future.result()`` returns sooner. Batching is then one message per request.
        check: lifecycle checks run at the end of every test using the fakes: any of
            ``"sharing"``, ``"leaks"``, ``"use_after_close"``, ``"processes"``; a failure is
            an error of that test.
        rendezvous: hold each request at its first client use until this many requests
            have reached it (see ``pytest_gcpfakes.rendezvous``), for the whole test.
        latency: seconds of delay added to calls, keyed by service (``"pubsub"``,
            ``"storage"``), API method (``"Publish"``, ``"storage.objects.get"``) or
            ``"*"``, to widen race windows.
    """

    project: str | None = None
    publish_immediately: bool = False
    check: tuple[str, ...] = ()
    rendezvous: int | None = None
    latency: Mapping[str, float] = field(default_factory=dict)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))
_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}

# Field docs for `pytest --help`, kept next to the fields they describe.
FIELD_HELP = {
    "project": "Project id of the fakes (default: $GOOGLE_CLOUD_PROJECT, else test-project).",
    "publish_immediately": "Commit each publish() at once instead of after the batch timer.",
    "check": "Checks run after each test: sharing, leaks, use_after_close, processes.",
    "rendezvous": "Hold each request at its first client use until this many have arrived.",
    "latency": "Delay per service or API method, e.g. 'Publish=0.01 storage=0.005'.",
}
_CHECKS = ("sharing", "leaks", "use_after_close", "processes")


def build_config(
    options: Mapping[str, Any], *, where: str = "gcpfakes", ini_source: str | None = None
) -> Config:
    """Build a :class:`Config` from keyword options, rejecting unknown ones with a clear error.

    ``where`` names keyword options (``@pytest.mark.gcpfakes``, ``GCPFakes()``);
    ``ini_source`` says instead that the options are ``gcpfakes_*`` ini values and where
    they came from (``in tox.ini``, ``from -o``), so that an error names that place.
    """
    unknown = sorted(set(options) - set(FIELD_NAMES))
    if unknown:
        raise TypeError(
            f"{where} got unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; valid options are "
            f"{', '.join(FIELD_NAMES)}."
        )
    options = dict(options)
    if isinstance(options.get("check"), str):
        options["check"] = (options["check"],)
    elif isinstance(options.get("check"), list):
        options["check"] = tuple(options["check"])
    for name, value in options.items():
        _check_type(name, value, _option_label(name, where, ini_source))
    unknown_checks = [c for c in options.get("check", ()) if c not in _CHECKS]
    if unknown_checks:
        raise TypeError(
            f"{_option_label('check', where, ini_source)} got unknown check "
            f"{unknown_checks[0]!r}; checks are {', '.join(repr(c) for c in _CHECKS)}."
        )
    return Config(**options)


def _option_label(name: str, where: str, ini_source: str | None) -> str:
    """How an error names option ``name``: ``gcpfakes_check in tox.ini`` or ``@… option check=``."""
    if ini_source is not None:
        return f"gcpfakes_{name} {ini_source}"
    return f"{where} option {name}="


def merge(layers: Iterable[Mapping[str, Any]], *, where: str = "gcpfakes") -> Config:
    """Merge option layers field by field; the first layer that sets a field wins it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        build_config(layer, where=where)  # validate each layer on its own
        for name, value in layer.items():
            merged.setdefault(name, value)
    return build_config(merged, where=where)


def parse_ini_value(name: str, raw: str, source: str | None = None) -> Any:
    """Turn an ini string into the value type of field ``name``.

    ``source`` (``in tox.ini``, ``from -o``) is added to the option's name in errors.
    """
    kind = _FIELD_TYPES[name]
    option = f"gcpfakes_{name}" if source is None else f"gcpfakes_{name} {source}"
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise TypeError(f"{option} must be true or false, not {raw!r}.")
    if kind == "tuple[str, ...]":
        return tuple(part for part in raw.replace(",", " ").split() if part)
    if kind == "Mapping[str, float]":
        latency: dict[str, float] = {}
        for part in raw.replace(",", " ").split():
            key, _, value = part.partition("=")
            try:
                latency[key] = float(value)
            except ValueError:
                raise TypeError(f"{option} takes KEY=SECONDS pairs, not {part!r}.") from None
        return latency
    if kind == "int | None":
        try:
            return int(raw)
        except ValueError:
            raise TypeError(f"{option} must be a whole number, not {raw!r}.") from None
    return raw.strip()


def resolve_project(config: Config | None, ini_project: str | None) -> str:
    """Return the project clients and fakes use: marker, then env, then ini, then default."""
    if config is not None and config.project:
        return config.project
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or ini_project or DEFAULT_PROJECT


def _check_type(name: str, value: Any, label: str) -> None:
    kind = _FIELD_TYPES[name]
    ok = {
        "bool": isinstance(value, bool),
        "str | None": value is None or isinstance(value, str),
        "tuple[str, ...]": isinstance(value, tuple) and all(isinstance(v, str) for v in value),
        "int | None": value is None or (isinstance(value, int) and not isinstance(value, bool)),
        "Mapping[str, float]": isinstance(value, Mapping)
        and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in value.items()),
    }.get(str(kind), True)
    if not ok:
        raise TypeError(f"{label} takes {kind}, not {type(value).__name__}.")
