"""Bucket fields GCS fills in itself: the location type, the default RPO, and the times
that say when a setting took effect.

A client writes ``autoclass``, ``softDeletePolicy`` and the encryption enforcement
configurations; GCS answers with them and with output-only fields it keeps: when
Autoclass was toggled, its terminal storage class (NEARLINE unless given) and when that
changed, when a policy became effective. A client sends those fields back unchanged in
its next patch or update (``Bucket.patch()`` sends the whole sub-object), so what it sends
for them is ignored: a time moves only when the setting it stamps changes.

Sources: the JSON API's bucket resource (cloud.google.com/storage/docs/json_api/v1/
buckets) and python-storage's system tests against GCS (tests/system/test_bucket.py):
``test_new_bucket_with_rpo`` (a NAM4 bucket answers ``rpo: DEFAULT``),
``test_new_bucket_with_autoclass`` (NEARLINE by default; disabling moves the toggle
time), ``test_config_autoclass_w_existing_bucket`` (a new terminal class moves its update
time), ``test_soft_delete_policy`` (the policy has an effective time),
``test_bucket_encryption_enforcement_config`` (a FullyRestricted enforcement config has
one, a NotRestricted one none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["MULTI_REGIONS", "PREDEFINED_DUAL_REGIONS", "location_type", "rpo", "stamp"]

#: Multi-region locations (cloud.google.com/storage/docs/locations#location-mr).
MULTI_REGIONS = frozenset({"US", "EU", "ASIA"})
#: Predefined dual-region locations (cloud.google.com/storage/docs/locations#predefined).
PREDEFINED_DUAL_REGIONS = frozenset({"ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"})

_ENFORCEMENT_CONFIGS = (
    "googleManagedEncryptionEnforcementConfig",
    "customerManagedEncryptionEnforcementConfig",
    "customerSuppliedEncryptionEnforcementConfig",
)


def location_type(location: str, settings: Mapping[str, Any]) -> str:
    """``region``, ``dual-region`` or ``multi-region``, as the bucket resource says.

    A configurable dual-region names a multi-region (``US``) and the two regions in
    ``customPlacementConfig.dataLocations`` (locations#configurable): a dual-region.
    """
    placement = settings.get("customPlacementConfig") or {}
    if location in PREDEFINED_DUAL_REGIONS or placement.get("dataLocations"):
        return "dual-region"
    if location in MULTI_REGIONS:
        return "multi-region"
    return "region"


def rpo(location: str, settings: Mapping[str, Any]) -> str | None:
    """The bucket's recovery point objective: what it set, else ``DEFAULT`` on a
    dual-region (the only kind turbo replication applies to), else none."""
    chosen = settings.get("rpo")
    if chosen is not None:
        return str(chosen)
    return "DEFAULT" if location_type(location, settings) == "dual-region" else None


def stamp(key: str, old: Any, new: Any, now: datetime) -> Any:
    """``new`` (a bucket setting a request writes) with the output-only fields GCS keeps
    for it, given the stored ``old``; other settings come back as they are."""
    stamper = _STAMPERS.get(key)
    if stamper is None or not isinstance(new, dict):
        return new
    return stamper(old if isinstance(old, dict) else {}, dict(new), _rfc3339(now))


def _autoclass(old: dict[str, Any], new: dict[str, Any], now: str) -> dict[str, Any]:
    enabled = bool(new.get("enabled"))
    result: dict[str, Any] = {"enabled": enabled}
    toggled = not old or bool(old.get("enabled")) != enabled
    result["toggleTime"] = now if toggled else old.get("toggleTime", now)
    if enabled:
        terminal = new.get("terminalStorageClass") or (
            old.get("terminalStorageClass") if old.get("enabled") else None
        )
        terminal = terminal or "NEARLINE"
        result["terminalStorageClass"] = terminal
        changed = terminal != old.get("terminalStorageClass") or not old.get("enabled")
        result["terminalStorageClassUpdateTime"] = (
            now if changed else old.get("terminalStorageClassUpdateTime", now)
        )
    return result


def _soft_delete_policy(old: dict[str, Any], new: dict[str, Any], now: str) -> dict[str, Any]:
    duration = new.get("retentionDurationSeconds")
    if duration is None:
        return {}
    result = {"retentionDurationSeconds": str(duration)}
    same = str(old.get("retentionDurationSeconds")) == str(duration)
    result["effectiveTime"] = old.get("effectiveTime", now) if same else now
    return result


def _encryption(old: dict[str, Any], new: dict[str, Any], now: str) -> dict[str, Any]:
    for name in _ENFORCEMENT_CONFIGS:
        config = new.get(name)
        if not isinstance(config, dict):
            continue
        before = old.get(name) or {}
        mode = config.get("restrictionMode")
        stamped = {key: value for key, value in config.items() if key != "effectiveTime"}
        # Only a restriction takes effect: python-storage's test_bucket_encryption_
        # enforcement_config reads a NotRestricted config back with no effectiveTime.
        if mode == "FullyRestricted":
            same = before.get("restrictionMode") == mode
            stamped["effectiveTime"] = before.get("effectiveTime", now) if same else now
        new[name] = stamped
    return new


_STAMPERS: dict[str, Callable[[dict[str, Any], dict[str, Any], str], dict[str, Any]]] = {
    "autoclass": _autoclass,
    "softDeletePolicy": _soft_delete_policy,
    "encryption": _encryption,
}


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
