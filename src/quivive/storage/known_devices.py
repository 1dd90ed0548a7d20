"""The ``known_devices`` table: which device-cookie hashes each user has signed in from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from quivive.storage.tables import known_devices


class KnownDeviceRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def count(self, user_id: int) -> int:
        query = select(func.count()).where(known_devices.c.user_id == user_id)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def knows(self, user_id: int, device_hash: str) -> bool:
        query = select(known_devices.c.user_id).where(
            known_devices.c.user_id == user_id, known_devices.c.device_hash == device_hash
        )
        with self._engine.connect() as conn:
            return conn.execute(query).first() is not None

    def add(self, user_id: int, device_hash: str, now: datetime, *, keep: int) -> bool:
        """Remember the device (False if another request just did); keep the newest ``keep``."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    known_devices.insert().values(
                        user_id=user_id, device_hash=device_hash, first_seen=now
                    )
                )
        except IntegrityError:
            return False
        self._prune(user_id, keep)
        return True

    def _prune(self, user_id: int, keep: int) -> None:
        newest = (
            select(known_devices.c.device_hash)
            .where(known_devices.c.user_id == user_id)
            .order_by(known_devices.c.first_seen.desc())
            .limit(keep)
        )
        with self._engine.begin() as conn:
            conn.execute(
                delete(known_devices).where(
                    known_devices.c.user_id == user_id,
                    known_devices.c.device_hash.not_in(newest.scalar_subquery()),
                )
            )
