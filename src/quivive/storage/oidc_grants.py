"""Grants, codes, refresh tokens, revoked access tokens and consents of the OIDC provider.

Single use is enforced by the database, so it holds across processes and nodes: a code or a
refresh token is consumed by one compare-and-set ``UPDATE ... WHERE used IS NULL RETURNING``.
Under PostgreSQL's READ COMMITTED, a second concurrent update waits for the first's row lock,
re-evaluates the condition and matches nothing; SQLite serialises writers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from quivive.domain.grants import Grant
from quivive.storage.driver_sql import DriverStatement
from quivive.storage.session_validity import session_valid_at
from quivive.storage.tables import (
    oidc_consents,
    oidc_grants,
    oidc_refresh_tokens,
    oidc_revoked_tokens,
    sessions,
)
from quivive.storage.unit_of_work import connection, transaction

# Built once: every second factor (a session upgrade) moves the session's grants.
_MOVE_SESSION = DriverStatement(
    update(oidc_grants)
    .where(oidc_grants.c.session_hash == bindparam("old_hash"))
    .values(session_hash=bindparam("new_hash"))
)


@dataclass(frozen=True, slots=True)
class RefreshInfo:
    grant_id: str
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class EndedSession:
    session_hash: str
    user_id: int


class RefreshOutcome(enum.Enum):
    ROTATED = "rotated"
    REUSED = "reused"
    UNKNOWN = "unknown"  # never issued, expired or already purged


class GrantRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, grant: Grant) -> None:
        with transaction(self._engine) as conn:
            conn.execute(insert(oidc_grants).values(**_grant_row(grant)))

    def find(self, grant_id: str) -> Grant | None:
        return self._find_one(oidc_grants.c.grant_id == grant_id)

    def find_by_code(self, code_hash: str) -> Grant | None:
        return self._find_one(oidc_grants.c.code_hash == code_hash)

    def consume_code(self, code_hash: str, now: datetime) -> Grant | None:
        """The grant whose code this is, marking the code used; None if used, expired or unknown."""
        query = (
            update(oidc_grants)
            .where(
                oidc_grants.c.code_hash == code_hash,
                oidc_grants.c.code_used_at.is_(None),
                oidc_grants.c.code_expires_at > now,
                oidc_grants.c.revoked_at.is_(None),
            )
            .values(code_used_at=now)
            .returning(*oidc_grants.c)
        )
        with transaction(self._engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else _to_grant(row)

    def revoke(self, grant_id: str, now: datetime) -> bool:
        query = (
            update(oidc_grants)
            .where(oidc_grants.c.grant_id == grant_id, oidc_grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def end_session(self, session_hash: str, now: datetime) -> list[Grant]:
        """The session's live grants; the non-offline ones are revoked (Back-Channel Logout
        §2.7: offline refresh tokens "normally SHOULD NOT be revoked")."""
        query = select(oidc_grants).where(
            oidc_grants.c.session_hash == session_hash, oidc_grants.c.revoked_at.is_(None)
        )
        with connection(self._engine) as conn:
            live = [_to_grant(row) for row in conn.execute(query)]
        self._revoke_where(
            now, oidc_grants.c.session_hash == session_hash, oidc_grants.c.offline.is_(False)
        )
        return live

    def move_session(self, old_hash: str, new_hash: str) -> int:
        """Re-attach grants to a session's new identifier (the session was upgraded)."""
        parameters = {"old_hash": old_hash, "new_hash": new_hash}
        with transaction(self._engine) as conn:
            return _MOVE_SESSION.execute(conn, parameters)

    def ended_sessions_of_live_grants(self, now: datetime, limit: int) -> list[EndedSession]:
        """Up to ``limit`` browser sessions that live, non-offline grants hang on and that have
        ended at ``now`` (revoked, timed out or deleted); the ``sessions`` table is only read.

        Ended is decided in the WHERE clause, before the LIMIT: many live sessions must not hide
        the ended ones behind them."""
        ended = or_(sessions.c.token_hash.is_(None), ~session_valid_at(now))
        query = (
            select(oidc_grants.c.session_hash, oidc_grants.c.user_id)
            .distinct()
            .select_from(
                oidc_grants.outerjoin(sessions, sessions.c.token_hash == oidc_grants.c.session_hash)
            )
            .where(
                oidc_grants.c.revoked_at.is_(None),
                oidc_grants.c.offline.is_(False),
                oidc_grants.c.session_hash.is_not(None),
                ended,
            )
            .limit(limit)
        )
        with connection(self._engine) as conn:
            return [EndedSession(*row) for row in conn.execute(query)]

    def revoke_for_user(self, user_id: int, now: datetime) -> list[Grant]:
        return self._revoke_where(now, oidc_grants.c.user_id == user_id)

    def _revoke_where(self, now: datetime, *conditions: object) -> list[Grant]:
        query = (
            update(oidc_grants)
            .where(*conditions, oidc_grants.c.revoked_at.is_(None))  # type: ignore[arg-type]
            .values(revoked_at=now)
            .returning(*oidc_grants.c)
        )
        with transaction(self._engine) as conn:
            return [_to_grant(row) for row in conn.execute(query)]

    def is_live(self, grant_id: str) -> bool:
        query = select(oidc_grants.c.revoked_at).where(oidc_grants.c.grant_id == grant_id)
        with connection(self._engine) as conn:
            row = conn.execute(query).first()
        return row is not None and row.revoked_at is None

    # --- refresh tokens -----------------------------------------------------------------------

    def add_refresh(
        self, token_hash: str, grant_id: str, now: datetime, expires_at: datetime
    ) -> None:
        values = {
            "token_hash": token_hash,
            "grant_id": grant_id,
            "created_at": now,
            "expires_at": expires_at,
        }
        with transaction(self._engine) as conn:
            conn.execute(insert(oidc_refresh_tokens).values(**values))

    def use_refresh(self, token_hash: str, now: datetime) -> tuple[RefreshOutcome, str | None]:
        """Mark the token used (compare-and-set); a second use reports REUSED and its grant."""
        table = oidc_refresh_tokens
        query = (
            update(table)
            .where(table.c.token_hash == token_hash, table.c.used_at.is_(None))
            .where(table.c.expires_at > now)
            .values(used_at=now)
            .returning(table.c.grant_id)
        )
        with transaction(self._engine) as conn:
            row = conn.execute(query).first()
            if row is not None:
                return RefreshOutcome.ROTATED, str(row.grant_id)
            found = conn.execute(
                select(table.c.grant_id, table.c.used_at).where(table.c.token_hash == token_hash)
            ).first()
        if found is not None and found.used_at is not None:
            return RefreshOutcome.REUSED, str(found.grant_id)
        return RefreshOutcome.UNKNOWN, None

    def refresh_grant(self, token_hash: str) -> str | None:
        info = self.refresh_info(token_hash)
        return None if info is None else info.grant_id

    def refresh_info(self, token_hash: str) -> RefreshInfo | None:
        table = oidc_refresh_tokens
        query = select(table.c.grant_id, table.c.expires_at, table.c.used_at).where(
            table.c.token_hash == token_hash
        )
        with connection(self._engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return RefreshInfo(str(row.grant_id), row.expires_at, row.used_at)

    # --- access tokens revoked one by one -----------------------------------------------------

    def revoke_access_token(self, jti: str, expires_at: datetime) -> None:
        try:
            with transaction(self._engine) as conn:
                conn.execute(insert(oidc_revoked_tokens).values(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # already revoked: RFC 7009 revocation is idempotent

    def is_access_token_revoked(self, jti: str) -> bool:
        query = select(oidc_revoked_tokens.c.jti).where(oidc_revoked_tokens.c.jti == jti)
        with connection(self._engine) as conn:
            return conn.execute(query).first() is not None

    # --- consents -----------------------------------------------------------------------------

    def consented_scope(self, user_id: int, client_id: str) -> tuple[str, ...]:
        query = select(oidc_consents.c.scope).where(
            oidc_consents.c.user_id == user_id, oidc_consents.c.client_id == client_id
        )
        with connection(self._engine) as conn:
            row = conn.execute(query).first()
        return () if row is None else tuple(row.scope.split())

    def save_consent(
        self, user_id: int, client_id: str, scope: Sequence[str], now: datetime
    ) -> None:
        key = (oidc_consents.c.user_id == user_id) & (oidc_consents.c.client_id == client_id)
        with transaction(self._engine) as conn:
            conn.execute(delete(oidc_consents).where(key))
            conn.execute(
                insert(oidc_consents).values(
                    user_id=user_id, client_id=client_id, scope=" ".join(scope), granted_at=now
                )
            )

    def purge(self, now: datetime, *, grants_before: datetime) -> int:
        """Delete what can no longer be used: revoked-token entries and refresh tokens past their
        expiry, then grants created before ``grants_before`` that have no refresh token left.

        A purged grant's access tokens are refused from then on (fail closed), which is why the
        caller keeps grants well beyond the access-token lifetime.
        """
        live_refresh = select(oidc_refresh_tokens.c.grant_id).where(
            oidc_refresh_tokens.c.grant_id == oidc_grants.c.grant_id
        )
        with transaction(self._engine) as conn:
            removed = conn.execute(
                delete(oidc_revoked_tokens).where(oidc_revoked_tokens.c.expires_at <= now)
            ).rowcount
            removed += conn.execute(
                delete(oidc_refresh_tokens).where(oidc_refresh_tokens.c.expires_at <= now)
            ).rowcount
            removed += conn.execute(
                delete(oidc_grants).where(
                    oidc_grants.c.created_at < grants_before, ~live_refresh.exists()
                )
            ).rowcount
        return removed

    def _find_one(self, condition: object) -> Grant | None:
        with connection(self._engine) as conn:
            row = conn.execute(select(oidc_grants).where(condition)).first()  # type: ignore[arg-type]
        return None if row is None else _to_grant(row)


def _grant_row(grant: Grant) -> dict[str, object]:
    return {
        "grant_id": grant.grant_id,
        "code_hash": grant.code_hash,
        "client_id": grant.client_id,
        "user_id": grant.user_id,
        "session_hash": grant.session_hash,
        "sid": grant.sid,
        "redirect_uri": grant.redirect_uri,
        "scope": " ".join(grant.scope),
        "nonce": grant.nonce,
        "code_challenge": grant.code_challenge,
        "auth_time": grant.auth_time,
        "acr": grant.acr,
        "amr": " ".join(grant.amr),
        "created_at": grant.created_at,
        "code_expires_at": grant.code_expires_at,
        "code_used_at": grant.code_used_at,
        "offline": grant.offline,
        "revoked_at": grant.revoked_at,
    }


def _to_grant(row: Row[tuple[object, ...]]) -> Grant:
    m = row._mapping
    return Grant(
        grant_id=m["grant_id"],
        code_hash=m["code_hash"],
        client_id=m["client_id"],
        user_id=m["user_id"],
        session_hash=m["session_hash"],
        sid=m["sid"],
        redirect_uri=m["redirect_uri"],
        scope=tuple(m["scope"].split()),
        nonce=m["nonce"],
        code_challenge=m["code_challenge"],
        auth_time=m["auth_time"],
        acr=m["acr"],
        amr=tuple(m["amr"].split()),
        created_at=m["created_at"],
        code_expires_at=m["code_expires_at"],
        code_used_at=m["code_used_at"],
        offline=bool(m["offline"]),
        revoked_at=m["revoked_at"],
    )
