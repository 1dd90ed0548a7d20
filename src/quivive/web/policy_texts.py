"""The policy settings in plain words (console): what each one is, and why a value was refused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quivive.services.policies import (
    ABOVE_MAXIMUM,
    BELOW_MINIMUM,
    IDLE_ABOVE_ABSOLUTE,
    NIST_FAILURES_MAX,
    NIST_PASSWORD_FLOOR,
    NIST_PASSWORD_MAX,
    NIST_SESSION_CAP,
    NOT_A_NUMBER,
    SPEC_BY_KEY,
    PolicyValue,
)
from quivive.web.i18n import N_

LABELS = {
    "session.aal1.idle": N_("Idle timeout of password-only sessions (AAL1)"),
    "session.aal1.absolute": N_("Longest password-only session (AAL1)"),
    "session.aal2.idle": N_("Idle timeout of two-factor sessions (AAL2)"),
    "session.aal2.absolute": N_("Longest two-factor session (AAL2)"),
    "session.aal3.idle": N_("Idle timeout of security-key sessions (AAL3)"),
    "session.aal3.absolute": N_("Longest security-key session (AAL3)"),
    "password.min_length": N_("Minimum password length"),
    "throttle.max_failures": N_(
        "Failed sign-ins in a row on an account before a password alone no longer opens it"
    ),
    "throttle.free_attempts": N_(
        "Failures on one account from one address before each next try has to wait"
    ),
    "throttle.address_free_attempts": N_(
        "Failures from one address, any account, before each next try from it has to wait"
    ),
}
UNITS = {"minutes": N_("minutes"), "characters": N_("characters"), "failures": N_("failures")}
REASONS = {
    NOT_A_NUMBER: N_("%(name)s: enter a whole number."),
    BELOW_MINIMUM: N_("%(name)s cannot be less than %(limit)s."),
    ABOVE_MAXIMUM: N_("%(name)s cannot be more than %(limit)s."),
    NIST_SESSION_CAP: N_(
        "%(name)s cannot exceed %(limit)s minutes: NIST SP 800-63B-4 sets this limit for the "
        "level, so that an unattended session ends in time."
    ),
    NIST_PASSWORD_FLOOR: N_(
        "The minimum password length cannot be below %(limit)s characters (NIST SP 800-63B-4); "
        "12 or more is recommended."
    ),
    NIST_PASSWORD_MAX: N_(
        "The minimum password length cannot exceed %(limit)s characters: a password of 64 "
        "characters must always be accepted (NIST SP 800-63B-4)."
    ),
    NIST_FAILURES_MAX: N_(
        "At most %(limit)s failed sign-ins in a row may be allowed on an account before more "
        "than a password is needed (NIST SP 800-63B-4)."
    ),
}
IDLE_TOO_LONG = N_(
    "The idle timeout cannot be longer than the longest session of the same level (%(limit)s "
    "minutes)."
)
ABSOLUTE_TOO_SHORT = N_(
    "The longest session cannot be shorter than the idle timeout of the same level (%(limit)s "
    "minutes)."
)
FROM_CONFIGURATION = N_("from the configuration")
CHANGED_BY = N_("changed here by %(who)s on %(when)s (configured: %(configured)s)")

Translate = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class SettingRow:
    key: str
    label: str
    value: int
    unit: str
    low: int
    high: int
    source: str
    overridden: bool


def rows(values: list[PolicyValue], translate: Translate) -> list[SettingRow]:
    return [_row(value, translate) for value in values]


def _row(item: PolicyValue, translate: Translate) -> SettingRow:
    spec = item.spec
    if item.changed_at is None:
        source = translate(FROM_CONFIGURATION)
    else:
        when = item.changed_at.strftime("%Y-%m-%d %H:%M UTC")
        who = item.changed_by or "?"
        source = translate(CHANGED_BY) % {"who": who, "when": when, "configured": item.configured}
    return SettingRow(
        spec.key,
        translate(LABELS[spec.key]),
        item.value,
        translate(UNITS[spec.unit]),
        spec.low,
        spec.high,
        source,
        item.changed_at is not None,
    )


def refusal(query: Mapping[str, str], translate: Translate) -> str | None:
    """The plain-words reason for a refused value, from the redirect's query (known codes only)."""
    key, reason, limit = query.get("key", ""), query.get("reason", ""), query.get("limit", "")
    if key not in SPEC_BY_KEY or not limit.isascii() or not limit.isdigit() or len(limit) > 9:
        return None
    values = {"name": translate(LABELS[key]), "limit": int(limit)}
    if reason == IDLE_ABOVE_ABSOLUTE:
        text = IDLE_TOO_LONG if key.endswith(".idle") else ABSOLUTE_TOO_SHORT
        return translate(text) % values
    known = REASONS.get(reason)
    return translate(known) % values if known else None
