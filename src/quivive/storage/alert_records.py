"""The audit records of the events that alert the security officer, newest first.

Alerts themselves are not stored (they go to e-mail, webhooks and the log); each one is raised
by an event that is audited, and these are the conditions that pick those records out, so that
the dashboard shows every alert the officer got, not only attacks. A new alert adds its line.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, not_, select

from quivive.domain.audit_chain import ChainRecord
from quivive.domain.users import ADMIN_ROLE
from quivive.storage.tables import audit_records, user_roles, users

# Past the last code point: "abc" <= name < "abc" + this is the prefix range on a plain index.
_PREFIX_END = "\U0010ffff"
_COLUMNS = [audit_records.c[name] for name in ChainRecord._fields]


def _attacks() -> ColumnElement[bool]:
    """Password spraying, credential stuffing, code guessing (services.throttling)."""
    action = audit_records.c.action
    return and_(action >= "attack.", action < "attack." + _PREFIX_END)


def _action(name: str, reason: str | None = None) -> ColumnElement[bool]:
    condition = audit_records.c.action == name
    return condition if reason is None else and_(condition, audit_records.c.reason == reason)


def _administrator_throttled() -> ColumnElement[bool]:
    """services.notifications.AdminThrottleWatch: an administrator's account (or account and
    address pair) throttled; an address alone is not about the account."""
    admins = (
        select(users.c.username)
        .join(user_roles, user_roles.c.user_id == users.c.id)
        .where(user_roles.c.role == ADMIN_ROLE)
    )
    return and_(
        audit_records.c.action == "throttle.triggered",
        audit_records.c.subject.in_(admins.scalar_subquery()),
        not_(audit_records.c.details.contains('"key_kind":"source"')),
    )


def alert_conditions() -> list[ColumnElement[bool]]:
    return [
        _attacks(),
        _action("emergency.granted"),  # services.emergency_access
        _action("emergency.witness_failed"),
        _action("emergency.refused", "limit_reached"),
        _action("login.passkey", "possible_cloned_authenticator"),  # services.passkeys
        _administrator_throttled(),
    ]


def recent_alerts(conn: Connection, limit: int) -> list[ChainRecord]:
    """One query per kind, each on the ``action, sequence`` index, merged: an OR over them
    would make the database walk the whole trail backwards when alerts are rare."""
    found: list[ChainRecord] = []
    for condition in alert_conditions():
        statement = (
            select(*_COLUMNS)
            .where(condition)
            .order_by(audit_records.c.sequence.desc())
            .limit(limit)
        )
        found.extend(ChainRecord._make(row) for row in conn.execute(statement))
    found.sort(key=lambda record: record.sequence, reverse=True)
    return found[:limit]
