"""Pending WebAuthn ceremonies: a challenge per browser, single use, consumed atomically.

The browser holds a random ceremony identifier in an HttpOnly cookie; only its SHA-256 is stored,
like session tokens. ``consume`` is one ``DELETE ... RETURNING``: of two requests presenting the
same ceremony, exactly one gets the challenge (SQLite 3.35+ and PostgreSQL both support it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert

from quivive.storage.tables import webauthn_challenges as pending
from quivive.storage.unit_of_work import transaction


@dataclass(frozen=True, slots=True)
class PendingCeremony:
    purpose: str
    user_id: int | None
    challenge: str  # base64url
    expires_at: datetime
    user_handle: str | None = None  # base64url; the handle offered in registration options


class CeremonyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, ceremony_hash: str, ceremony: PendingCeremony, *, now: datetime) -> None:
        with transaction(self._engine) as conn:
            # Abandoned ceremonies are swept here: cheap (indexed) and no scheduler needed.
            conn.execute(delete(pending).where(pending.c.expires_at <= now))
            conn.execute(
                insert(pending).values(
                    ceremony_hash=ceremony_hash,
                    purpose=ceremony.purpose,
                    user_id=ceremony.user_id,
                    challenge=ceremony.challenge,
                    user_handle=ceremony.user_handle,
                    expires_at=ceremony.expires_at,
                )
            )

    def consume(self, ceremony_hash: str, purpose: str, *, now: datetime) -> PendingCeremony | None:
        """Delete the ceremony and return it if it was for ``purpose`` and is still live."""
        query = (
            delete(pending)
            .where(pending.c.ceremony_hash == ceremony_hash, pending.c.purpose == purpose)
            .returning(*pending.c)
        )
        with transaction(self._engine) as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= now:
            return None
        return PendingCeremony(purpose, row.user_id, row.challenge, row.expires_at, row.user_handle)
