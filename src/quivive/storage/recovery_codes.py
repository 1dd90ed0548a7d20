"""Recovery codes: salted hashes, each consumed once by a compare-and-set UPDATE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update

from quivive.storage.tables import recovery_codes
from quivive.storage.unit_of_work import connection, transaction


@dataclass(frozen=True, slots=True)
class StoredCode:
    id: int
    salt: str
    code_hash: str


@dataclass(frozen=True, slots=True)
class CodeStatus:
    remaining: int
    created_at: datetime | None


# Built once: every sign-in asks whether the user has codes left (MFA standing).
_STATUS = select(func.count(), func.min(recovery_codes.c.created_at)).where(
    recovery_codes.c.user_id == bindparam("user_id"), recovery_codes.c.used_at.is_(None)
)


class RecoveryCodeRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def replace(self, user_id: int, hashed: Sequence[tuple[str, str]], now: datetime) -> None:
        """Drop every code of the user and store the new (salt, hash) pairs, in one transaction."""
        rows = [
            {"user_id": user_id, "salt": salt, "code_hash": code_hash, "created_at": now}
            for salt, code_hash in hashed
        ]
        with transaction(self._engine) as conn:
            conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
            conn.execute(insert(recovery_codes), rows)

    def unused(self, user_id: int) -> list[StoredCode]:
        query = select(
            recovery_codes.c.id, recovery_codes.c.salt, recovery_codes.c.code_hash
        ).where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        with connection(self._engine) as conn:
            return [StoredCode(row.id, row.salt, row.code_hash) for row in conn.execute(query)]

    def consume(self, code_id: int, now: datetime) -> bool:
        query = (
            update(recovery_codes)
            .where(recovery_codes.c.id == code_id, recovery_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def status(self, user_id: int) -> CodeStatus:
        with connection(self._engine) as conn:
            count, created = conn.execute(_STATUS, {"user_id": user_id}).one()
        return CodeStatus(int(count), created)

    def remove_all(self, user_id: int) -> int:
        with transaction(self._engine) as conn:
            return conn.execute(
                delete(recovery_codes).where(recovery_codes.c.user_id == user_id)
            ).rowcount
