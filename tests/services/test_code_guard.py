"""Guesses at one-time codes after the password: a delay after the free attempts, a hard limit
at 100 consecutive failures, parallel guesses held to the same count, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.alerts import Alert
from quivive.domain.throttling import KeyKind
from quivive.domain.users import User
from quivive.errors import CodesThrottled
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.notification_texts import alert_email
from support.quivive import RecordingAudit
from support.race import race

PASSWORD = "tulipe ardoise gravier"
ATTACKER = "10.0.0.66"
WRONG = "000000"


class RecordingAlerts:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def alice_with_totp(services: Services, clock: FrozenClock) -> tuple[User, str]:
    user = services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
    pending = services.totp.begin(user.id, "alice")
    services.totp.confirm(user.id, totp.code_at(pending.secret, totp.step_at(clock.now())), "Tél")
    clock.advance(timedelta(seconds=60))  # the enrolment code's step is spent
    return user, pending.secret


def right_code(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()))


def guess(services: Services, user: User, code: str) -> str | None:
    return services.code_guard.check(user, "totp", code, ATTACKER)


def wrong_guesses_until_held(services: Services, user: User) -> int:
    checked = 0
    while True:
        try:
            assert guess(services, user, WRONG) is None
        except CodesThrottled:
            return checked
        checked += 1


def test_free_attempts_then_a_wait_that_even_the_right_code_must_honour(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    user, secret = alice_with_totp(services, clock)
    free = services.throttle.policy.pair.free_attempts

    assert wrong_guesses_until_held(services, user) == free
    with pytest.raises(CodesThrottled) as held:
        guess(services, user, right_code(secret, clock))  # not even checked while held

    assert held.value.not_before is not None
    assert not held.value.exhausted
    triggered = [e for e in audit.events if e.action == "throttle.triggered"]
    assert [e.details["key_kind"] for e in triggered] == ["codes"]
    clock.advance(timedelta(minutes=20))
    assert guess(services, user, right_code(secret, clock)) is not None
    # A right code proves the person: their run of failures starts over.
    assert all(entry.key.kind is not KeyKind.CODES for entry in services.throttle.entries())


def test_recovery_codes_and_totp_share_one_count(services: Services, clock: FrozenClock) -> None:
    user, _secret = alice_with_totp(services, clock)
    codes = services.recovery_codes.generate(user.id)
    free = services.throttle.policy.pair.free_attempts
    for _ in range(free):
        assert guess(services, user, WRONG) is None

    with pytest.raises(CodesThrottled):
        services.code_guard.check(user, "recovery_code", codes[0], ATTACKER)


def test_after_100_failures_codes_are_refused_until_an_administrator_clears_them(
    sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    services = sqlite_services
    alerts = RecordingAlerts()
    services.throttle._alerts = alerts  # the composition root's logging sink, made readable
    user, secret = alice_with_totp(services, clock)
    limit = services.throttle.policy.max_failures
    failures = 0
    while failures < limit:
        try:
            guess(services, user, WRONG)
            failures += 1
        except CodesThrottled as held:
            clock.advance((held.not_before or clock.now()) - clock.now() + timedelta(seconds=1))

    clock.advance(timedelta(days=2))  # no delay left to wait out: the limit itself holds
    with pytest.raises(CodesThrottled) as refused:
        guess(services, user, right_code(secret, clock))

    assert refused.value.exhausted
    assert [alert.kind for alert in alerts.alerts] == ["attack.code_guessing"]
    _subject, body = alert_email("fr", "CH de Valmont", alerts.alerts[0])
    assert "devinette de codes : 100 codes à usage unique erronés de suite sur alice" in body
    assert [e.action for e in audit.events].count("attack.code_guessing") == 1
    services.throttle.clear("alice", actor="helpdesk")
    assert guess(services, user, right_code(secret, clock)) is not None


def test_parallel_guesses_are_held_to_the_free_attempts(
    services: Services, clock: FrozenClock
) -> None:
    user, _secret = alice_with_totp(services, clock)
    free = services.throttle.policy.pair.free_attempts
    racers = 3 * free

    results = race([lambda: guess(services, user, WRONG)] * racers, returning=(CodesThrottled,))

    checked = [result for result in results if not isinstance(result, CodesThrottled)]
    assert len(checked) <= free
    assert len(checked) >= 1


def test_the_witness_code_of_emergency_access_is_guarded_too(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    services = sqlite_services
    user, secret = alice_with_totp(services, clock)
    for _ in range(services.throttle.policy.pair.free_attempts):
        assert services.code_guard.totp_of(user.id, WRONG) is None

    # Held now: even the colleague's right code is refused (and counted as a failed confirmation).
    assert services.code_guard.totp_of(user.id, right_code(secret, clock)) is None
