from datetime import UTC, date, datetime, timedelta

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.assurance import Verification
from quivive.domain.mfa_policy import Enforcement, MfaRule
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import User
from quivive.errors import LastFactorRequired, ReauthenticationRequired, SessionInvalid
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin, Step
from support.quivive import RecordingAudit

ORIGIN = Origin("192.0.2.10", "pytest", "req-1")
TOTP = Verification(factor="totp", amr=("otp",), credential_id="1")


def make_user(services: Services, *roles: str) -> User:
    return services.accounts.create(NewAccount("alice", roles=roles), actor="test")


def password_session(services: Services, user: User) -> str:
    return services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )


def enrol_totp(services: Services, user: User, clock: FrozenClock) -> str:
    pending = services.totp.begin(user.id, user.username)
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    credential = services.totp.confirm(user.id, code, "Phone")
    assert credential is not None
    return credential


def step_of(services: Services, user: User, token: str, **kwargs: AssuranceLevel) -> Step:
    session = services.sessions.find_live(token)
    return services.mfa.standing(user, session, **kwargs).step


# --- grace period (FrozenClock: 2026-01-15 08:00 UTC) -------------------------------------------


def set_rule(services: Services, start: date, grace_days: int = 0, **kw: bool) -> None:
    services.mfa_policy.set_rule(MfaRule("medecin", start, grace_days, **kw), actor="test")


def test_before_the_deadline_a_password_only_user_is_nudged(services: Services) -> None:
    set_rule(services, date(2026, 1, 10), grace_days=10)  # deadline 2026-01-20
    user = make_user(services, "medecin")
    token = password_session(services, user)
    standing = services.mfa.standing(user, services.sessions.find_live(token))

    assert standing.step is Step.PROCEED
    assert standing.requirement.enforcement is Enforcement.NUDGE
    assert standing.requirement.days_left(services.clock.now()) == 5


def test_after_the_deadline_enrolment_is_required(services: Services, clock: FrozenClock) -> None:
    set_rule(services, date(2026, 1, 10), grace_days=10)
    user = make_user(services, "medecin")
    clock.set(datetime(2026, 1, 19, 23, 59, tzinfo=UTC))
    token = password_session(services, user)
    assert step_of(services, user, token) is Step.PROCEED

    clock.set(datetime(2026, 1, 20, 0, 0, tzinfo=UTC))

    assert step_of(services, user, token) is Step.ENROL_REQUIRED


def test_other_roles_are_not_concerned(services: Services) -> None:
    set_rule(services, date(2026, 1, 1))
    user = services.accounts.create(NewAccount("bob", roles=["secretaire"]), actor="test")

    assert step_of(services, user, password_session(services, user)) is Step.PROCEED


def test_a_user_with_a_factor_owes_it_even_without_policy(
    services: Services, clock: FrozenClock
) -> None:
    user = make_user(services)
    enrol_totp(services, user, clock)

    assert step_of(services, user, password_session(services, user)) is Step.SECOND_FACTOR


def test_policy_change_is_audited_without_secrets(
    services: Services, audit: RecordingAudit
) -> None:
    set_rule(services, date(2026, 1, 1), grace_days=30)

    event = audit.events[-1]
    assert event.action == "policy.changed"
    assert event.details["role"] == "medecin"
    assert event.details["grace_days"] == "30"


# --- upgrade, step-up and identifier rotation ---------------------------------------------------


def test_second_factor_rotates_the_session_and_raises_the_level(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    user = make_user(services)
    old = password_session(services, user)
    clock.advance(timedelta(minutes=1))

    new, assurance = services.mfa.upgrade(old, user, TOTP, ORIGIN)

    assert new != old
    assert services.sessions.resolve(old) is None  # the old identifier is revoked
    session = services.sessions.find_live(new)
    assert (session.aal, session.amr) == (AssuranceLevel.AAL2, ("pwd", "otp", "mfa"))
    assert assurance.level is AssuranceLevel.AAL2
    assert session.auth_time == clock.now()
    assert ("login.totp", "success") in audit.actions()


def test_upgrade_recomputes_timeouts_for_the_new_level(services: Services) -> None:
    user = make_user(services)
    old = password_session(services, user)
    created = services.sessions.find_live(old).created_at
    hardware = Verification(factor="passkey", amr=("hwk", "user"))

    new, _ = services.mfa.upgrade(old, user, hardware, ORIGIN)

    session = services.sessions.find_live(new)
    assert session.aal is AssuranceLevel.AAL3
    assert session.idle_timeout <= timedelta(minutes=15)
    assert session.expires_at <= created + timedelta(hours=12)


def test_an_upgrade_can_happen_only_once_per_identifier(services: Services) -> None:
    user = make_user(services)
    old = password_session(services, user)
    services.mfa.upgrade(old, user, TOTP, ORIGIN)

    with pytest.raises(SessionInvalid):
        services.mfa.upgrade(old, user, TOTP, ORIGIN)


def test_step_up_asks_for_the_missing_factor_then_proceeds(
    services: Services, clock: FrozenClock
) -> None:
    user = make_user(services)
    token = password_session(services, user)

    assert step_of(services, user, token) is Step.PROCEED
    assert step_of(services, user, token, level=AssuranceLevel.AAL2) is Step.ENROL_REQUIRED
    enrol_totp(services, user, clock)
    assert step_of(services, user, token, level=AssuranceLevel.AAL2) is Step.SECOND_FACTOR
    new, _ = services.mfa.upgrade(token, user, TOTP, ORIGIN)
    assert step_of(services, user, new, level=AssuranceLevel.AAL2) is Step.PROCEED
    assert step_of(services, user, new, level=AssuranceLevel.AAL3) is Step.SECOND_FACTOR


def test_phishing_resistant_rule_is_not_met_by_totp(services: Services, clock: FrozenClock) -> None:
    set_rule(services, date(2026, 1, 1), phishing_resistant=True)
    user = make_user(services, "medecin")
    enrol_totp(services, user, clock)
    token = password_session(services, user)

    assert step_of(services, user, token) is Step.SECOND_FACTOR  # prove TOTP first...
    new, _ = services.mfa.upgrade(token, user, TOTP, ORIGIN)
    assert step_of(services, user, new) is Step.ENROL_REQUIRED  # ...then enrol a passkey


# --- re-authentication and removal --------------------------------------------------------------


def test_factor_changes_need_an_authentication_within_5_minutes(
    services: Services, clock: FrozenClock
) -> None:
    user = make_user(services)
    token = password_session(services, user)
    credential = enrol_totp(services, user, clock)
    clock.advance(timedelta(minutes=5, seconds=1))
    session = services.sessions.find_live(token)

    with pytest.raises(ReauthenticationRequired):
        services.mfa.remove_credential(user, session, "totp", credential, ORIGIN)

    fresh = services.mfa.reauthenticated(token, user, ORIGIN)
    services.mfa.remove_credential(
        user, services.sessions.find_live(fresh), "totp", credential, ORIGIN
    )
    assert services.totp.credentials(user.id) == []


def test_last_factor_cannot_be_removed_while_mfa_is_required(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    set_rule(services, date(2026, 1, 1))
    user = make_user(services, "medecin")
    credential = enrol_totp(services, user, clock)
    session = services.sessions.find_live(password_session(services, user))

    with pytest.raises(LastFactorRequired):
        services.mfa.remove_credential(user, session, "totp", credential, ORIGIN)
    assert len(services.totp.credentials(user.id)) == 1
    assert "factor.removed" not in [action for action, _ in audit.actions()]


def test_removing_the_last_factor_drops_the_recovery_codes(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    user = make_user(services)
    credential = enrol_totp(services, user, clock)
    services.recovery_codes.generate(user.id)
    session = services.sessions.find_live(password_session(services, user))

    services.mfa.remove_credential(user, session, "totp", credential, ORIGIN)

    assert services.recovery_codes.status(user.id).remaining == 0
    event = audit.events[-1]
    assert (event.action, event.details) == (
        "factor.removed",
        {"factor": "totp", "credential": credential},
    )
