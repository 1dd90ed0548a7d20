"""Passkey repository: WebAuthn credential records, and the signature counter's compare-and-set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Engine,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from quivive.domain.passkeys import Passkey
from quivive.errors import ConflictError, NotFoundError
from quivive.protocols.webauthn import NewCredential
from quivive.storage.tables import webauthn_credentials as creds
from quivive.storage.unit_of_work import connection, transaction

# Built once: every sign-in reads the user's passkeys (MFA standing).
_FOR_USER = select(creds).where(creds.c.user_id == bindparam("user_id")).order_by(creds.c.id)


class PasskeyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self, user_id: int, new: NewCredential, *, user_handle: bytes, name: str, now: datetime
    ) -> Passkey:
        """Store a verified registration; ConflictError if the credential ID is known already."""
        values = {
            "user_id": user_id,
            "credential_id": bytes_to_base64url(new.credential_id),
            "user_handle": bytes_to_base64url(user_handle),
            "public_key": new.public_key,
            "sign_count": new.sign_count,
            "aaguid": new.aaguid,
            "transports": " ".join(new.transports),
            "user_verified": new.user_verified,
            "backup_eligible": new.backup_eligible,
            "backup_state": new.backup_state,
            "name": name,
            "created_at": now,
        }
        try:
            with transaction(self._engine) as conn:
                conn.execute(insert(creds).values(**values))
        except IntegrityError as exc:
            # WebAuthn L3 §7.1 step 26: "If the credentialId is already known then the Relying
            # Party SHOULD fail this registration ceremony."
            raise ConflictError("credential already registered") from exc
        found = self.find(new.credential_id)
        if found is None:
            raise NotFoundError("the passkey just stored is gone")
        return found

    def find(self, credential_id: bytes) -> Passkey | None:
        return self._first(creds.c.credential_id == bytes_to_base64url(credential_id))

    def get(self, user_id: int, passkey_id: int) -> Passkey | None:
        return self._first(and_(creds.c.id == passkey_id, creds.c.user_id == user_id))

    def for_user(self, user_id: int) -> list[Passkey]:
        with connection(self._engine) as conn:
            return [_to_passkey(row) for row in conn.execute(_FOR_USER, {"user_id": user_id})]

    def count_for_user(self, user_id: int) -> int:
        query = select(func.count()).select_from(creds).where(creds.c.user_id == user_id)
        with connection(self._engine) as conn:
            return int(conn.execute(query).scalar_one())

    def user_handle_of(self, user_id: int) -> bytes | None:
        """The handle the user's existing keys carry, so all of them name one account."""
        query = select(creds.c.user_handle).where(creds.c.user_id == user_id).limit(1)
        with connection(self._engine) as conn:
            handle = conn.execute(query).scalar_one_or_none()
        return None if handle is None else base64url_to_bytes(handle)

    def record_use(
        self, passkey_id: int, *, sign_count: int, backup_state: bool, now: datetime
    ) -> bool:
        """Store the new counter only if it still moves forward: False means it did not.

        One UPDATE is the compare-and-set, so two nodes verifying the same assertion (or a replay
        racing the original) cannot both pass: the second sees the counter already there. Keys
        that never count (0 then 0) always pass; their replays are stopped by single-use
        challenges instead.
        """
        # WebAuthn L3 §7.2 step 22: a nonzero counter must grow; 0 may follow only 0.
        moves_forward = creds.c.sign_count < sign_count if sign_count else creds.c.sign_count == 0
        query = (
            update(creds)
            .where(creds.c.id == passkey_id, moves_forward)
            .values(sign_count=sign_count, backup_state=backup_state, last_used_at=now)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def rename(self, user_id: int, passkey_id: int, name: str) -> bool:
        query = (
            update(creds)
            .where(creds.c.id == passkey_id, creds.c.user_id == user_id)
            .values(name=name)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def remove(self, user_id: int, passkey_id: int) -> bool:
        query = delete(creds).where(creds.c.id == passkey_id, creds.c.user_id == user_id)
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def _first(self, condition: ColumnElement[bool]) -> Passkey | None:
        with connection(self._engine) as conn:
            row = conn.execute(select(creds).where(condition)).first()
        return None if row is None else _to_passkey(row)


def _to_passkey(row: Row[tuple[object, ...]]) -> Passkey:
    m = row._mapping
    return Passkey(
        id=m["id"],
        user_id=m["user_id"],
        credential_id=base64url_to_bytes(m["credential_id"]),
        user_handle=base64url_to_bytes(m["user_handle"]),
        public_key=bytes(m["public_key"]),
        sign_count=m["sign_count"],
        aaguid=m["aaguid"],
        transports=tuple(m["transports"].split()),
        user_verified=bool(m["user_verified"]),
        backup_eligible=bool(m["backup_eligible"]),
        backup_state=bool(m["backup_state"]),
        name=m["name"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
    )
