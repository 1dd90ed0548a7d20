"""The recent sign-ins a user sees on their account page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, select

from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import sign_ins
from quivive.storage.unit_of_work import connection, transaction


@dataclass(frozen=True, slots=True)
class SignIn:
    at: datetime
    method: str  # the audit action: "login.password", "login.totp", ...
    outcome: str
    source_address: str | None
    user_agent: str | None


# Built once: one per sign-in, on its path.
_INSERT = DriverStatement(
    insert(sign_ins).values(
        {column.key: bindparam(column.key) for column in sign_ins.c if column.key != "id"}
    )
)


class SignInRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, user_id: int, sign_in: SignIn) -> None:
        with transaction(self._engine) as conn:
            _INSERT.execute(
                conn,
                {
                    "user_id": user_id,
                    "at": sign_in.at,
                    "method": sign_in.method[:64],
                    "outcome": sign_in.outcome,
                    "source_address": sign_in.source_address,
                    "user_agent": (sign_in.user_agent or "")[:512] or None,
                },
            )

    def recent(self, user_id: int, limit: int = 20) -> list[SignIn]:
        query = (
            select(sign_ins)
            .where(sign_ins.c.user_id == user_id)
            .order_by(sign_ins.c.at.desc(), sign_ins.c.id.desc())
            .limit(limit)
        )
        with connection(self._engine) as conn:
            return [
                SignIn(row.at, row.method, row.outcome, row.source_address, row.user_agent)
                for row in conn.execute(query)
            ]
