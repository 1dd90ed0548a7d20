"""The posture report's own reads, and its history (``posture_reports``).

Coverage comes from ``AdminQueries`` (the dashboard's query); what only the report needs is here.
Each figure is one aggregate statement, so a report costs a handful of queries whatever the
number of accounts; only the password-only accounts are read row by row, to weigh each against
its roles' MFA rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    and_,
    exists,
    func,
    insert,
    select,
)

from quivive.domain.admin_roles import CONSOLE_ROLES
from quivive.domain.audit_chain import format_time
from quivive.domain.emergency import ReviewStatus
from quivive.domain.posture import (
    Attacks,
    AuthenticatorKind,
    Emergency,
    KeptReport,
    KeyModel,
    Status,
    key_model_name,
)
from quivive.storage.admin_queries import count_where, has_factor, has_passkey, is_active
from quivive.storage.tables import (
    audit_records,
    emergency_accesses,
    posture_reports,
    recovery_codes,
    totp_credentials,
    user_roles,
    users,
    webauthn_credentials,
)
from quivive.storage.unit_of_work import connection, transaction

MAX_LISTED = 50  # names shown per figure; the console's user list has the rest
HISTORY_SHOWN = 12


class PostureRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def dormant(self, before: datetime) -> tuple[int, list[str]]:
        """Active accounts whose last sign-in (or creation, if never) is older than ``before``."""
        last = func.coalesce(users.c.last_login_at, users.c.created_at)
        return self._counted(last < before)

    def blocklisted(self) -> tuple[int, list[str]]:
        return self._counted(users.c.password_blocklisted_at.is_not(None))

    def _counted(self, condition: ColumnElement[bool]) -> tuple[int, list[str]]:
        """How many active accounts match, and the first MAX_LISTED names (for the report)."""
        total = select(func.count()).where(is_active(), condition)
        named = (
            select(users.c.username)
            .where(is_active(), condition)
            .order_by(users.c.username)
            .limit(MAX_LISTED)
        )
        with connection(self._engine) as conn:
            count = int(conn.execute(total).scalar_one())
            names = [str(name) for name in conn.execute(named).scalars()]
        return count, names

    def console_accounts_without_passkey(self) -> tuple[int, list[str]]:
        """Active console accounts, and the names of those without a WebAuthn credential."""
        console = exists().where(
            user_roles.c.user_id == users.c.id, user_roles.c.role.in_(sorted(CONSOLE_ROLES))
        )
        total = select(func.count()).where(is_active(), console)
        with connection(self._engine) as conn:
            count = int(conn.execute(total).scalar_one())
        return count, self._counted(and_(console, ~has_passkey()))[1]

    def password_only_roles(self) -> list[tuple[str, tuple[str, ...]]]:
        """Name and roles of each active account with neither a passkey nor a confirmed TOTP."""
        statement = (
            select(users.c.username, user_roles.c.role)
            .select_from(users.outerjoin(user_roles, user_roles.c.user_id == users.c.id))
            .where(is_active(), ~has_factor())
            .order_by(users.c.username)
        )
        found: dict[str, list[str]] = {}
        with connection(self._engine) as conn:
            for username, role in conn.execute(statement):
                roles = found.setdefault(str(username), [])
                if role is not None:
                    roles.append(str(role))
        return [(username, tuple(roles)) for username, roles in found.items()]

    def attacks(self, since: datetime) -> Attacks:
        action = audit_records.c.action
        statement = select(
            count_where(action == "throttle.triggered"),
            count_where(action == "attack.spraying"),
            count_where(action == "attack.stuffing"),
        ).where(
            audit_records.c.at >= format_time(since),
            action.in_(("throttle.triggered", "attack.spraying", "attack.stuffing")),
        )
        with connection(self._engine) as conn:
            row = conn.execute(statement).one()
        return Attacks(*(int(value or 0) for value in row))

    def emergency(self, since: datetime, overdue_before: datetime) -> Emergency:
        table = emergency_accesses
        status, started = table.c.review_status, table.c.started_at
        statement = select(
            count_where(started >= since),
            count_where(status == ReviewStatus.PENDING),
            count_where(and_(status == ReviewStatus.PENDING, started < overdue_before)),
            count_where(and_(status == ReviewStatus.JUSTIFIED, started >= since)),
            count_where(and_(status == ReviewStatus.UNJUSTIFIED, started >= since)),
        ).select_from(table)
        with connection(self._engine) as conn:
            row = conn.execute(statement).one()
        return Emergency(*(int(value or 0) for value in row))

    def inventory(self) -> tuple[list[AuthenticatorKind], list[KeyModel]]:
        kinds = [
            self._passkeys(synced=True),
            self._passkeys(synced=False),
            self._kind("totp", totp_credentials, totp_credentials.c.confirmed_at.is_not(None)),
            self._kind("recovery_codes", recovery_codes, recovery_codes.c.used_at.is_(None)),
        ]
        return kinds, self._key_models()

    def _passkeys(self, *, synced: bool) -> AuthenticatorKind:
        name = "passkey_synced" if synced else "passkey_device_bound"
        table = webauthn_credentials
        return self._kind(name, table, table.c.backup_eligible.is_(synced))

    def _kind(self, name: str, table: Table, condition: ColumnElement[bool]) -> AuthenticatorKind:
        statement = (
            select(func.count(func.distinct(table.c.user_id)), func.count())
            .select_from(table.join(users, users.c.id == table.c.user_id))
            .where(condition, is_active())
        )
        with connection(self._engine) as conn:
            accounts, credentials = conn.execute(statement).one()
        return AuthenticatorKind(name, int(accounts), int(credentials))

    def _key_models(self) -> list[KeyModel]:
        table = webauthn_credentials
        statement = (
            select(table.c.aaguid, table.c.backup_eligible, func.count())
            .select_from(table.join(users, users.c.id == table.c.user_id))
            .where(is_active())
            .group_by(table.c.aaguid, table.c.backup_eligible)
            .order_by(func.count().desc(), table.c.aaguid)
        )
        with connection(self._engine) as conn:
            rows = conn.execute(statement).all()
        return [
            KeyModel(str(aaguid), key_model_name(str(aaguid)), bool(synced), int(count))
            for aaguid, synced, count in rows
        ]

    # --- history --------------------------------------------------------------------------------

    def keep(
        self, *, at: datetime, kept_by: str, score: int, statuses: Iterable[tuple[str, Status]]
    ) -> None:
        results = dict(statuses)
        values = {
            "created_at": at,
            "kept_by": kept_by[:256],
            "score": score,
            "passed": sum(1 for status in results.values() if status is Status.PASS),
            "failed": sum(1 for status in results.values() if status is Status.FAIL),
            "results": json.dumps({key: value.value for key, value in results.items()}),
        }
        with transaction(self._engine) as conn:
            conn.execute(insert(posture_reports).values(**values))

    def history(self, limit: int = HISTORY_SHOWN) -> list[KeptReport]:
        """The latest kept reports, newest first."""
        statement = (
            select(posture_reports.c.created_at, posture_reports.c.score, posture_reports.c.results)
            .order_by(posture_reports.c.created_at.desc(), posture_reports.c.id.desc())
            .limit(limit)
        )
        with connection(self._engine) as conn:
            rows = conn.execute(statement).all()
        return [KeptReport(at, int(score), _statuses(text)) for at, score, text in rows]


def _statuses(text: str) -> dict[str, Status]:
    decoded = json.loads(text)
    if not isinstance(decoded, dict):
        return {}
    known = {item.value for item in Status}
    return {str(key): Status(value) for key, value in decoded.items() if value in known}
