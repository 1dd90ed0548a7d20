"""One-time tokens (first administrator set-up, enrolment links), consumed by a compare-and-set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, insert, select, update

from quivive.storage.tables import setup_tokens
from quivive.storage.unit_of_work import connection, transaction


class SetupTokenRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, token_hash: str, purpose: str, *, now: datetime, expires_at: datetime) -> None:
        with transaction(self._engine) as conn:
            conn.execute(
                insert(setup_tokens).values(
                    token_hash=token_hash, purpose=purpose, created_at=now, expires_at=expires_at
                )
            )

    def is_usable(self, token_hash: str, purpose: str, now: datetime) -> bool:
        with connection(self._engine) as conn:
            row = conn.execute(
                setup_tokens.select().where(_usable(token_hash, purpose, now))
            ).first()
        return row is not None

    def consume(self, token_hash: str, purpose: str, now: datetime) -> bool:
        """Mark the token used; True for exactly one caller even when several race."""
        with transaction(self._engine) as conn:
            result = conn.execute(
                update(setup_tokens).where(_usable(token_hash, purpose, now)).values(used_at=now)
            )
        return result.rowcount == 1

    def purpose_of(self, token_hash: str, now: datetime) -> str | None:
        """The purpose of a usable token (unused, unexpired), or None."""
        statement = select(setup_tokens.c.purpose).where(
            setup_tokens.c.token_hash == token_hash,
            setup_tokens.c.used_at.is_(None),
            setup_tokens.c.expires_at > now,
        )
        with connection(self._engine) as conn:
            value = conn.execute(statement).scalar()
        return None if value is None else str(value)

    def retire(self, purpose: str, now: datetime) -> int:
        """Mark every usable token of ``purpose`` used: a new link replaces the earlier ones."""
        with transaction(self._engine) as conn:
            result = conn.execute(
                update(setup_tokens)
                .where(
                    setup_tokens.c.purpose == purpose,
                    setup_tokens.c.used_at.is_(None),
                    setup_tokens.c.expires_at > now,
                )
                .values(used_at=now)
            )
        return result.rowcount


def _usable(token_hash: str, purpose: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        setup_tokens.c.token_hash == token_hash,
        setup_tokens.c.purpose == purpose,
        setup_tokens.c.used_at.is_(None),
        setup_tokens.c.expires_at > now,
    )
