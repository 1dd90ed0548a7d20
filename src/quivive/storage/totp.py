"""TOTP authenticators: encrypted secrets and the atomic replay guard (``last_step``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import totp_credentials
from quivive.storage.unit_of_work import connection, transaction


@dataclass(frozen=True, slots=True)
class TotpRecord:
    id: int
    user_id: int
    name: str
    secret: str  # ciphertext, as stored
    created_at: datetime
    confirmed_at: datetime | None
    last_used_at: datetime | None
    last_step: int | None


class TotpRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_pending(self, user_id: int, name: str, secret: str, now: datetime) -> int:
        """A new unconfirmed authenticator; earlier unconfirmed ones of the user are dropped."""
        with transaction(self._engine) as conn:
            conn.execute(delete(totp_credentials).where(_pending(user_id)))
            key = conn.execute(
                insert(totp_credentials).values(
                    user_id=user_id, name=name, secret=secret, created_at=now
                )
            ).inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no key for the new authenticator")
        return int(key[0])

    def pending(self, user_id: int) -> TotpRecord | None:
        with connection(self._engine) as conn:
            row = conn.execute(select(totp_credentials).where(_pending(user_id))).first()
        return None if row is None else _to_record(row)

    def confirm(self, credential_id: int, user_id: int, step: int, now: datetime) -> bool:
        """Mark confirmed, recording the step used so the same code cannot sign in afterwards."""
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, _pending(user_id))
            .values(confirmed_at=now, last_step=step, last_used_at=now)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def confirmed(self, user_id: int) -> list[TotpRecord]:
        with connection(self._engine) as conn:
            return [_to_record(row) for row in _CONFIRMED.rows(conn, {"user_id": user_id})]

    def claim_step(self, credential_id: int, step: int, now: datetime) -> bool:
        """Accept ``step`` once: a compare-and-set that only moves ``last_step`` forward.

        Two requests with the same code race on this single UPDATE; the database serialises them
        (row lock on PostgreSQL, the write lock on SQLite) and the loser matches no row.
        """
        values = {"v_id": credential_id, "v_step": step, "v_now": now}
        with transaction(self._engine) as conn:
            return _CLAIM_STEP.execute(conn, values) == 1

    def rename(self, user_id: int, credential_id: int, name: str) -> bool:
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, totp_credentials.c.user_id == user_id)
            .values(name=name)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def remove(self, user_id: int, credential_id: int | None = None) -> int:
        query = delete(totp_credentials).where(totp_credentials.c.user_id == user_id)
        if credential_id is not None:
            query = query.where(totp_credentials.c.id == credential_id)
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount

    def all_secrets(self) -> list[tuple[int, int, str]]:
        """(id, user_id, ciphertext) of every authenticator, for key rotation."""
        query = select(
            totp_credentials.c.id, totp_credentials.c.user_id, totp_credentials.c.secret
        ).order_by(totp_credentials.c.id)
        with connection(self._engine) as conn:
            return [(row.id, row.user_id, row.secret) for row in conn.execute(query)]

    def replace_secret(self, credential_id: int, old: str, new: str) -> bool:
        """Swap the ciphertext only if it is still ``old`` (a concurrent change wins)."""
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, totp_credentials.c.secret == old)
            .values(secret=new)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1


# Built once: every sign-in reads the confirmed authenticators (MFA standing), and every TOTP
# sign-in claims its step; building the statements per call cost more than running them.
_CONFIRMED = DriverStatement(
    select(totp_credentials)
    .where(
        totp_credentials.c.user_id == bindparam("user_id"),
        totp_credentials.c.confirmed_at.is_not(None),
    )
    .order_by(totp_credentials.c.id)
)
_CLAIM_STEP = DriverStatement(
    update(totp_credentials)
    .where(
        totp_credentials.c.id == bindparam("v_id"),
        or_(
            totp_credentials.c.last_step.is_(None),
            totp_credentials.c.last_step < bindparam("v_step"),
        ),
    )
    .values(last_step=bindparam("v_step"), last_used_at=bindparam("v_now"))
)


def _pending(user_id: int) -> ColumnElement[bool]:
    return and_(totp_credentials.c.user_id == user_id, totp_credentials.c.confirmed_at.is_(None))


def _to_record(row: Any) -> TotpRecord:
    """A row of ``totp_credentials``: SQLAlchemy's or a DriverStatement's."""
    return TotpRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        secret=row.secret,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        last_used_at=row.last_used_at,
        last_step=row.last_step,
    )
