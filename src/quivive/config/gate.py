"""``[gate]`` and its ``[[gate.rules]]`` array of tables, parsed apart from the scalar settings.

Every error names the key, as ``gate.rules[2].min_aal`` (rules are counted from 1, in file order).
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from quivive.domain.gate import GateRule, GateSettings, IpNetwork
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import ConfigError

GATE_KEYS = ("allowed_domains", "rules")
RULE_KEYS = (
    "host",
    "path_prefix",
    "roles",
    "min_aal",
    "networks",
    "networks_min_aal",
    "deny_outside_networks",
    "bypass",
    "allow_emergency",
)
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_PATH = re.compile(r"/[\x21-\x7e]{0,1023}")


def parse_gate(raw: object, path: Path | None) -> GateSettings:
    """``[gate]``: allowed_domains = [...] and ``[[gate.rules]]`` entries."""
    if raw is None:
        return GateSettings()
    if not isinstance(raw, dict):
        raise _error(path, "gate", "expected a table ([gate] and [[gate.rules]])")
    unknown = [key for key in raw if key not in GATE_KEYS]
    if unknown:
        raise _error(
            path, f"gate.{unknown[0]}", "unknown key (expected " + ", ".join(GATE_KEYS) + ")"
        )
    domains = tuple(
        _domain(item, f"gate.allowed_domains[{n}]", path)
        for n, item in enumerate(_list(raw, "allowed_domains", "gate", path), 1)
    )
    entries = raw.get("rules", [])
    if not isinstance(entries, list):
        raise _error(path, "gate.rules", "expected an array of tables ([[gate.rules]])")
    rules = tuple(_rule(entry, f"gate.rules[{n}]", path) for n, entry in enumerate(entries, 1))
    _check_duplicates(rules, path)
    return GateSettings(rules=rules, allowed_domains=domains)


def parse_rule(entry: Mapping[str, object]) -> GateRule:
    """One rule given as a ``[[gate.rules]]`` table would be (the admin console and API use the
    file's checks); ``ConfigError.details["key"]`` names the faulty key, as ``rule.min_aal``."""
    rule = _rule(dict(entry), "rule", None)
    prefix = rule.path_prefix.rstrip("/") or "/"
    return rule if prefix == rule.path_prefix else replace(rule, path_prefix=prefix)


def _rule(entry: object, where: str, path: Path | None) -> GateRule:
    if not isinstance(entry, dict):
        raise _error(path, where, "expected a table")
    unknown = [key for key in entry if key not in RULE_KEYS]
    if unknown:
        expected = ", ".join(RULE_KEYS)
        raise _error(path, f"{where}.{unknown[0]}", f"unknown key (expected {expected})")
    if "host" not in entry:
        raise _error(path, f"{where}.host", "missing: every rule names its host")
    min_aal = _level(entry, "min_aal", where, path) or AssuranceLevel.AAL1
    return GateRule(
        host=_host(entry["host"], f"{where}.host", path),
        path_prefix=_path(entry.get("path_prefix", "/"), f"{where}.path_prefix", path),
        roles=tuple(
            _role(item, f"{where}.roles[{n}]", path)
            for n, item in enumerate(_list(entry, "roles", where, path), 1)
        ),
        min_aal=min_aal,
        networks=tuple(
            _network(item, f"{where}.networks[{n}]", path)
            for n, item in enumerate(_list(entry, "networks", where, path), 1)
        ),
        networks_min_aal=_networks_level(entry, where, path),
        deny_outside_networks=_bool(entry, "deny_outside_networks", where, path),
        bypass=tuple(
            _path(item, f"{where}.bypass[{n}]", path)
            for n, item in enumerate(_list(entry, "bypass", where, path), 1)
        ),
        allow_emergency=_bool(entry, "allow_emergency", where, path),
    )


def _networks_level(
    entry: Mapping[str, Any], where: str, path: Path | None
) -> AssuranceLevel | None:
    level = _level(entry, "networks_min_aal", where, path)
    if level is not None and not entry.get("networks"):
        raise _error(
            path, f"{where}.networks_min_aal", "needs networks (the CIDR ranges it applies to)"
        )
    if entry.get("deny_outside_networks") and not entry.get("networks"):
        raise _error(
            path, f"{where}.deny_outside_networks", "needs networks (the CIDR ranges allowed)"
        )
    return level


def _check_duplicates(rules: tuple[GateRule, ...], path: Path | None) -> None:
    seen: dict[tuple[str, str], int] = {}
    for n, rule in enumerate(rules, 1):
        key = (rule.host, rule.path_prefix.rstrip("/") or "/")
        if key in seen:
            reason = f"same host and path_prefix as gate.rules[{seen[key]}]"
            raise _error(path, f"gate.rules[{n}]", reason)
        seen[key] = n


# --- value kinds ---------------------------------------------------------------------------------


def _list(entry: Mapping[str, Any], key: str, where: str, path: Path | None) -> list[object]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise _error(path, f"{where}.{key}", f"expected an array, got {_show(value)}")
    return value


def _checked(
    pattern: Callable[[str], bool], expected: str
) -> Callable[[object, str, Path | None], str]:
    def parse(raw: object, where: str, path: Path | None) -> str:
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text is None or not pattern(text):
            raise _error(path, where, f"expected {expected}, got {_show(raw)}")
        return text

    return parse


def _is_host(text: str) -> bool:
    return bool(_DOMAIN.fullmatch(text.removeprefix("*.")))


_domain = _checked(
    lambda text: bool(_DOMAIN.fullmatch(text)), "an ASCII domain name (punycode for IDN)"
)
_host = _checked(_is_host, 'a host name such as "dpi.hopital.example" or "*.hopital.example"')


def _path(raw: object, where: str, path: Path | None) -> str:
    if not isinstance(raw, str) or not _PATH.fullmatch(raw) or "\\" in raw:
        raise _error(path, where, f'expected a path starting with "/", got {_show(raw)}')
    return raw


def _role(raw: object, where: str, path: Path | None) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"[^\s]{1,64}", raw.strip()):
        raise _error(path, where, f"expected a role name, got {_show(raw)}")
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def _network(raw: object, where: str, path: Path | None) -> IpNetwork:
    try:
        if not isinstance(raw, str):
            raise ValueError
        return ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError:
        raise _error(
            path, where, f'expected a CIDR range such as "10.0.0.0/8", got {_show(raw)}'
        ) from None


def _level(
    entry: Mapping[str, Any], key: str, where: str, path: Path | None
) -> AssuranceLevel | None:
    if key not in entry:
        return None
    raw = entry[key]
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in (1, 2, 3):
        raise _error(path, f"{where}.{key}", f"expected 1, 2 or 3 (AAL1 to AAL3), got {_show(raw)}")
    return AssuranceLevel(raw)


def _bool(entry: Mapping[str, Any], key: str, where: str, path: Path | None) -> bool:
    raw = entry.get(key, False)
    if not isinstance(raw, bool):
        raise _error(path, f"{where}.{key}", f"expected true or false, got {_show(raw)}")
    return raw


def _show(raw: object) -> str:
    if isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "an array"
    return str(raw)


def _error(path: Path | None, key: str, reason: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {reason}" if path else f"{key}: {reason}", key=key)
