"""The ``known_devices`` table: which device-cookie hashes each user has signed in from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Delete, Engine, bindparam, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import known_devices
from quivive.storage.unit_of_work import connection, transaction

# Built once: every sign-in asks.
_LOOKUP = DriverStatement(
    select(
        func.count(),
        func.max(case((known_devices.c.device_hash == bindparam("device_hash"), 1), else_=0)),
    ).where(known_devices.c.user_id == bindparam("user_id"))
)


class KnownDeviceRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # A conflict (another request of this user just added the device) inserts nothing, with
        # no error: an error would abort the transaction of the sign-in this runs in.
        self._insert = (
            dialect_insert(known_devices)
            .on_conflict_do_nothing()
            .returning(known_devices.c.user_id)
        )

    def lookup(self, user_id: int, device_hash: str) -> tuple[bool, int]:
        """Whether the user has this device, and how many devices they have.

        Every sign-in asks, so both come from one query.
        """
        parameters = {"user_id": user_id, "device_hash": device_hash}
        with connection(self._engine) as conn:
            row = _LOOKUP.first(conn, parameters)
        if row is None:
            raise RuntimeError("an aggregate query returned no row")
        count, found = row
        return bool(found), int(count)

    def add(self, user_id: int, device_hash: str, now: datetime, *, keep: int) -> bool:
        """Remember the device (False if another request just did); keep the newest ``keep``.

        The insert and the pruning are one transaction: one commit per new device.
        """
        row = {"user_id": user_id, "device_hash": device_hash, "first_seen": now}
        with transaction(self._engine) as conn:
            if conn.execute(self._insert.values(**row)).first() is None:
                return False
            conn.execute(_prune(user_id, keep))
        return True


def _prune(user_id: int, keep: int) -> Delete:
    newest = (
        select(known_devices.c.device_hash)
        .where(known_devices.c.user_id == user_id)
        .order_by(known_devices.c.first_seen.desc())
        .limit(keep)
    )
    return delete(known_devices).where(
        known_devices.c.user_id == user_id,
        known_devices.c.device_hash.not_in(newest.scalar_subquery()),
    )
