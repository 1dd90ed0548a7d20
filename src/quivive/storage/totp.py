"""TOTP authenticators: encrypted secrets and the atomic replay guard (``last_step``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Engine,
    Row,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from quivive.storage.tables import totp_credentials


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
        with self._engine.begin() as conn:
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
        with self._engine.connect() as conn:
            row = conn.execute(select(totp_credentials).where(_pending(user_id))).first()
        return None if row is None else _to_record(row)

    def confirm(self, credential_id: int, user_id: int, step: int, now: datetime) -> bool:
        """Mark confirmed, recording the step used so the same code cannot sign in afterwards."""
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, _pending(user_id))
            .values(confirmed_at=now, last_step=step, last_used_at=now)
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def confirmed(self, user_id: int) -> list[TotpRecord]:
        with self._engine.connect() as conn:
            return [_to_record(row) for row in conn.execute(_CONFIRMED, {"user_id": user_id})]

    def claim_step(self, credential_id: int, step: int, now: datetime) -> bool:
        """Accept ``step`` once: a compare-and-set that only moves ``last_step`` forward.

        Two requests with the same code race on this single UPDATE; the database serialises them
        (row lock on PostgreSQL, the write lock on SQLite) and the loser matches no row.
        """
        values = {"v_id": credential_id, "v_step": step, "v_now": now}
        with self._engine.begin() as conn:
            return conn.execute(_CLAIM_STEP, values).rowcount == 1

    def rename(self, user_id: int, credential_id: int, name: str) -> bool:
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, totp_credentials.c.user_id == user_id)
            .values(name=name)
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def remove(self, user_id: int, credential_id: int | None = None) -> int:
        query = delete(totp_credentials).where(totp_credentials.c.user_id == user_id)
        if credential_id is not None:
            query = query.where(totp_credentials.c.id == credential_id)
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount

    def all_secrets(self) -> list[tuple[int, int, str]]:
        """(id, user_id, ciphertext) of every authenticator, for key rotation."""
        query = select(
            totp_credentials.c.id, totp_credentials.c.user_id, totp_credentials.c.secret
        ).order_by(totp_credentials.c.id)
        with self._engine.connect() as conn:
            return [(row.id, row.user_id, row.secret) for row in conn.execute(query)]

    def replace_secret(self, credential_id: int, old: str, new: str) -> bool:
        """Swap the ciphertext only if it is still ``old`` (a concurrent change wins)."""
        query = (
            update(totp_credentials)
            .where(totp_credentials.c.id == credential_id, totp_credentials.c.secret == old)
            .values(secret=new)
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount == 1


# Built once: every sign-in reads the confirmed authenticators (MFA standing), and every TOTP
# sign-in claims its step; building the statements per call cost more than running them.
_CONFIRMED = (
    select(totp_credentials)
    .where(
        totp_credentials.c.user_id == bindparam("user_id"),
        totp_credentials.c.confirmed_at.is_not(None),
    )
    .order_by(totp_credentials.c.id)
)
_CLAIM_STEP = (
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


def _to_record(row: Row[tuple[object, ...]]) -> TotpRecord:
    m = row._mapping
    return TotpRecord(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        secret=m["secret"],
        created_at=m["created_at"],
        confirmed_at=m["confirmed_at"],
        last_used_at=m["last_used_at"],
        last_step=m["last_step"],
    )
