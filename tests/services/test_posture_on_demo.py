"""The posture report on the demo establishment (``quivive demo``'s seeder), check by check.

The demo is built with known weaknesses and strengths (``domain.demo_establishment``,
``services.demo_emergency``, ``services.demo_history``). Every check of ``domain.posture`` has
its expected outcome on it, with the reason, and then the other outcome after one small change
made through the real services on a copy of the same seeded database: each check's pass and fail
branches run on the demo's data, not only on made-up figures. Four settings cannot be weakened
through Quivive at all (the console and the configuration refuse the value); for those the test
shows the refusal, then the fail branch on the demo's figures with that one setting replaced.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.demo_establishment import DemoFactor
from quivive.domain.emergency import ReviewStatus
from quivive.domain.posture import CHECK_IDS, REPORT_WINDOW, Settings, Status, evaluate
from quivive.errors import ConfigError
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor
from quivive.services.demo_seed import DemoSeed, seed_demo
from quivive.services.mfa import Origin
from quivive.services.policies import PolicyRefused
from quivive.services.posture_report import PostureReport
from quivive.storage.tables import audit_records
from quivive.web.pages import Pages
from quivive.web.posture_render import render_html, render_json
from support.posture import (
    PASSWORD,
    WEAK_PASSWORD,
    add_passkey,
    chained_services,
    enrol_totp,
    sign_in,
)
from support.quivive import make_settings

NOW = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)
ACTOR = "posture-test"
PASS, FAIL = Status.PASS, Status.FAIL

# Each check's outcome on the demo, and why the demo makes it so.
EXPECTED: Mapping[str, tuple[Status, str]] = {
    "password_only": (FAIL, "a third of the staff still signs in with a password alone in 2026"),
    "password_only_overdue": (
        FAIL,
        "5 physicians/nurses past their role's deadline never enrolled",
    ),
    "mfa_rule_per_role": (PASS, "the seeder sets an MFA rule for each of the six roles"),
    "phishing_resistant_share": (FAIL, "passkeys are a few physicians' and admins': ~20 %, not 50"),
    "admins_phishing_resistant": (
        FAIL,
        "the featured administrator, sophie.garnier, has TOTP only",
    ),
    "console_requires_passkey": (
        PASS,
        "the demo keeps the default: the console asks for a passkey",
    ),
    "dormant_accounts": (
        FAIL,
        "three accounts (the seeder's 'dormant' twist) last signed in >90 d",
    ),
    "blocklisted_passwords": (PASS, "every account has the demo password, on no blocklist"),
    "attacks": (FAIL, "the month's history replays a password-spraying night"),
    "throttling_limit": (PASS, "the default 100 consecutive failures, NIST's maximum"),
    "emergency_reviewed": (FAIL, "the nurse's emergency access of 9 days ago is still pending"),
    "emergency_unjustified": (PASS, "the one reviewed use, the physician's, was found justified"),
    "audit_chain": (PASS, "every seeded event went through the real hash-chained audit"),
    "idle_timeout": (PASS, "the default 15 minutes, under NIST's 1 h for AAL2"),
    "absolute_timeout": (PASS, "the default 12 hours, under NIST's 24 h for AAL2"),
    "password_length": (PASS, "the default 12 characters"),
    "password_hashing": (PASS, "the default Argon2id m=19456 KiB t=2 p=1, the OWASP floor"),
}


@dataclass(frozen=True)
class Demo:
    folder: Path  # the seeded data folder, copied by each test that changes something
    seed: DemoSeed
    report: PostureReport


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder, clock = tmp_path_factory.mktemp("demo"), FrozenClock(NOW)
    with chained_services(folder, "sqlite", clock) as services:
        seeded = seed_demo(services, clock, app_url=None)
        report = services.posture.build()
    return Demo(folder, seeded, report)


@pytest.fixture(scope="module")
def report(demo: Demo) -> PostureReport:
    return demo.report


@dataclass
class Copy:
    services: Services
    clock: FrozenClock
    demo: Demo


@contextmanager
def demo_copy(demo: Demo, tmp_path: Path, settings: Mapping[str, str]) -> Iterator[Copy]:
    """Services on a copy of the seeded folder (database, keys), at the demo's now."""
    folder = tmp_path / "demo"
    shutil.copytree(demo.folder, folder)
    clock = FrozenClock(NOW)
    services = build_services(make_settings(folder, **settings), clock=clock)
    try:
        yield Copy(services, clock, demo)
    finally:
        services.close()


def status_of(report: PostureReport, check: str) -> Status:
    return next(result.status for result in report.assessment.results if result.id == check)


# --- each check's outcome on the demo -------------------------------------------------------


def test_every_check_has_an_expected_outcome_on_the_demo() -> None:
    assert list(EXPECTED) == list(CHECK_IDS)


@pytest.mark.parametrize("check", CHECK_IDS)
def test_the_demo_passes_or_fails_each_check_for_its_known_reason(
    report: PostureReport, check: str
) -> None:
    expected, reason = EXPECTED[check]

    assert status_of(report, check) is expected, reason


def test_the_demo_figures_behind_the_failures(report: PostureReport) -> None:
    figures = report.figures

    assert figures.password_only.past_deadline == len(figures.password_only.past_deadline_names)
    assert figures.admins_without_phishing_resistant == ["sophie.garnier"]
    assert figures.dormant == len(figures.dormant_names) == 3
    assert (figures.attacks.spraying, figures.attacks.stuffing) == (1, 0)
    assert (figures.emergency.overdue, figures.emergency.justified) == (1, 1)
    assert figures.audit_intact
    assert 0 < report.score < 100


# --- the other branch, by one change through the real services -------------------------------


def _enrol_every_password_only(copy: Copy) -> None:
    for account in copy.demo.seed.accounts:
        if not account.person.has_mfa and not account.person.disabled:
            enrol_totp(copy.services, account.user, copy.clock)


def _enrol_the_overdue(copy: Copy) -> None:
    for name in copy.demo.report.figures.password_only.past_deadline_names:
        enrol_totp(copy.services, copy.services.accounts.get(name), copy.clock)


def _passkeys_for_half_the_staff(copy: Copy) -> None:
    overall = copy.demo.report.figures.overall
    missing = math.ceil(overall.active / 2) - overall.phishing_resistant
    without = [
        account.user
        for account in copy.demo.seed.accounts
        if DemoFactor.PASSKEY not in account.person.factors and not account.person.disabled
    ]
    for user in without[:missing]:
        add_passkey(copy.services, user, synced=False)


def _passkeys_for_the_admins(copy: Copy) -> None:
    for name in copy.demo.report.figures.admins_without_phishing_resistant:
        add_passkey(copy.services, copy.services.accounts.get(name), synced=False)


def _disable_the_dormant(copy: Copy) -> None:
    for name in copy.demo.report.figures.dormant_names:
        copy.services.accounts.disable(name, actor=ACTOR)


def _a_quiet_month_later(copy: Copy) -> None:
    copy.clock.set(NOW + REPORT_WINDOW + timedelta(days=1))


def _review_the_pending(status: ReviewStatus) -> Callable[[Copy], None]:
    def review(copy: Copy) -> None:
        officer = copy.services.accounts.get("sophie.garnier")
        actor = AdminActor(officer.username, frozenset(officer.roles), officer.id, Origin())
        for access in copy.services.emergency.overdue(actor):
            copy.services.emergency.review(actor, access.id, status.value, "Revu en test.")

    return review


def _a_role_without_a_rule(copy: Copy) -> None:
    new = NewAccount("paul.pharma", PASSWORD, roles=("pharmacien",))
    copy.services.accounts.create(new, actor=ACTOR)


def _an_imported_blocklisted_password(copy: Copy) -> None:
    user = copy.services.accounts.get("ines.moreau")
    copy.services.users.set_password_hash(user.id, copy.services.hasher.hash(WEAK_PASSWORD))
    sign_in(copy.services, "ines.moreau", WEAK_PASSWORD)


def _tamper_with_the_audit(copy: Copy) -> None:
    # Not through the services: the check exists for whoever edits the table behind them.
    with copy.services.engine.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.sequence == 2).values(actor="x"))


def _shorter_passwords(copy: Copy) -> None:
    copy.services.policies.set("password.min_length", "8", actor=ACTOR)


def _nothing(_copy: Copy) -> None:
    return None


@dataclass(frozen=True)
class Change:
    why: str
    apply: Callable[[Copy], None]
    settings: Mapping[str, str] = field(default_factory=dict)


CHANGES: Mapping[str, Change] = {
    "password_only": Change("every password-only account enrols TOTP", _enrol_every_password_only),
    "password_only_overdue": Change("the overdue ones enrol TOTP", _enrol_the_overdue),
    "mfa_rule_per_role": Change("a pharmacist joins, a role with no rule", _a_role_without_a_rule),
    "phishing_resistant_share": Change(
        "half the staff gets a passkey", _passkeys_for_half_the_staff
    ),
    "admins_phishing_resistant": Change("the admin registers a passkey", _passkeys_for_the_admins),
    "console_requires_passkey": Change(
        "the file lets the console accept TOTP",
        _nothing,
        {"admin_require_phishing_resistant": "false"},
    ),
    "dormant_accounts": Change("the dormant accounts are disabled", _disable_the_dormant),
    "blocklisted_passwords": Change(
        "an imported blocklisted password is used to sign in", _an_imported_blocklisted_password
    ),
    "attacks": Change("a month later, no new attack", _a_quiet_month_later),
    "emergency_reviewed": Change(
        "the officer reviews the pending use", _review_the_pending(ReviewStatus.JUSTIFIED)
    ),
    "emergency_unjustified": Change(
        "the pending use is found unjustified", _review_the_pending(ReviewStatus.UNJUSTIFIED)
    ),
    "audit_chain": Change("a row of the audit table is edited", _tamper_with_the_audit),
    "password_length": Change("the console lowers the length to 8", _shorter_passwords),
}
# Settings Quivive refuses to weaken: the console policy key, its first refused value, and the
# demo's settings as the report would see them had the value been taken.
REFUSED: Mapping[str, tuple[str, str, Callable[[Settings], Settings]]] = {
    "idle_timeout": (
        "session.aal2.idle",
        "61",
        lambda s: replace(s, idle_timeout=timedelta(minutes=61)),
    ),
    "absolute_timeout": (
        "session.aal2.absolute",
        "1441",
        lambda s: replace(s, absolute_timeout=timedelta(minutes=1441)),
    ),
    "throttling_limit": ("throttle.max_failures", "101", lambda s: replace(s, max_failures=101)),
}


def test_each_check_has_its_other_branch_shown() -> None:
    assert sorted([*CHANGES, *REFUSED, "password_hashing"]) == sorted(CHECK_IDS)


@pytest.mark.parametrize("check", sorted(CHANGES))
def test_one_change_on_the_demo_gives_the_other_outcome(
    demo: Demo, tmp_path: Path, check: str
) -> None:
    change = CHANGES[check]
    with demo_copy(demo, tmp_path, change.settings) as copy:
        change.apply(copy)
        after = copy.services.posture.build()

    assert status_of(after, check) is not EXPECTED[check][0], change.why


def test_reviewing_the_pending_use_as_justified_leaves_nothing_unjustified(
    demo: Demo, tmp_path: Path
) -> None:
    with demo_copy(demo, tmp_path, {}) as copy:
        _review_the_pending(ReviewStatus.JUSTIFIED)(copy)
        after = copy.services.posture.build()

    assert status_of(after, "emergency_reviewed") is PASS
    assert status_of(after, "emergency_unjustified") is PASS
    assert after.score > demo.report.score


@pytest.mark.parametrize("check", sorted(REFUSED))
def test_a_setting_the_console_refuses_would_fail_the_check(
    demo: Demo, tmp_path: Path, check: str
) -> None:
    key, raw, weaken = REFUSED[check]
    with demo_copy(demo, tmp_path, {}) as copy, pytest.raises(PolicyRefused):
        copy.services.policies.set(key, raw, actor=ACTOR)
    figures = demo.report.figures

    results = evaluate(replace(figures, settings=weaken(figures.settings)))

    assert next(r.status for r in results if r.id == check) is FAIL


def test_hashing_below_the_floor_is_refused_and_would_fail_the_check(
    demo: Demo, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="hash_memory_kib"):
        make_settings(tmp_path, password_hash_memory_kib="19455")
    figures = demo.report.figures
    weak = replace(figures.settings, hash_memory_kib=19455)

    results = evaluate(replace(figures, settings=weak))

    assert next(r.status for r in results if r.id == "password_hashing") is FAIL


# --- the rendered report --------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_demo_report_renders(report: PostureReport, language: str) -> None:
    pages = Pages("Centre hospitalier de Valmont")

    html = render_html(report, language, pages)
    data = json.loads(render_json(report, language, pages))

    assert html.count('class="badge fail"') == len(report.assessment.failed)
    assert data["score"] == report.score
    for check in CHECK_IDS:
        assert f'id="check-{check}"' in html
