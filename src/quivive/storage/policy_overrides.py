"""Policy values set from the admin console or API, each overriding the configured value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from quivive.storage.tables import policy_overrides
from quivive.storage.unit_of_work import connection, transaction


@dataclass(frozen=True, slots=True)
class StoredOverride:
    key: str
    value: str
    updated_at: datetime
    updated_by: str | None


class PolicyOverrideRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[StoredOverride]:
        statement = select(policy_overrides).order_by(policy_overrides.c.key)
        with connection(self._engine) as conn:
            rows = conn.execute(statement).all()
        return [StoredOverride(**row._mapping) for row in rows]

    def put(self, key: str, value: str, *, now: datetime, actor: str) -> None:
        values = {"value": value, "updated_at": now, "updated_by": actor}
        with transaction(self._engine) as conn:
            changed = conn.execute(
                update(policy_overrides).where(policy_overrides.c.key == key).values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(policy_overrides).values(key=key, **values))

    def remove(self, key: str) -> bool:
        with transaction(self._engine) as conn:
            statement = delete(policy_overrides).where(policy_overrides.c.key == key)
            return conn.execute(statement).rowcount == 1
