"""The sweep that logs ended sessions out of their relying parties, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.grants import Grant, session_sid
from quivive.domain.users import NewUser
from quivive.storage.oidc_grants import GrantRepository
from quivive.storage.sessions import SessionRepository
from support.sessions import session_row

IDLE = timedelta(minutes=15)


def add_session_with_grant(
    services: Services, user_id: int, name: str, now: datetime, *, last_seen_at: datetime
) -> None:
    session = session_row(user_id, f"session-{name}", now, last_seen_at=last_seen_at)
    SessionRepository(services.engine).add(session)
    GrantRepository(services.engine).add(
        Grant(
            grant_id=f"grant-{name}",
            code_hash=f"code-{name}",
            client_id="dpi",
            user_id=user_id,
            session_hash=f"session-{name}",
            sid=session_sid(f"session-{name}"),
            redirect_uri="http://localhost:9/cb",
            scope=("openid",),
            nonce=None,
            code_challenge=None,
            auth_time=now,
            acr="urn:quivive:acr:pwd",
            amr=("pwd",),
            created_at=now,
            code_expires_at=now + timedelta(seconds=60),
            code_used_at=now,
            offline=False,
            revoked_at=None,
        )
    )


def test_the_sweep_finds_an_ended_session_behind_a_full_batch_of_live_ones(
    services: Services, clock: FrozenClock
) -> None:
    now = clock.now()
    user = services.users.add(NewUser("alice", "Alice", None, (), None, "$argon2id$x"), now=now)
    for name in ("live-1", "live-2", "live-3"):  # first in, and first in name order
        add_session_with_grant(services, user.id, name, now, last_seen_at=now)
    # Unused for its whole idle timeout: ended at this very instant.
    add_session_with_grant(services, user.id, "timed-out", now, last_seen_at=now - IDLE)

    swept = services.oidc.logout.sweep_ended_sessions(batch=2)

    grants = GrantRepository(services.engine)
    assert swept == 1
    assert not grants.is_live("grant-timed-out")
    assert all(grants.is_live(f"grant-live-{n}") for n in (1, 2, 3))
    assert services.oidc.logout.sweep_ended_sessions(batch=2) == 0
