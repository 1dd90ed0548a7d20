"""The MFA policy: which roles must use a second factor, from when, and of which kind.

A rule says "role R needs a second factor from date D, after G days of grace". The deadline is
D + G days (midnight UTC). Before the deadline, a user of that role without a second factor is
nudged at sign-in, with the days left and a skip button; from the deadline on, enrolment comes
before anything else. A rule can also demand phishing-resistant factors only (passkeys, security
keys): then TOTP and recovery codes no longer satisfy it.

Source: ANS RIE FAQ ("from 1 January 2026, password alone is not compliant"), NIST SP 800-63B-4.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

MAX_GRACE_DAYS = 3650


class Enforcement(enum.Enum):
    NONE = "none"  # no rule for any of the user's roles
    NUDGE = "nudge"  # a rule, deadline not reached: suggest enrolment, allow skipping
    REQUIRED = "required"  # deadline passed: a second factor is mandatory


@dataclass(frozen=True, slots=True)
class MfaRule:
    role: str
    enforce_from: date
    grace_days: int = 0
    phishing_resistant: bool = False

    @property
    def deadline(self) -> datetime:
        start = datetime.combine(self.enforce_from, time(0, 0), tzinfo=UTC)
        return start + timedelta(days=self.grace_days)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What the policy asks of one user at one moment."""

    enforcement: Enforcement
    deadline: datetime | None = None  # the earliest deadline among the user's rules
    phishing_resistant: bool = False  # some rule of the user's roles demands it

    @property
    def required(self) -> bool:
        return self.enforcement is Enforcement.REQUIRED

    def days_left(self, now: datetime) -> int:
        """Whole days until the deadline, rounded up (so "1 day left" on the last day)."""
        if self.deadline is None or now >= self.deadline:
            return 0
        remaining = self.deadline - now
        return remaining.days + (1 if remaining % timedelta(days=1) else 0)


NO_REQUIREMENT = Requirement(Enforcement.NONE)


def requirement_for(roles: Iterable[str], rules: Iterable[MfaRule], now: datetime) -> Requirement:
    """The strictest requirement among the rules matching ``roles`` at ``now``."""
    role_set = set(roles)
    matching = [rule for rule in rules if rule.role in role_set]
    if not matching:
        return NO_REQUIREMENT
    deadline = min(rule.deadline for rule in matching)
    enforcement = Enforcement.REQUIRED if now >= deadline else Enforcement.NUDGE
    phishing_resistant = any(rule.phishing_resistant for rule in matching)
    return Requirement(enforcement, deadline, phishing_resistant)


def with_enrolment_mark(requirement: Requirement, marked_at: datetime | None) -> Requirement:
    """``requirement`` for a user an administrator marked to re-enrol at ``marked_at`` (None: not
    marked): the mark acts as a deadline already past, so enrolment comes before anything else,
    even for a role without a rule or still in grace; a passkey-only rule stays passkey-only."""
    if marked_at is None or requirement.required:
        return requirement
    return replace(requirement, enforcement=Enforcement.REQUIRED, deadline=marked_at)
