from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.sessions import AssuranceLevel, Session, hash_token, timeouts_for
from quivive.domain.users import NewUser, User, UserStatus
from quivive.services.sessions import TOUCH_INTERVAL
from quivive.storage.sessions import SessionRepository
from quivive.storage.tables import sessions
from support.quivive import RecordingAudit, running_services

# Quivive's defaults: 15 min idle (shared care workstations), 12 h absolute (one shift).
IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=12)


@pytest.fixture
def user(services: Services, clock: FrozenClock) -> User:
    # Written straight to storage: these tests need no password, so no Argon2 work.
    new = NewUser("alice", "Alice", None, ("nurse",), None, None)
    return services.users.add(new, now=clock.now())


def start(services: Services, user: User, aal: AssuranceLevel = AssuranceLevel.AAL2) -> str:
    return services.sessions.start(
        user, amr=("pwd", "otp"), aal=aal, source_address="10.0.0.7", user_agent="Firefox"
    )


def stored(services: Services, token: str) -> Session:
    session = SessionRepository(services.engine).find(hash_token(token))
    assert session is not None
    return session


def test_start_stores_the_session(services: Services, user: User, clock: FrozenClock) -> None:
    token = start(services, user)

    session = stored(services, token)
    assert session.user_id == user.id
    assert session.created_at == session.auth_time == session.last_seen_at == clock.now()
    assert session.idle_timeout == IDLE
    assert session.expires_at == clock.now() + ABSOLUTE
    assert session.amr == ("pwd", "otp")
    assert session.aal is AssuranceLevel.AAL2
    assert (session.source_address, session.user_agent) == ("10.0.0.7", "Firefox")


def test_resolve_returns_the_session_and_its_user(services: Services, user: User) -> None:
    token = start(services, user)

    active = services.sessions.resolve(token)

    assert active is not None
    assert active.token == token
    assert active.user == user
    assert active.session == stored(services, token)


def test_unknown_token_does_not_resolve(services: Services, user: User) -> None:
    start(services, user)

    assert services.sessions.resolve("not-a-token") is None


def test_each_start_gives_a_new_token(services: Services, user: User) -> None:
    tokens = {start(services, user) for _ in range(5)}

    assert len(tokens) == 5
    assert all(len(token) >= 43 for token in tokens)  # 32 random bytes, base64url


def test_tokens_are_stored_hashed(services: Services, user: User) -> None:
    token = start(services, user)

    with services.engine.connect() as conn:
        rows = conn.execute(select(sessions)).all()

    assert len(rows) == 1
    assert rows[0].token_hash == hash_token(token)
    assert all(token not in str(value) for value in rows[0])


def test_idle_session_expires(services: Services, user: User, clock: FrozenClock) -> None:
    token = start(services, user)

    clock.advance(IDLE - timedelta(seconds=1))
    assert services.sessions.resolve(token) is not None  # this activity restarts the idle timer

    clock.advance(IDLE - timedelta(seconds=1))
    assert services.sessions.resolve(token) is not None

    clock.advance(IDLE)
    assert services.sessions.resolve(token) is None


def test_absolute_timeout_ends_even_an_active_session(
    services: Services, user: User, clock: FrozenClock
) -> None:
    token = start(services, user)
    step = timedelta(minutes=10)
    elapsed = timedelta(0)

    while elapsed + step < ABSOLUTE:
        clock.advance(step)
        elapsed += step
        assert services.sessions.resolve(token) is not None, elapsed

    clock.set(stored(services, token).expires_at)
    assert services.sessions.resolve(token) is None


def test_last_seen_is_written_at_most_every_touch_interval(
    services: Services, user: User, clock: FrozenClock
) -> None:
    token = start(services, user)
    started = clock.now()

    clock.advance(TOUCH_INTERVAL - timedelta(seconds=1))
    assert services.sessions.resolve(token) is not None
    assert stored(services, token).last_seen_at == started

    clock.advance(timedelta(seconds=1))
    assert services.sessions.resolve(token) is not None
    assert stored(services, token).last_seen_at == clock.now()

    touched = clock.now()
    clock.advance(TOUCH_INTERVAL / 2)
    assert services.sessions.resolve(token) is not None
    assert stored(services, token).last_seen_at == touched


def test_end_revokes_once(services: Services, user: User) -> None:
    token = start(services, user)

    assert services.sessions.end(token) is True
    assert services.sessions.end(token) is False
    assert services.sessions.resolve(token) is None


def test_end_all_for_user_can_keep_the_current_session(services: Services, user: User) -> None:
    current, other = start(services, user), start(services, user)

    assert services.sessions.end_all_for_user(user.id, keep_token=current) == 1

    assert services.sessions.resolve(current) is not None
    assert services.sessions.resolve(other) is None
    assert [s.token_hash for s in services.sessions.list_for_user(user.id)] == [hash_token(current)]


def test_session_of_a_disabled_user_does_not_resolve(services: Services, user: User) -> None:
    # Set directly in storage, without ending sessions: resolve must check the user itself.
    token = start(services, user)

    services.users.set_status(user.id, UserStatus.DISABLED)

    assert services.sessions.resolve(token) is None


@pytest.mark.parametrize(
    ("level", "idle", "absolute"),
    [
        (AssuranceLevel.AAL1, timedelta(hours=1), timedelta(hours=24)),
        (AssuranceLevel.AAL2, timedelta(hours=1), timedelta(hours=24)),
        (AssuranceLevel.AAL3, timedelta(minutes=15), timedelta(hours=12)),
    ],
)
def test_level_caps_apply_to_long_settings(
    level: AssuranceLevel, idle: timedelta, absolute: timedelta
) -> None:
    assert timeouts_for(level, timedelta(hours=1), timedelta(hours=24)) == (idle, absolute)


@pytest.mark.parametrize("level", list(AssuranceLevel))
def test_shorter_settings_are_kept_at_every_level(level: AssuranceLevel) -> None:
    short = (timedelta(minutes=5), timedelta(hours=1))

    assert timeouts_for(level, *short) == short


@pytest.fixture
def long_services(
    tmp_path: Path, backend: str, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[Services]:
    """Services configured with the longest timeouts the settings accept."""
    settings = {"session_idle_timeout": "1h", "session_absolute_timeout": "24h"}
    with running_services(tmp_path, backend, clock=clock, audit=audit, settings=settings) as built:
        yield built


def test_aal3_sessions_are_capped_even_when_configured_longer(
    long_services: Services, clock: FrozenClock
) -> None:
    user = long_services.users.add(NewUser("bob", "Bob", None, (), None, None), now=clock.now())
    aal2 = start(long_services, user, AssuranceLevel.AAL2)
    aal3 = start(long_services, user, AssuranceLevel.AAL3)

    assert stored(long_services, aal2).idle_timeout == timedelta(hours=1)
    assert stored(long_services, aal3).idle_timeout == timedelta(minutes=15)
    assert stored(long_services, aal3).expires_at == clock.now() + timedelta(hours=12)

    clock.advance(timedelta(minutes=15))
    assert long_services.sessions.resolve(aal3) is None
    assert long_services.sessions.resolve(aal2) is not None
