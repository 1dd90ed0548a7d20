"""Throttling around password sign-in: soft locks, the 100-failure line, spraying and stuffing."""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.alerts import Alert
from quivive.domain.throttling import (
    KeyKind,
    LoginThrottled,
    PasswordAloneInsufficient,
    ThrottlePolicy,
)
from quivive.domain.users import User
from quivive.errors import AuthenticationFailed, NotFoundError
from quivive.services.accounts import NewAccount
from quivive.storage.tables import throttle_counters
from support.quivive import RecordingAudit, running_services

PASSWORD = "tulipe ardoise gravier"
ATTACKER = "10.0.0.66"
REAL_USER = "10.0.0.7"


class RecordingAlerts:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def create(services: Services, username: str = "alice") -> User:
    return services.accounts.create(NewAccount(username=username, password=PASSWORD), actor="cli")


def login(services: Services, username: str, password: str, source: str) -> User:
    return asyncio.run(
        services.authenticator.authenticate(username, password, source_address=source)
    )


def fail(services: Services, username: str, password: str, source: str) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        login(services, username, password, source)
    return raised.value


async def hammer(
    services: Services, clock: FrozenClock, username: str, source: str, failures: int
) -> None:
    """``failures`` counted wrong guesses in one event loop, waiting as asked in between."""
    authenticate = services.authenticator.authenticate
    counted = 0
    while counted < failures:
        try:
            await authenticate(username, "wrong", source_address=source)
        except LoginThrottled as throttled:
            clock.advance(timedelta(seconds=throttled.seconds_to_wait))
        except AuthenticationFailed:
            counted += 1


def actions(audit: RecordingAudit, prefix: str) -> list[str]:
    return [event.action for event in audit.events if event.action.startswith(prefix)]


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()


@contextmanager
def throttled_services(
    tmp_path: Path,
    backend: str,
    clock: FrozenClock,
    audit: RecordingAudit,
    alerts: RecordingAlerts,
    **settings: str,
) -> Iterator[Services]:
    with running_services(
        tmp_path, backend, clock=clock, audit=audit, settings=settings
    ) as services:
        # The composition root's logging sink, swapped for one the test can read.
        services.throttle._alerts = alerts
        yield services


@pytest.fixture
def small(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit, alerts: RecordingAlerts
) -> Iterator[Services]:
    """SQLite, with limits small enough to reach in a few Argon2 verifies."""
    limits = {
        "throttle_max_failures": "10",
        "throttle_spraying_accounts": "5",
        "throttle_stuffing_accounts": "5",
    }
    with throttled_services(tmp_path, "sqlite", clock, audit, alerts, **limits) as services:
        yield services


# --- the real user gets in -----------------------------------------------------------------------


def test_real_user_gets_in_while_an_attacker_hammers_the_account(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    create(services)
    asyncio.run(hammer(services, clock, "alice", ATTACKER, 50))

    attacker_now = fail(services, "alice", PASSWORD, ATTACKER)  # even with the right password
    user = login(services, "alice", PASSWORD, REAL_USER)

    assert isinstance(attacker_now, LoginThrottled)
    assert user.username == "alice"
    assert "throttle.triggered" in actions(audit, "throttle.")
    # Success forgets the account's run of failures; the attacker's address stays held; the
    # real user's address does not count the successful attempt.
    remaining = {(e.key.kind, e.key.label): e.failures for e in services.throttle.entries()}
    assert (KeyKind.ACCOUNT, "alice") not in remaining
    assert remaining[(KeyKind.SOURCE, ATTACKER)] == 50
    assert remaining.get((KeyKind.SOURCE, REAL_USER), 0) == 0


def test_delay_grows_per_account_and_address(small: Services, clock: FrozenClock) -> None:
    create(small)
    waits = []
    for _ in range(8):
        error = fail(small, "alice", "wrong", ATTACKER)
        waits.append(error.seconds_to_wait if isinstance(error, LoginThrottled) else 0)
        if waits[-1]:
            clock.advance(timedelta(seconds=waits[-1]))

    # Five free failures, then 1 s, then 2 s...: early tries are refused at once, never slept on.
    assert waits == [0, 0, 0, 0, 0, 1, 0, 2]


def test_throttling_is_the_same_for_unknown_accounts(small: Services) -> None:
    create(small)
    for name in ("alice", "nobody"):
        for _ in range(5):
            fail(small, name, "wrong", ATTACKER)

    known = fail(small, "alice", "wrong", ATTACKER)
    unknown = fail(small, "nobody", "wrong", ATTACKER)

    assert isinstance(known, LoginThrottled)
    assert isinstance(unknown, LoginThrottled)
    assert (known.code, known.seconds_to_wait) == (unknown.code, unknown.seconds_to_wait)


# --- the 100-failure line ------------------------------------------------------------------------


def test_past_the_limit_a_password_alone_no_longer_suffices(
    small: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    create(small)
    for attempt in range(10):
        for name in ("alice", "nobody"):
            fail(small, name, "wrong", f"10.9.{attempt}.1")  # new address each time: no delay

    right = fail(small, "alice", PASSWORD, REAL_USER)
    unknown = fail(small, "nobody", PASSWORD, REAL_USER)
    triggered = [e for e in audit.events if e.action == "throttle.triggered"]

    assert type(right) is PasswordAloneInsufficient
    assert type(unknown) is PasswordAloneInsufficient  # reveals nothing about existence
    assert {(e.subject, e.reason) for e in triggered} >= {
        ("alice", "password_alone_insufficient"),
        ("nobody", "password_alone_insufficient"),
    }
    flagged = {e.key.label for e in small.throttle.entries() if e.password_alone_insufficient}
    assert flagged == {"alice", "nobody"}


def test_administrator_clear_lets_the_user_back_in(small: Services, audit: RecordingAudit) -> None:
    create(small)
    for attempt in range(10):
        fail(small, "alice", "wrong", f"10.9.{attempt}.1")

    cleared = small.throttle.clear("ALICE", actor="cli")

    assert cleared == 11  # the account counter and its ten (account, address) counters
    assert login(small, "alice", PASSWORD, REAL_USER).username == "alice"
    event = next(e for e in audit.events if e.action == "throttle.cleared")
    assert (event.actor, event.subject, event.details) == ("cli", "ALICE", {"counters": "11"})


def test_clearing_nothing_is_an_error(small: Services) -> None:
    with pytest.raises(NotFoundError, match="no throttle for 'bob'"):
        small.throttle.clear("bob", actor="cli")


class FixedFactor:
    def __init__(self, answer: bool) -> None:
        self.answer = answer

    def verify(self, user: User) -> bool:
        return self.answer


def test_password_and_second_factor_still_open_the_account(small: Services) -> None:
    create(small)
    for attempt in range(10):
        fail(small, "alice", "wrong", f"10.9.{attempt}.1")

    def with_factor(answer: bool) -> User:
        return asyncio.run(
            small.authenticator.authenticate(
                "alice", PASSWORD, source_address=REAL_USER, second_factor=FixedFactor(answer)
            )
        )

    with pytest.raises(AuthenticationFailed) as refused:
        with_factor(False)
    assert type(refused.value) is AuthenticationFailed
    assert with_factor(True).username == "alice"


def test_parallel_wrong_guesses_cannot_pass_the_limit(
    small: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(small)
    verified: list[str] = []
    real_verify = small.hasher.verify_sync

    def spy(encoded: str, password: str) -> bool:
        verified.append(password)
        return real_verify(encoded, password)

    monkeypatch.setattr(small.hasher, "verify_sync", spy)

    async def guess(number: int) -> BaseException | None:
        try:
            await small.authenticator.authenticate(
                "alice", f"guess {number}", source_address=f"10.8.{number}.1"
            )
        except AuthenticationFailed as exc:
            return exc
        return None

    async def all_at_once() -> list[BaseException | None]:
        return list(await asyncio.gather(*(guess(n) for n in range(30))))

    outcomes = asyncio.run(all_at_once())

    assert len(verified) == 10  # exactly max_failures guesses were ever checked
    assert sum(type(o) is PasswordAloneInsufficient for o in outcomes) == 20


# --- attack detection ----------------------------------------------------------------------------


def test_password_spraying_is_detected_reported_and_throttled(
    small: Services, clock: FrozenClock, audit: RecordingAudit, alerts: RecordingAlerts
) -> None:
    sprayed = "Printemps2026!"
    for name in ("alice", "bob", "chloe"):
        create(small, name)
    sources = ["10.5.0.1", "10.5.0.2", "10.5.0.3"]
    for number, name in enumerate(["alice", "bob", "chloe", "david", "emma", "farid", "gilles"]):
        fail(small, name, sprayed, sources[number % 3])
        clock.advance(timedelta(seconds=20))

    assert [a.kind for a in alerts.alerts] == ["attack.spraying"]  # once per window
    assert actions(audit, "attack.") == ["attack.spraying"]
    # Every address that sent the sprayed password after detection is held.
    for source in ("10.5.0.2", "10.5.0.3"):
        assert isinstance(fail(small, "alice", PASSWORD, source), LoginThrottled)
    assert login(small, "alice", PASSWORD, "10.5.0.9").username == "alice"
    recorded = repr(audit.events) + repr(alerts.alerts)
    assert sprayed not in recorded


def test_credential_stuffing_is_detected_reported_and_throttled(
    small: Services, clock: FrozenClock, audit: RecordingAudit, alerts: RecordingAlerts
) -> None:
    create(small)
    for number in range(6):
        fail(small, f"user{number}", f"leaked password {number}", ATTACKER)
        clock.advance(timedelta(seconds=5))

    assert [a.kind for a in alerts.alerts] == ["attack.stuffing"]
    assert alerts.alerts[0].source_address == ATTACKER
    assert actions(audit, "attack.") == ["attack.stuffing"]
    held = fail(small, "alice", PASSWORD, ATTACKER)  # even a right password waits there
    assert isinstance(held, LoginThrottled)
    assert 14 * 60 < held.seconds_to_wait <= 15 * 60  # the longest delay, from detection
    assert login(small, "alice", PASSWORD, REAL_USER).username == "alice"


# --- Redis configured but down -------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redis_down_throttles_from_the_database(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit, alerts: RecordingAlerts
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with throttled_services(tmp_path, "sqlite", clock, audit, alerts, redis_url=url) as services:
        create(services)
        for _ in range(5):
            fail(services, "alice", "wrong", ATTACKER)

        assert isinstance(fail(services, "alice", PASSWORD, ATTACKER), LoginThrottled)
        assert login(services, "alice", PASSWORD, REAL_USER).username == "alice"


def test_successful_sign_ins_do_not_add_up_against_an_address(small: Services) -> None:
    create(small)
    for _ in range(30):  # a shared address (NAT) with many good sign-ins: never throttled
        login(small, "alice", PASSWORD, REAL_USER)

    fail(small, "alice", "typo", REAL_USER)

    failures = {(e.key.kind, e.key.label): e.failures for e in small.throttle.entries()}
    assert failures[(KeyKind.SOURCE, REAL_USER)] == 1


def test_expired_counters_are_purged_as_failures_go_on(small: Services, clock: FrozenClock) -> None:
    def rows() -> int:
        with small.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(throttle_counters)).scalar())

    for number in range(5):
        fail(small, f"user{number}", "wrong", f"10.7.0.{number}")
    before = rows()
    clock.advance(timedelta(hours=2))  # past forget_after: the pair and source counters expire

    fail(small, "someone", "wrong", "10.7.1.1")

    assert before == 15  # per attempt: its source, its pair, its account
    assert rows() == 5 + 3  # the five accounts (never expire) and the new attempt's counters


def test_each_call_reads_the_thresholds_in_force_once(small: Services) -> None:
    # Every sign-in pays for each read: the source merges the console's overrides into a policy.
    source = small.throttle._policy_source
    assert source is not None
    reads: list[ThrottlePolicy] = []

    def counted(base: ThrottlePolicy) -> ThrottlePolicy:
        reads.append(base)
        return source(base)

    small.throttle._policy_source = counted
    attempt = small.throttle.admit("alice", ATTACKER)
    small.throttle.failed(attempt, "wrong")
    small.throttle.succeeded(small.throttle.admit("alice", REAL_USER))
    code = small.throttle.admit_code("alice", ATTACKER)
    small.throttle.code_failed(code)

    # One per public call above, whatever the keys and branches; a refund (``succeeded``) takes
    # back one failure whatever the thresholds, and reads none.
    assert len(reads) == 5
