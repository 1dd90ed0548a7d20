"""The SQL rule for a valid session agrees with ``Session.is_valid_at`` on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from quivive.composition import Services
from quivive.domain.sessions import Session
from quivive.domain.users import NewUser
from quivive.storage.session_validity import session_valid_at
from quivive.storage.sessions import SessionRepository
from quivive.storage.tables import sessions
from support.sessions import session_row

# A fraction of a second that SQLite's date functions, which keep milliseconds, would round up.
T0 = datetime(2026, 1, 15, 8, 0, 0, 999_999, tzinfo=UTC)
IDLE = timedelta(minutes=15)
MICROSECOND = timedelta(microseconds=1)


def base(user_id: int) -> Session:
    return session_row(user_id, "", T0, idle_timeout=IDLE, expires_at=T0 + timedelta(hours=1))


def test_sql_and_python_agree_on_which_sessions_are_valid(services: Services) -> None:
    user = services.users.add(NewUser("alice", "Alice", None, (), None, "$argon2id$x"), now=T0)
    session = base(user.id)
    variants = {
        "fresh": session,
        "revoked": dataclasses.replace(session, revoked_at=T0),
        "short-absolute": dataclasses.replace(session, expires_at=T0 + timedelta(minutes=5)),
        "short-idle": dataclasses.replace(session, idle_timeout=timedelta(seconds=1)),
        "seen-later": dataclasses.replace(session, last_seen_at=T0 + timedelta(minutes=50)),
        "whole-second": dataclasses.replace(session, last_seen_at=T0.replace(microsecond=0)),
    }
    repository = SessionRepository(services.engine)
    for name, variant in variants.items():
        repository.add(dataclasses.replace(variant, token_hash=name))
    instants = [T0 + delta for delta in (timedelta(0), timedelta(seconds=1), IDLE)]
    instants += [T0 + timedelta(minutes=5), T0 + timedelta(minutes=50) + IDLE, T0 + 2 * IDLE]
    instants += [at + sign * MICROSECOND for at in list(instants) for sign in (-1, 1)]

    for now in instants:
        statement = select(sessions.c.token_hash).where(session_valid_at(now))
        with services.engine.connect() as conn:
            in_sql = set(conn.execute(statement).scalars())
        in_python = {name for name, variant in variants.items() if variant.is_valid_at(now)}
        assert in_sql == in_python, now
