"""The ``known_devices`` table: which device-cookie hashes each user has signed in from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Delete, Engine, bindparam, case, delete, func, select
from sqlalchemy.exc import IntegrityError

from quivive.storage.tables import known_devices

# Built once: every sign-in asks.
_LOOKUP = select(
    func.count(),
    func.max(case((known_devices.c.device_hash == bindparam("device_hash"), 1), else_=0)),
).where(known_devices.c.user_id == bindparam("user_id"))


class KnownDeviceRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lookup(self, user_id: int, device_hash: str) -> tuple[bool, int]:
        """Whether the user has this device, and how many devices they have.

        Every sign-in asks, so both come from one query.
        """
        parameters = {"user_id": user_id, "device_hash": device_hash}
        with self._engine.connect() as conn:
            count, found = conn.execute(_LOOKUP, parameters).one()
        return bool(found), int(count)

    def add(self, user_id: int, device_hash: str, now: datetime, *, keep: int) -> bool:
        """Remember the device (False if another request just did); keep the newest ``keep``.

        The insert and the pruning are one transaction: one commit per new device.
        """
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    known_devices.insert().values(
                        user_id=user_id, device_hash=device_hash, first_seen=now
                    )
                )
                conn.execute(_prune(user_id, keep))
        except IntegrityError:
            return False
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
