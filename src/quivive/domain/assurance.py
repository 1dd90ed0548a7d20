"""Assurance levels (NIST SP 800-63B-4) computed from RFC 8176 ``amr`` values.

A session records *how* the person proved who they are as a set of RFC 8176 authentication method
references; the level follows from that set alone, so it can be recomputed whenever a factor is
added (second factor, step-up) without remembering anything else.

How each value counts (RFC 8176 section 2; categories as NIST "something you know / have / are"):

=========  ==========================================================  ===========
``pwd``    password                                                    knowledge
``pin``    PIN or pattern (e.g. the user verification of a key)        knowledge
``otp``    one-time password: TOTP code or single-use recovery code    possession
``swk``    proof of possession of a software-secured key (a synced,    possession
           backup-eligible passkey)                                    (phishing-resistant)
``hwk``    proof of possession of a hardware-secured key (a            possession
           device-bound passkey or security key)                       (phishing-resistant)
``user``   the key verified its user (WebAuthn UV flag; the RP cannot  inherence
           tell a fingerprint from a PIN, so Quivive uses ``user``)
``mfa``    added by Quivive when two or more categories are present    —
=========  ==========================================================  ===========

Levels (REQUIREMENTS.md, "Factors and assurance levels"):
- AAL1: one category.
- AAL2: two distinct categories (password + TOTP, recovery code or passkey; or a passkey with UV).
- AAL3: AAL2 *and* a phishing-resistant, device-bound, user-verifying key: ``hwk`` with ``user``
  or ``pin``. NIST: "synced passkeys ... accepted up to AAL2; AAL3 requires a device-bound key".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from quivive.domain.sessions import AssuranceLevel

MFA = "mfa"


class Category(enum.Enum):
    KNOWLEDGE = "knowledge"
    POSSESSION = "possession"
    INHERENCE = "inherence"


# RFC 8176 values Quivive produces or accepts, and the factor category each one proves.
AMR_CATEGORIES: dict[str, Category] = {
    "pwd": Category.KNOWLEDGE,
    "pin": Category.KNOWLEDGE,
    "otp": Category.POSSESSION,
    "swk": Category.POSSESSION,
    "hwk": Category.POSSESSION,
    "user": Category.INHERENCE,
}
# Keys proved by a signature over the origin (WebAuthn): a phishing site cannot relay them.
PHISHING_RESISTANT_AMR = frozenset({"hwk", "swk"})
USER_VERIFICATION_AMR = frozenset({"user", "pin"})
# Stable display order, so equal sets always serialise the same way.
_ORDER = ("pwd", "pin", "otp", "swk", "hwk", "user", MFA)


@dataclass(frozen=True, slots=True)
class Assurance:
    level: AssuranceLevel
    amr: tuple[str, ...]

    def meets(self, required: AssuranceLevel) -> bool:
        return self.level >= required

    @property
    def phishing_resistant(self) -> bool:
        return bool(PHISHING_RESISTANT_AMR.intersection(self.amr))


@dataclass(frozen=True, slots=True)
class Verification:
    """What a factor reports when it accepts a proof: which factor, credential and amr values."""

    factor: str  # the SecondFactor's name: "totp", "recovery_code", "passkey"
    amr: tuple[str, ...]  # the RFC 8176 values this proof adds, e.g. ("otp",) or ("hwk", "user")
    credential_id: str | None = None  # the enrolled credential that was used, for the audit


def assess(amr: Iterable[str]) -> Assurance:
    """The level proved by these RFC 8176 values, and the normalised ``amr`` (with ``mfa``).

    Unknown values are kept in ``amr`` (an upstream identity provider may send them) but prove
    nothing here.
    """
    values = set(amr) - {MFA}
    categories = {AMR_CATEGORIES[value] for value in values if value in AMR_CATEGORIES}
    if len(categories) >= 2:
        values.add(MFA)
    return Assurance(level=_level(values, len(categories)), amr=_ordered(values))


def combine(current: Iterable[str], added: Iterable[str]) -> Assurance:
    """The assurance of a session that already proved ``current`` and now proves ``added``."""
    return assess([*current, *added])


def _level(values: set[str], category_count: int) -> AssuranceLevel:
    if category_count < 2:
        return AssuranceLevel.AAL1
    if "hwk" in values and USER_VERIFICATION_AMR.intersection(values):
        return AssuranceLevel.AAL3
    return AssuranceLevel.AAL2


def _ordered(values: set[str]) -> tuple[str, ...]:
    known = [value for value in _ORDER if value in values]
    return (*known, *sorted(values.difference(_ORDER)))
