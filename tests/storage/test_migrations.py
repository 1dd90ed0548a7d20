"""Migrations that move data, checked on every backend: down to before them, then up again."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import insert, select

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.storage.database import _alembic_config, upgrade
from quivive.storage.sessions import SessionRepository
from quivive.storage.tables import emergency_accesses, sessions
from support.admin_console import add_user
from support.sessions import session_row


def _downgrade(services: Services, revision: str) -> None:
    config = _alembic_config()
    with services.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_0015_marks_the_sessions_emergency_access_opened(
    services: Services, clock: FrozenClock
) -> None:
    nina = add_user(services, "nina", "nurse")
    repository = SessionRepository(services.engine)
    for token_hash in ("e" * 64, "o" * 64):
        repository.add(session_row(nina.id, token_hash, clock.now()))
    with services.engine.begin() as conn:
        conn.execute(
            insert(emergency_accesses).values(
                user_id=nina.id,
                started_at=clock.now(),
                expires_at=clock.now() + timedelta(hours=2),
                session_token_hash="e" * 64,
                reason="patient_care",
                justification="Patient en détresse, médecin de garde absent",
                review_status="pending",
            )
        )
    _downgrade(services, "0014")  # the flag is gone: only emergency_accesses knows

    upgrade(services.engine)

    with services.engine.connect() as conn:
        flags = dict(conn.execute(select(sessions.c.token_hash, sessions.c.emergency)).all())
    assert flags == {"e" * 64: True, "o" * 64: False}
    found = repository.find("e" * 64)
    assert found is not None
    assert found.emergency
