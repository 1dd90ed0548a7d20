"""PolicyService: console overrides of timeouts, password length, throttling; checked and live."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.audit import Outcome
from quivive.domain.sessions import AssuranceLevel, new_session_token
from quivive.errors import NotFoundError, PasswordRejected
from quivive.services.accounts import NewAccount
from quivive.services.policies import PolicyRefused, PolicyService
from quivive.services.refreshed import REFRESH_INTERVAL
from quivive.storage.policy_overrides import PolicyOverrideRepository
from support.admin_console import add_user
from support.quivive import RecordingAudit


def refusal(services: Services, key: str, raw: str) -> tuple[str, int]:
    with pytest.raises(PolicyRefused) as refused:
        services.policies.set(key, raw, actor="root")
    return refused.value.reason, refused.value.limit


def test_values_come_from_the_configuration_capped_per_level(sqlite_services: Services) -> None:
    values = {v.spec.key: (v.value, v.source) for v in sqlite_services.policies.in_force()}

    assert values["session.aal2.idle"] == (15, "configuration")
    assert values["session.aal3.idle"] == (15, "configuration")
    assert values["session.aal3.absolute"] == (12 * 60, "configuration")
    assert values["password.min_length"] == (12, "configuration")
    assert values["throttle.max_failures"] == (100, "configuration")


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("session.aal2.idle", "61", ("nist_session_cap", 60)),
        ("session.aal2.absolute", "1441", ("nist_session_cap", 24 * 60)),
        ("session.aal3.idle", "16", ("nist_session_cap", 15)),
        ("session.aal3.absolute", "10", ("idle_above_absolute", 15)),
        ("session.aal1.idle", "0", ("below_minimum", 1)),
        ("password.min_length", "7", ("nist_password_floor", 8)),
        ("password.min_length", "65", ("nist_password_max", 64)),
        ("throttle.max_failures", "101", ("nist_failures_max", 100)),
        ("throttle.free_attempts", "51", ("above_maximum", 50)),
        ("password.min_length", "twelve", ("not_a_number", 0)),
        ("password.min_length", "-3", ("not_a_number", 0)),
        ("password.min_length", "١٢", ("not_a_number", 0)),  # Arabic-Indic digits
    ],
)
def test_values_outside_the_rules_are_refused_and_audited(
    sqlite_services: Services, audit: RecordingAudit, key: str, raw: str, expected: tuple[str, int]
) -> None:
    assert refusal(sqlite_services, key, raw) == expected
    event = audit.events[-1]
    assert (event.action, event.outcome, event.reason) == (
        "policy.setting_changed",
        Outcome.FAILURE,
        expected[0],
    )
    assert sqlite_services.policies.value(key) != raw


def test_unknown_key(sqlite_services: Services) -> None:
    with pytest.raises(NotFoundError):
        sqlite_services.policies.set("session.aal9.idle", "5", actor="root")


def test_a_shorter_idle_timeout_applies_to_the_next_session(
    sqlite_services: Services, audit: RecordingAudit
) -> None:
    services = sqlite_services
    user = add_user(services, "nina", "nurse")

    changed = services.policies.set("session.aal2.idle", "5", actor="root")
    token = services.sessions.start(
        user, amr=("pwd", "otp"), aal=AssuranceLevel.AAL2, source_address=None, user_agent=None
    )

    assert (changed.value, changed.source, changed.changed_by) == (5, "console", "root")
    active = services.sessions.resolve(token)
    assert active is not None
    assert active.session.idle_timeout == timedelta(minutes=5)
    event = audit.events[-1]
    assert (event.action, event.outcome, event.actor, event.subject) == (
        "policy.setting_changed",
        Outcome.SUCCESS,
        "root",
        "policy:session.aal2.idle",
    )
    assert event.details == {"key": "session.aal2.idle", "before": "15", "after": "5"}


@pytest.mark.parametrize(
    ("absolute", "ends_after"),
    [("60", timedelta(minutes=60)), ("600", timedelta(hours=4))],  # the earlier end is kept
)
def test_console_timeouts_apply_to_emergency_sessions_too(
    sqlite_services: Services, clock: FrozenClock, absolute: str, ends_after: timedelta
) -> None:
    services = sqlite_services
    user = add_user(services, "nina", "nurse")
    services.policies.set("session.aal1.idle", "5", actor="root")
    services.policies.set("session.aal1.absolute", absolute, actor="root")

    token, token_hash = new_session_token()
    expires_at = services.sessions.start_emergency(
        user, token_hash, lifetime=timedelta(hours=4), source_address=None, user_agent=None
    )

    active = services.sessions.resolve(token)
    assert active is not None
    assert active.session.idle_timeout == timedelta(minutes=5)
    assert active.session.expires_at == expires_at == clock.now() + ends_after


def test_a_longer_minimum_password_length_applies_at_once(sqlite_services: Services) -> None:
    sqlite_services.policies.set("password.min_length", "20", actor="root")

    account = NewAccount("nina", "maple-harbour-71", roles=["nurse"])
    with pytest.raises(PasswordRejected) as rejected:
        sqlite_services.accounts.create(account, actor="root")
    assert rejected.value.reasons == ("too_short",)


def test_throttle_thresholds_apply_at_once(sqlite_services: Services) -> None:
    sqlite_services.policies.set("throttle.max_failures", "10", actor="root")
    sqlite_services.policies.set("throttle.free_attempts", "3", actor="root")

    policy = sqlite_services.throttle.policy
    assert (policy.max_failures, policy.pair.free_attempts) == (10, 3)
    assert policy.pair.max_delay == sqlite_services.settings.throttle.max_delay


def test_the_throttle_policy_is_built_again_only_when_the_values_change(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    base = services.throttle.policy
    other = PolicyService(
        services.settings, PolicyOverrideRepository(services.engine), audit, clock
    )
    first = other.throttle_policy(base)
    assert other.throttle_policy(base) is first  # a sign-in rebuilds nothing

    services.policies.set("throttle.max_failures", "20", actor="root")
    assert services.throttle.policy.max_failures == 20  # at once on the node that made it
    assert other.throttle_policy(base) is first  # its cache is still fresh
    clock.advance(REFRESH_INTERVAL)

    assert other.throttle_policy(base).max_failures == 20


def test_reset_brings_the_configured_value_back(
    sqlite_services: Services, audit: RecordingAudit
) -> None:
    sqlite_services.policies.set("password.min_length", "16", actor="root")

    value = sqlite_services.policies.reset("password.min_length", actor="root")

    assert (value.value, value.source) == (12, "configuration")
    assert audit.events[-1].reason == "reset"


def test_other_nodes_see_a_change_within_the_refresh_interval(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    repository = PolicyOverrideRepository(services.engine)
    other = PolicyService(services.settings, repository, audit, clock)
    assert other.min_length() == 12

    services.policies.set("password.min_length", "14", actor="root")
    assert other.min_length() == 12  # its cache is still fresh
    clock.advance(REFRESH_INTERVAL)

    assert other.min_length() == 14


def test_a_stored_value_the_rules_now_refuse_is_ignored(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    repository = PolicyOverrideRepository(sqlite_services.engine)
    repository.put("session.aal2.idle", "600", now=clock.now(), actor="hand edit")
    repository.put("password.min_length", "x", now=clock.now(), actor="hand edit")
    clock.advance(REFRESH_INTERVAL)

    assert sqlite_services.policies.value("session.aal2.idle") == 15
    assert sqlite_services.policies.value("password.min_length") == 12
