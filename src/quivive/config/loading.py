"""Reading the settings: defaults < TOML file < ``QUIVIVE_*`` environment, then cross-key checks."""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quivive.config.display import redact
from quivive.config.gate import parse_gate
from quivive.config.kinds import format_duration, to_int
from quivive.config.settings import CONFIG_FILE_ENV, LOOPBACK_HOSTS, Settings
from quivive.config.specs import (
    SECRET_KEYS,
    SECTION_FACTORIES,
    SETTING_SPECS,
    SPECS_BY_KEY,
    SettingSpec,
)
from quivive.domain.gate import GateSettings
from quivive.domain.mfa_policy import MAX_GRACE_DAYS, MfaRule
from quivive.errors import ConfigError

# --- cross-key checks ----------------------------------------------------------------------------


def _check_timeouts(values: Mapping[str, Any]) -> None:
    idle, absolute = values["session.idle_timeout"], values["session.absolute_timeout"]
    if absolute < idle:
        reason = f"must be at least session.idle_timeout ({format_duration(idle)})"
        raise _error("session.absolute_timeout", reason, format_duration(absolute))


def _check_http(values: Mapping[str, Any]) -> None:
    url = values["public_url"]
    if url.startswith("https://") or values["allow_insecure_http"]:
        return
    if urlsplit(url).hostname not in LOOPBACK_HOSTS:
        reason = (
            "plain http is only allowed for localhost, 127.0.0.1 and ::1 (browsers refuse passkeys "
            "and secure cookies elsewhere); serve Quivive over https, for example behind a "
            "TLS-terminating reverse proxy: set public_url to the https address and "
            "trusted_proxies to the number of proxies; or set allow_insecure_http = true "
            "for a test installation"
        )
        raise _error("public_url", reason, url)


def _check_cookie_domain(values: Mapping[str, Any]) -> None:
    domain = values["session.cookie_domain"]
    host = urlsplit(values["public_url"]).hostname or ""
    if domain is not None and host != domain and not host.endswith("." + domain):
        reason = f"must be the host of public_url ({host}) or a parent domain of it"
        raise _error("session.cookie_domain", reason, domain)


def _check_forget_after(values: Mapping[str, Any]) -> None:
    # Forgetting a counter before its longest delay has run out would hand out free attempts.
    forget, longest = values["throttle.forget_after"], values["throttle.max_delay"]
    if forget <= longest:
        reason = f"must be longer than throttle.max_delay ({format_duration(longest)})"
        raise _error("throttle.forget_after", reason, format_duration(forget))


_CROSS_CHECKS: tuple[Callable[[Mapping[str, Any]], None], ...] = (
    _check_forget_after,
    _check_timeouts,
    _check_http,
    _check_cookie_domain,
)


# --- loading -------------------------------------------------------------------------------------


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Read defaults, then the TOML file, then ``QUIVIVE_*`` variables; raise ``ConfigError``.

    ``env`` defaults to ``os.environ``. ``config_file`` defaults to ``$QUIVIVE_CONFIG`` (an empty
    value means no file). Nothing but the TOML file is read; nothing is created.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    source = _config_path(environ, config_file)
    table = _read_toml(source) if source else {}
    mfa_rules = _mfa_rules(table.pop("mfa", None), source) if source else ()
    gate = parse_gate(table.pop("gate", None), source) if source else GateSettings()
    file_values = _flatten(table, source) if source else {}
    values: dict[str, Any] = {}
    for spec in SETTING_SPECS:
        values[spec.key] = _resolve(spec, environ, file_values, values)
    for check in _CROSS_CHECKS:
        check(values)
    return replace(_build(values, source, mfa_rules), gate=gate)


def _config_path(environ: Mapping[str, str], config_file: Path | None) -> Path | None:
    if config_file is not None:
        return Path(os.path.abspath(config_file))
    named = environ.get(CONFIG_FILE_ENV, "").strip()
    return Path(os.path.abspath(named)) if named else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: not UTF-8 ({exc.reason})") from exc


def _flatten(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """TOML tables to dotted keys ("session.idle_timeout"); unknown keys or tables are an error."""
    flat: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in table.items():
        if name in SECTION_FACTORIES:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{name}] must be a table, got {_show_raw(value)}")
            flat.update((f"{name}.{key}", item) for key, item in value.items())
        elif isinstance(value, dict) and name not in SPECS_BY_KEY:
            unknown.append(_unknown("table", name, list(SECTION_FACTORIES)))
        else:
            flat[name] = value
    unknown += [_unknown("key", key, list(SPECS_BY_KEY)) for key in flat if key not in SPECS_BY_KEY]
    if unknown:
        raise ConfigError(f"{path}: " + "; ".join(unknown), unknown=unknown)
    return flat


def _unknown(what: str, name: str, known: list[str]) -> str:
    shape = "[{}]" if what == "table" else '"{}"'
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {shape.format(close[0])}?)" if close else ""
    return f"unknown {what} {shape.format(name)}{hint}"


def _resolve(
    spec: SettingSpec,
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    resolved: Mapping[str, Any],
) -> Any:
    if spec.env in environ:
        raw: object = environ[spec.env]
    elif spec.key in file_values:
        raw = file_values[spec.key]
    else:
        raw = spec.default(resolved) if callable(spec.default) else spec.default
    try:
        return spec.kind.parse(raw)
    except ValueError as exc:
        raise _error(spec.key, str(exc), raw) from None


def _error(key: str, reason: str, raw: object) -> ConfigError:
    spec = SPECS_BY_KEY[key]
    shown = "a hidden value" if key in SECRET_KEYS else _show_raw(raw)
    return ConfigError(f"{spec.env} / {key}: {reason}, got {shown}", key=key, env=spec.env)


def _show_raw(raw: object) -> str:
    if isinstance(raw, str):
        # JSON quoting escapes line breaks, so a value cannot forge extra log lines.
        return json.dumps(redact(raw), ensure_ascii=False)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "an array"
    return f"a TOML {type(raw).__name__}"


def _build(
    values: Mapping[str, Any], source: Path | None, mfa_rules: tuple[MfaRule, ...] = ()
) -> Settings:
    top = {key: value for key, value in values.items() if "." not in key}
    sections = {
        name: factory(
            **{
                key.partition(".")[2]: value
                for key, value in values.items()
                if key.startswith(name + ".")
            }
        )
        for name, factory in SECTION_FACTORIES.items()
    }
    return Settings(**top, **sections, source=source, mfa_rules=mfa_rules)


# --- [[mfa.rules]]: an array of tables, parsed apart from the one-key-per-spec table ------------

_RULE_KEYS = ("role", "from", "grace_days", "phishing_resistant")


def _mfa_rules(raw: object, path: Path | None) -> tuple[MfaRule, ...]:
    """``[[mfa.rules]]``: role = "medecin", from = 2026-01-01, grace_days, phishing_resistant."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - {"rules"}:
        raise _rule_error(path, "mfa", "expected only [[mfa.rules]] entries in [mfa]")
    entries = raw.get("rules", [])
    if not isinstance(entries, list):
        raise _rule_error(path, "mfa.rules", "expected an array of tables ([[mfa.rules]])")
    rules = tuple(_mfa_rule(entry, f"mfa.rules[{n}]", path) for n, entry in enumerate(entries, 1))
    roles = [rule.role for rule in rules]
    for role in roles:
        if roles.count(role) > 1:
            raise _rule_error(path, "mfa.rules", f"role {role!r} has more than one rule")
    return rules


def _mfa_rule(entry: object, where: str, path: Path | None) -> MfaRule:
    if not isinstance(entry, dict):
        raise _rule_error(path, where, "expected a table")
    unknown = [key for key in entry if key not in _RULE_KEYS]
    if unknown:
        raise _rule_error(
            path, f"{where}.{unknown[0]}", "unknown key (expected " + ", ".join(_RULE_KEYS) + ")"
        )
    role = entry.get("role")
    if not isinstance(role, str) or not re.fullmatch(r"[^\s]{1,64}", role.strip()):
        raise _rule_error(path, f"{where}.role", f"expected a role name, got {_show_raw(role)}")
    raw_start = start = entry.get("from")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start.strip())
        except ValueError:
            start = None
    if not isinstance(start, date) or isinstance(start, datetime):
        raise _rule_error(
            path, f"{where}.from", f"expected a date like 2026-01-01, got {_show_raw(raw_start)}"
        )
    grace = to_int(entry.get("grace_days", 0))
    if grace is None or not 0 <= grace <= MAX_GRACE_DAYS:
        got = _show_raw(entry.get("grace_days"))
        raise _rule_error(
            path,
            f"{where}.grace_days",
            f"expected an integer between 0 and {MAX_GRACE_DAYS}, got {got}",
        )
    strict = entry.get("phishing_resistant", False)
    if not isinstance(strict, bool):
        raise _rule_error(
            path, f"{where}.phishing_resistant", f"expected true or false, got {_show_raw(strict)}"
        )
    return MfaRule(unicodedata.normalize("NFKC", role).strip().casefold(), start, grace, strict)


def _rule_error(path: Path | None, key: str, reason: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {reason}", key=key)
