"""After an administrator's factor reset the user must enrol again, whatever their role's rule."""

from __future__ import annotations

from datetime import date

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import User
from quivive.protocols import totp
from quivive.services.mfa import Origin, Step
from support.admin_console import actor, add_user
from support.quivive import RecordingAudit
from support.statements import executed_statements

ORIGIN = Origin("192.0.2.10", "pytest", "req-1")


def enrol_totp(services: Services, user: User, clock: FrozenClock) -> None:
    pending = services.totp.begin(user.id, user.username)
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    assert services.totp.confirm(user.id, code, "Phone") is not None


def reset(services: Services, user: User) -> User:
    root = add_user(services, "root", "admin")
    services.admin.reset_factors(actor(root), user.id, "phone reported stolen")
    return services.users.get(user.id)


def test_reset_puts_a_user_without_a_rule_at_the_enrolment_wall(
    sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    enrol_totp(sqlite_services, nina, clock)

    nina = reset(sqlite_services, nina)

    assert nina.enrolment_required_at == clock.now()
    standing = sqlite_services.mfa.standing(nina)
    assert standing.step is Step.ENROL_REQUIRED
    assert standing.requirement.required
    event_ = next(e for e in audit.events if e.action == "factors.reset")
    assert event_.details["reason"] == "phone reported stolen"
    assert event_.details["enrolment_required"] == "yes"


def test_a_confirmed_totp_lifts_the_mark_once_and_is_audited(
    sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    nina = reset(sqlite_services, add_user(sqlite_services, "nina", "nurse"))
    enrol_totp(sqlite_services, nina, clock)

    assert sqlite_services.mfa.factor_enrolled(nina, "totp", ORIGIN)
    assert not sqlite_services.mfa.factor_enrolled(nina, "totp", ORIGIN)  # already lifted

    nina = sqlite_services.users.get(nina.id)
    assert not nina.must_enrol
    assert sqlite_services.mfa.standing(nina).step is Step.SECOND_FACTOR  # owes the new TOTP
    done = [e for e in audit.events if e.action == "enrolment.completed"]
    assert [(e.subject, e.details["factor"], e.request_id) for e in done] == [
        ("nina", "totp", "req-1")
    ]


def test_recovery_codes_or_an_unconfirmed_totp_do_not_lift_the_mark(
    sqlite_services: Services,
) -> None:
    nina = reset(sqlite_services, add_user(sqlite_services, "nina", "nurse"))
    sqlite_services.recovery_codes.generate(nina.id)
    sqlite_services.totp.begin(nina.id, nina.username)

    assert not sqlite_services.mfa.factor_enrolled(nina, "recovery_code", ORIGIN)
    assert not sqlite_services.mfa.factor_enrolled(nina, "totp", ORIGIN)
    assert sqlite_services.users.get(nina.id).must_enrol


def test_a_passkey_only_rule_in_grace_still_applies_to_a_marked_user(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    rule = MfaRule("medecin", date(2026, 2, 1), phishing_resistant=True)  # after the clock's day
    sqlite_services.mfa_policy.set_rule(rule, actor="test")
    marie = reset(sqlite_services, add_user(sqlite_services, "marie", "medecin"))
    enrol_totp(sqlite_services, marie, clock)

    assert not sqlite_services.mfa.factor_enrolled(marie, "totp", ORIGIN)
    standing = sqlite_services.mfa.standing(marie)
    assert standing.requirement.phishing_resistant
    assert standing.step is Step.SECOND_FACTOR  # prove the TOTP, then the wall asks a passkey
    assert sqlite_services.users.get(marie.id).must_enrol


def test_the_mark_costs_the_sign_in_no_query(sqlite_services: Services) -> None:
    # The mark travels on the user row the sign-in has already read.
    plain = add_user(sqlite_services, "nina", "nurse")
    marked = reset(sqlite_services, add_user(sqlite_services, "marc", "nurse"))
    sqlite_services.mfa.standing(plain)  # warm the rules cache

    with executed_statements(sqlite_services.engine) as for_plain:
        sqlite_services.mfa.standing(plain)
    with executed_statements(sqlite_services.engine) as for_marked:
        sqlite_services.mfa.standing(marked)

    assert len(for_marked) == len(for_plain)
