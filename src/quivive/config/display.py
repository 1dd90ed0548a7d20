"""Showing the settings: ``quivive config check`` (secrets masked) and the README reference."""

from __future__ import annotations

import re
from datetime import timedelta

from quivive.config.kinds import format_duration
from quivive.config.settings import Settings
from quivive.config.specs import SECRET_KEYS, SETTING_SPECS, SettingSpec

# --- display -------------------------------------------------------------------------------------

# The password in "scheme://user:password@host": greedy up to the last "@", so an unencoded "@" or
# "/" in the password is hidden too (hiding too much beats showing a secret).
_URL_PASSWORD = re.compile(
    r"^([a-z][a-z0-9+.-]*://[^:/?#@]*:).*(@[^@]*)$", re.IGNORECASE | re.DOTALL
)
# libpq also takes the password as a query parameter.
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with any URL password replaced by "***"."""
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value)


def _display(spec: SettingSpec, value: object) -> str:
    if spec.key in SECRET_KEYS:
        return "(unset)" if value in (None, "") else "***"
    return redact(_format(value))


def _value_of(settings: Settings, key: str) -> object:
    holder: object = settings
    for part in key.split("."):
        holder = getattr(holder, part)
    return holder


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """(TOML key, environment variable, display value) per setting, secrets masked."""
    return [
        (spec.key, spec.env, _display(spec, _value_of(settings, spec.key)))
        for spec in SETTING_SPECS
    ]


def _markdown_default(default: object) -> str:
    return "(unset)" if default is None else f"`{_format(default)}`"


def reference_markdown() -> str:
    """The configuration reference as a markdown table, for the README."""
    lines = [
        "| TOML key | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for spec in SETTING_SPECS:
        cells = (
            f"`{spec.key}`",
            f"`{spec.env}`",
            spec.default_doc or _markdown_default(spec.default),
            f"{spec.meaning}. Accepts {spec.kind.expected}.",
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
