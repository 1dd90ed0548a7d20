"""The posture report's checks: figures in, results and a score out (no I/O).

Each check compares one figure or setting with a rule of REQUIREMENTS.md and says pass or fail.
The checks are a table (``CHECKS``): an id, a weight and a predicate over ``Figures``. The texts
that explain them (the rule, its source, the action to take) live with the other translated texts
in ``quivive.web.posture_texts``, keyed by the same id.

The score is the weighted share of checks passed, 0 to 100. Weights follow what an intruder
gains from a failure: 20 for accounts anyone with a stolen password can open, 15 for the
administrators' keys to everything and for evidence (the audit chain), 10 for accounts and
uses someone must act on, 5 for settings and hygiene.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from quivive.domain.passwords import DEFAULT_MIN_LENGTH, MIN_MEMORY_KIB, MIN_TIME_COST
from quivive.domain.sessions import LEVEL_CAPS, AssuranceLevel

# ANS RIE FAQ: "from 1 January 2026, password alone is not compliant", even inside the walls.
RIE_PASSWORD_ALONE_END = date(2026, 1, 1)
# No sign-in for this long: the account serves nobody but whoever finds its password.
DORMANT_AFTER = timedelta(days=90)
# Attack, throttle and emergency figures cover the last month.
REPORT_WINDOW = timedelta(days=30)
# An emergency use is reviewed within a week (HIPAA emergency access procedure: after the fact,
# promptly); older pending ones are overdue.
REVIEW_WITHIN = timedelta(days=7)
# Quivive's target, not a rule: half of the accounts on a phishing-resistant factor (passkey or
# security key) — the rest can still be phished with a fake sign-in page (NIST SP 800-63B-4).
PHISHING_RESISTANT_TARGET = 0.5
# NIST SP 800-63B-4: at most 100 consecutive failed attempts before more than a password is asked.
MAX_FAILURES_ALLOWED = 100
MAX_IDLE_AAL2, MAX_ABSOLUTE_AAL2 = LEVEL_CAPS[AssuranceLevel.AAL2]
# Shared care workstations (REQUIREMENTS, Sessions): 15 minutes of idle time.
SHARED_WORKSTATION_IDLE = timedelta(minutes=15)


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class RoleCoverage:
    role: str | None  # None: every active account
    active: int
    with_mfa: int
    phishing_resistant: int

    @property
    def password_only(self) -> int:
        return self.active - self.with_mfa


@dataclass(frozen=True, slots=True)
class PasswordOnly:
    """Password-only active accounts, split by where their role's MFA deadline stands."""

    past_deadline: int = 0  # a rule's deadline has passed: they must enrol at next sign-in
    in_grace: int = 0  # a rule applies, deadline still ahead
    no_rule: int = 0  # no MFA rule for any of their roles
    past_deadline_names: Sequence[str] = ()  # the first of them, by name

    @property
    def total(self) -> int:
        return self.past_deadline + self.in_grace + self.no_rule


@dataclass(frozen=True, slots=True)
class Emergency:
    """Emergency access uses in the report window, and the review queue (all time)."""

    uses: int = 0
    pending: int = 0
    overdue: int = 0  # pending for longer than REVIEW_WITHIN
    justified: int = 0
    unjustified: int = 0


@dataclass(frozen=True, slots=True)
class Attacks:
    throttles: int = 0  # throttle.triggered in the window
    spraying: int = 0  # attack.spraying
    stuffing: int = 0  # attack.stuffing


@dataclass(frozen=True, slots=True)
class AuthenticatorKind:
    """One line of the inventory: a kind of authenticator and how many are registered."""

    kind: str  # passkey_synced, passkey_device_bound, totp, recovery_codes, password_only
    accounts: int
    credentials: int


@dataclass(frozen=True, slots=True)
class KeyModel:
    aaguid: str
    name: str | None  # None when the AAGUID is not in KNOWN_AAGUIDS
    synced: bool
    credentials: int


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings the report checks (a copy: the domain reads no configuration)."""

    idle_timeout: timedelta
    absolute_timeout: timedelta
    password_min_length: int
    hash_memory_kib: int
    hash_time_cost: int
    hash_parallelism: int
    max_failures: int
    console_requires_phishing_resistant: bool


@dataclass(frozen=True, slots=True)
class Figures:
    at: datetime
    coverage: Sequence[RoleCoverage]  # overall first, then one per role
    password_only: PasswordOnly
    roles_without_rule: Sequence[str]  # roles held by active accounts with no MFA rule
    admins: int
    admins_without_phishing_resistant: Sequence[str]  # usernames
    dormant: int
    blocklisted: int
    attacks: Attacks
    emergency: Emergency
    audit_intact: bool
    audit_checked: int
    settings: Settings
    inventory: Sequence[AuthenticatorKind] = ()
    key_models: Sequence[KeyModel] = ()
    # The first accounts by name behind ``dormant`` and ``blocklisted``, for the actions.
    dormant_names: Sequence[str] = ()
    blocklisted_names: Sequence[str] = ()

    @property
    def overall(self) -> RoleCoverage:
        return self.coverage[0] if self.coverage else RoleCoverage(None, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    weight: int
    passes: Callable[[Figures], bool]
    value: Callable[[Figures], str]  # the measured figure, language-neutral (numbers, units)


@dataclass(frozen=True, slots=True)
class CheckResult:
    id: str
    weight: int
    status: Status
    value: str

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS


@dataclass(frozen=True, slots=True)
class Trend:
    previous_score: int | None  # None: no report kept before
    previous_at: datetime | None
    fixed: tuple[str, ...] = ()  # check ids failing last time, passing now
    broken: tuple[str, ...] = ()  # passing last time, failing now

    def delta(self, score: int) -> int | None:
        return None if self.previous_score is None else score - self.previous_score


@dataclass(frozen=True, slots=True)
class Assessment:
    results: tuple[CheckResult, ...]
    score: int
    trend: Trend = field(default_factory=lambda: Trend(None, None))

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.passed)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * _share(part, whole))} %"


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


def _rie_in_force(figures: Figures) -> bool:
    return figures.at.date() >= RIE_PASSWORD_ALONE_END


CHECKS: tuple[Check, ...] = (
    Check(
        "password_only",
        20,
        lambda f: f.password_only.total == 0 or not _rie_in_force(f),
        lambda f: f"{f.password_only.total} / {f.overall.active}",
    ),
    Check(
        "password_only_overdue",
        10,
        lambda f: f.password_only.past_deadline == 0,
        lambda f: str(f.password_only.past_deadline),
    ),
    Check(
        "mfa_rule_per_role",
        10,
        lambda f: not f.roles_without_rule,
        lambda f: ", ".join(f.roles_without_rule) or "0",
    ),
    Check(
        "phishing_resistant_share",
        10,
        lambda f: (
            _share(f.overall.phishing_resistant, f.overall.active) >= PHISHING_RESISTANT_TARGET
        ),
        lambda f: _percent(f.overall.phishing_resistant, f.overall.active),
    ),
    Check(
        "admins_phishing_resistant",
        15,
        lambda f: not f.admins_without_phishing_resistant,
        lambda f: f"{len(f.admins_without_phishing_resistant)} / {f.admins}",
    ),
    Check(
        "console_requires_passkey",
        5,
        lambda f: f.settings.console_requires_phishing_resistant,
        lambda f: "on" if f.settings.console_requires_phishing_resistant else "off",
    ),
    Check("dormant_accounts", 5, lambda f: f.dormant == 0, lambda f: str(f.dormant)),
    Check("blocklisted_passwords", 10, lambda f: f.blocklisted == 0, lambda f: str(f.blocklisted)),
    Check(
        "attacks",
        5,
        lambda f: f.attacks.spraying + f.attacks.stuffing == 0,
        lambda f: f"{f.attacks.spraying} + {f.attacks.stuffing}",
    ),
    Check(
        "throttling_limit",
        5,
        lambda f: f.settings.max_failures <= MAX_FAILURES_ALLOWED,
        lambda f: str(f.settings.max_failures),
    ),
    Check(
        "emergency_reviewed",
        10,
        lambda f: f.emergency.overdue == 0,
        lambda f: f"{f.emergency.overdue} / {f.emergency.pending}",
    ),
    Check(
        "emergency_unjustified",
        5,
        lambda f: f.emergency.unjustified == 0,
        lambda f: str(f.emergency.unjustified),
    ),
    Check(
        "audit_chain",
        15,
        lambda f: f.audit_intact,
        lambda f: f"{f.audit_checked}",
    ),
    Check(
        "idle_timeout",
        5,
        lambda f: f.settings.idle_timeout <= MAX_IDLE_AAL2,
        lambda f: _minutes(f.settings.idle_timeout),
    ),
    Check(
        "absolute_timeout",
        5,
        lambda f: f.settings.absolute_timeout <= MAX_ABSOLUTE_AAL2,
        lambda f: _minutes(f.settings.absolute_timeout),
    ),
    Check(
        "password_length",
        5,
        lambda f: f.settings.password_min_length >= DEFAULT_MIN_LENGTH,
        lambda f: str(f.settings.password_min_length),
    ),
    Check(
        "password_hashing",
        5,
        lambda f: (
            f.settings.hash_memory_kib >= MIN_MEMORY_KIB
            and f.settings.hash_time_cost >= MIN_TIME_COST
            and f.settings.hash_parallelism >= 1
        ),
        lambda f: (
            f"m={f.settings.hash_memory_kib} t={f.settings.hash_time_cost} "
            f"p={f.settings.hash_parallelism}"
        ),
    ),
)
CHECK_IDS = tuple(check.id for check in CHECKS)


def evaluate(figures: Figures, checks: Sequence[Check] = CHECKS) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(
            check.id,
            check.weight,
            Status.PASS if check.passes(figures) else Status.FAIL,
            check.value(figures),
        )
        for check in checks
    )


def score(results: Sequence[CheckResult]) -> int:
    """The weighted share of checks passed, 0..100 (100 when there is nothing to check)."""
    total = sum(result.weight for result in results)
    if total == 0:
        return 100
    passed = sum(result.weight for result in results if result.passed)
    return round(100 * passed / total)


@dataclass(frozen=True, slots=True)
class KeptReport:
    """A report from the history: when, its score and each check's status."""

    at: datetime
    score: int
    statuses: Mapping[str, Status]


def trend(results: Sequence[CheckResult], previous: KeptReport | None) -> Trend:
    if previous is None:
        return Trend(None, None)
    before = previous.statuses
    fixed = tuple(r.id for r in results if r.passed and before.get(r.id) is Status.FAIL)
    broken = tuple(r.id for r in results if not r.passed and before.get(r.id) is Status.PASS)
    return Trend(previous.score, previous.at, fixed, broken)


def assess(figures: Figures, previous: KeptReport | None = None) -> Assessment:
    results = evaluate(figures)
    return Assessment(results, score(results), trend(results, previous))


# Authenticator models by AAGUID, for the inventory. From the community list
# github.com/passkeydeveloper/passkey-authenticator-aaguids; unknown ones are shown by AAGUID.
KNOWN_AAGUIDS: Mapping[str, str] = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (managed)",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series",
    "ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 Series",
    "fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 Series",
    "2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 Series",
}
NO_AAGUID = "00000000-0000-0000-0000-000000000000"


def key_model_name(aaguid: str) -> str | None:
    return KNOWN_AAGUIDS.get(aaguid.lower())
