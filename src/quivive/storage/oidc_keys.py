"""Signing-key repository (``oidc_signing_keys``).

Keys are in the database, not the data dir, so that every node of a cluster signs and verifies
with the same set and sees a rotation made on any node (each node reloads within a minute, and at
once when it meets an unknown ``kid``). The private JWKs are as sensitive as the password hashes
in the same database: protect its backups alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Row, delete, insert, select, update

from quivive.protocols.oidc.jose_keys import SigningKey
from quivive.storage.tables import oidc_signing_keys
from quivive.storage.unit_of_work import connection, transaction


class SigningKeyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, key: SigningKey) -> None:
        with transaction(self._engine) as conn:
            conn.execute(
                insert(oidc_signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_jwk=key.private_jwk,
                    created_at=key.created_at,
                    retired_at=key.retired_at,
                    remove_after=key.remove_after,
                )
            )

    def live(self, now: datetime) -> list[SigningKey]:
        """Keys that sign or still verify at ``now``, oldest first."""
        table = oidc_signing_keys
        query = (
            select(table)
            .where((table.c.remove_after.is_(None)) | (table.c.remove_after > now))
            .order_by(table.c.created_at)
        )
        with connection(self._engine) as conn:
            return [_to_key(row) for row in conn.execute(query)]

    def retire_all(self, now: datetime, remove_after: datetime) -> int:
        """Stop every current key from signing; each still verifies until ``remove_after``."""
        table = oidc_signing_keys
        query = (
            update(table)
            .where(table.c.retired_at.is_(None))
            .values(retired_at=now, remove_after=remove_after)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount

    def purge(self, now: datetime) -> int:
        table = oidc_signing_keys
        with transaction(self._engine) as conn:
            return conn.execute(delete(table).where(table.c.remove_after <= now)).rowcount


def _to_key(row: Row[tuple[object, ...]]) -> SigningKey:
    m = row._mapping
    return SigningKey(
        kid=m["kid"],
        alg=m["alg"],
        private_jwk=m["private_jwk"],
        created_at=m["created_at"],
        retired_at=m["retired_at"],
        remove_after=m["remove_after"],
    )
