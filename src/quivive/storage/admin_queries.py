"""Read-only views for the admin console and API: user directory pages, coverage, audit pages.

Every list is a keyset page (``WHERE id > :cursor ORDER BY id LIMIT n``): the cost of a page does
not grow with the number of users or records, and no ``COUNT(*)`` runs over everything per page.
Filters are index-backed where they can be: the search a trigram index (``user_search``), the
role filter the primary key of ``user_roles``, the factor filter the ``user_id`` indexes of the
credential tables.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    case,
    exists,
    func,
    or_,
    select,
)

from quivive.domain.audit_chain import ChainRecord
from quivive.domain.users import User, UserStatus
from quivive.storage.alert_records import recent_alerts
from quivive.storage.session_validity import session_valid_at
from quivive.storage.tables import (
    audit_records,
    sessions,
    setup_tokens,
    totp_credentials,
    user_roles,
    users,
    webauthn_credentials,
)
from quivive.storage.unit_of_work import connection
from quivive.storage.user_search import search_condition
from quivive.storage.users import UserRepository

# Past the last code point: "abc" <= name < "abc" + this is the prefix range on a plain index.
_PREFIX_END = "\U0010ffff"
MAX_PAGE_SIZE = 200
# Cursors come from URLs: past the largest integer every backend stores, there is nothing.
MAX_ID = 2**62
PASSWORD_ONLY_SHOWN = 50
EXPORT_BATCH = 500


class FactorFilter(enum.StrEnum):
    NONE = "none"  # password only: no passkey, no confirmed TOTP
    ANY = "any"
    PASSKEY = "passkey"


@dataclass(frozen=True, slots=True)
class UserQuery:
    search: str = ""  # part of the username, display name, e-mail or professional identifier
    role: str | None = None
    status: UserStatus | None = None
    factor: FactorFilter | None = None
    after: int = 0  # cursor: the last id of the previous page
    limit: int = 50


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class Coverage:
    """MFA coverage of active users, overall (role ``None``) or for one role."""

    role: str | None
    active: int
    with_mfa: int
    phishing_resistant: int

    @property
    def password_only(self) -> int:
        return self.active - self.with_mfa


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    subject: str | None = None
    action: str | None = None  # exact, or a prefix ending with "." ("admin.")
    outcome: str | None = None
    before: int | None = None  # cursor: the last sequence of the previous page (newest first)
    limit: int = 50
    since: str | None = None  # canonical time (domain.audit_chain.format_time), inclusive
    until: str | None = None  # canonical time, exclusive
    source: str | None = None  # an address, or its beginning ending with "." or ":" ("10.1.")


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[ChainRecord]
    next_cursor: int | None


# Shared with the posture report (storage.posture), which counts the same accounts and factors.


def is_active() -> ColumnElement[bool]:
    return users.c.status == UserStatus.ACTIVE.value


def has_passkey() -> ColumnElement[bool]:
    return exists().where(webauthn_credentials.c.user_id == users.c.id)


def has_totp() -> ColumnElement[bool]:
    return exists().where(
        totp_credentials.c.user_id == users.c.id, totp_credentials.c.confirmed_at.is_not(None)
    )


def has_factor() -> ColumnElement[bool]:
    return or_(has_passkey(), has_totp())


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of a group match ``condition`` (NULL over no rows, as any SUM)."""
    return func.sum(case((condition, 1), else_=0))


def _factor_condition(factor: FactorFilter) -> ColumnElement[bool]:
    if factor is FactorFilter.PASSKEY:
        return has_passkey()
    if factor is FactorFilter.ANY:
        return has_factor()
    return ~has_factor()


class AdminQueries:
    def __init__(self, engine: Engine, users_repository: UserRepository) -> None:
        self._engine = engine
        self._users = users_repository

    def users_page(self, query: UserQuery) -> UserPage:
        limit = max(1, min(query.limit, MAX_PAGE_SIZE))
        if query.after >= MAX_ID:
            return UserPage([], None)
        statement = self._users_statement(query).limit(limit + 1)
        with connection(self._engine) as conn:
            ids = [int(value) for value in conn.execute(statement).scalars()]
        found = self._users.get_many(ids[:limit])
        return UserPage(found, ids[limit - 1] if len(ids) > limit else None)

    def _users_statement(self, query: UserQuery) -> Select[int]:
        conditions: list[ColumnElement[bool]] = [
            users.c.id > query.after,
            search_condition(query.search, self._engine.dialect.name, query.after),
        ]
        if query.role:
            conditions.append(
                exists().where(user_roles.c.user_id == users.c.id, user_roles.c.role == query.role)
            )
        if query.status is not None:
            conditions.append(users.c.status == query.status.value)
        if query.factor is not None:
            conditions.append(_factor_condition(query.factor))
        return select(users.c.id).where(*conditions).order_by(users.c.id)

    def coverage(self) -> list[Coverage]:
        """Overall coverage first, then one row per role (the dashboard; not per page view)."""
        active = is_active()
        mfa = count_where(has_factor())
        phishing = count_where(has_passkey())
        overall = select(func.count(), mfa, phishing).select_from(users).where(active)
        by_role = (
            select(user_roles.c.role, func.count(), mfa, phishing)
            .select_from(users.join(user_roles, user_roles.c.user_id == users.c.id))
            .where(active)
            .group_by(user_roles.c.role)
            .order_by(user_roles.c.role)
        )
        with connection(self._engine) as conn:
            total = conn.execute(overall).one()
            rows = conn.execute(by_role).all()
        first = Coverage(None, int(total[0]), int(total[1] or 0), int(total[2] or 0))
        return [first, *(Coverage(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows)]

    def password_only(self, limit: int = PASSWORD_ONLY_SHOWN) -> list[User]:
        page = self.users_page(
            UserQuery(status=UserStatus.ACTIVE, factor=FactorFilter.NONE, limit=limit)
        )
        return page.users

    def active_sessions(self, now: datetime) -> int:
        """Sessions usable at ``now``: each by its own idle limit, which its assurance level and
        the timeouts in force when it started set (not the configured default)."""
        statement = select(func.count()).select_from(sessions).where(session_valid_at(now))
        with connection(self._engine) as conn:
            return int(conn.execute(statement).scalar_one())

    def failures_by_period(self, since: str, width: int) -> dict[str, tuple[int, int]]:
        """Failed sign-ins and throttle triggers per period since ``since`` (canonical time).

        A period is the first ``width`` characters of the canonical time: 13 for hours
        ("2026-01-15T08"), 10 for days. The ``at`` index bounds the scan to the window.
        """
        at, action = audit_records.c.at, audit_records.c.action
        failed = and_(action.like("login.%"), audit_records.c.outcome == "failure")
        throttled = action == "throttle.triggered"
        period = func.substr(at, 1, width)
        statement = (
            select(period, count_where(failed), count_where(throttled))
            .where(at >= since, or_(failed, throttled))
            .group_by(period)
        )
        with connection(self._engine) as conn:
            return {
                str(row[0]): (int(row[1] or 0), int(row[2] or 0)) for row in conn.execute(statement)
            }

    def live_token_until(self, purpose: str, now: datetime) -> datetime | None:
        """The latest expiry of an unused, unexpired one-time token for ``purpose``."""
        statement = select(func.max(setup_tokens.c.expires_at)).where(
            setup_tokens.c.purpose == purpose,
            setup_tokens.c.used_at.is_(None),
            setup_tokens.c.expires_at > now,
        )
        with connection(self._engine) as conn:
            value = conn.execute(statement).scalar()
        return _aware(value)

    def audit_page(self, query: AuditQuery) -> AuditPage:
        limit = max(1, min(query.limit, MAX_PAGE_SIZE))
        conditions = _audit_conditions(query)
        if query.before is not None:
            conditions.append(audit_records.c.sequence < query.before)
        statement = (
            select(*_AUDIT_COLUMNS)
            .where(*conditions)
            .order_by(audit_records.c.sequence.desc())
            .limit(limit + 1)
        )
        with connection(self._engine) as conn:
            rows = [ChainRecord._make(row) for row in conn.execute(statement)]
        more = len(rows) > limit
        return AuditPage(rows[:limit], rows[limit - 1].sequence if more else None)

    def recent_alerts(self, limit: int) -> list[ChainRecord]:
        """The records of the events that alerted the security officer, newest first."""
        with connection(self._engine) as conn:
            return recent_alerts(conn, limit)

    def last_record(self, action: str) -> ChainRecord | None:
        """The newest record of ``action`` (the ``action, sequence`` index finds it at once)."""
        page = self.audit_page(AuditQuery(action=action, limit=1))
        return page.records[0] if page.records else None

    def audit_records(self, query: AuditQuery, batch: int = EXPORT_BATCH) -> Iterator[ChainRecord]:
        """Every matching record, oldest first, read in keyset batches (for the export)."""
        after = -1
        while True:
            conditions = [*_audit_conditions(query), audit_records.c.sequence > after]
            statement = (
                select(*_AUDIT_COLUMNS)
                .where(*conditions)
                .order_by(audit_records.c.sequence)
                .limit(batch)
            )
            with connection(self._engine) as conn:
                rows = [ChainRecord._make(row) for row in conn.execute(statement)]
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].sequence


_AUDIT_COLUMNS = [audit_records.c[name] for name in ChainRecord._fields]


def _audit_conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (audit_records.c.actor, query.actor),
        (audit_records.c.subject, query.subject),
        (audit_records.c.outcome, query.outcome),
    ):
        if value:
            conditions.append(column == value)
    if query.action:
        conditions.append(_action_condition(query.action))
    if query.since:
        conditions.append(audit_records.c.at >= query.since)
    if query.until:
        conditions.append(audit_records.c.at < query.until)
    if query.source:
        conditions.append(_source_condition(query.source))
    return conditions


def _source_condition(source: str) -> ColumnElement[bool]:
    column = audit_records.c.source_address
    if source.endswith((".", ":")):  # a network written as its beginning: "10.1." or "fd00:"
        return and_(column >= source, column < source + _PREFIX_END)
    return column == source


def _action_condition(action: str) -> ColumnElement[bool]:
    if action.endswith("."):
        return and_(audit_records.c.action >= action, audit_records.c.action < action + _PREFIX_END)
    return audit_records.c.action == action


def _aware(value: object) -> datetime | None:
    # max() bypasses the column's UTCDateTime decoding: SQLite returns text, PostgreSQL naive.
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
