"""User repository: the only code that reads or writes the ``users`` and ``user_roles`` tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from quivive.domain.users import NewUser, User, UserStatus
from quivive.errors import ConflictError, NotFoundError
from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import user_roles, users
from quivive.storage.unit_of_work import connection, transaction

# 128 bits: the OIDC `sub` must be unique and never reassigned, and must not reveal the username.
SUBJECT_BYTES = 16


class UserRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, new: NewUser, *, now: datetime) -> User:
        """Insert the user and their roles in one transaction: a failure leaves no row."""
        try:
            with transaction(self._engine) as conn:
                inserted = conn.execute(
                    insert(users).values(
                        subject=secrets.token_hex(SUBJECT_BYTES),
                        username=new.username,
                        display_name=new.display_name,
                        email=new.email,
                        professional_id=new.professional_id,
                        status=UserStatus.ACTIVE.value,
                        password_hash=new.password_hash,
                        created_at=now,
                    )
                ).inserted_primary_key
                if inserted is None:
                    raise RuntimeError("the database returned no key for the new user")
                user_id = int(inserted[0])
                _write_roles(conn, user_id, new.roles)
        except IntegrityError as exc:
            raise ConflictError(f"username already taken: {new.username}") from exc
        return self.get(user_id)

    def get(self, user_id: int) -> User:
        user = self._find(_BY_ID, user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        return user

    def find_by_username(self, username: str) -> User | None:
        """``username`` must already be normalised (``domain.users.normalise_username``)."""
        return self._find(_BY_USERNAME, username)

    def get_many(self, user_ids: Sequence[int]) -> list[User]:
        """The users with these ids, in the order given (unknown ids are left out)."""
        if not user_ids:
            return []
        with connection(self._engine) as conn:
            rows = conn.execute(select(users).where(users.c.id.in_(user_ids))).all()
            roles = _roles_of(conn, [row.id for row in rows])
        by_id = {row.id: _to_user(row, roles.get(row.id, ())) for row in rows}
        return [by_id[user_id] for user_id in user_ids if user_id in by_id]

    def set_roles(self, user_id: int, roles: Iterable[str]) -> None:
        with transaction(self._engine) as conn:
            _write_roles(conn, user_id, roles)

    def update_profile(self, user_id: int, **values: str | None) -> None:
        """Change display_name, email or professional_id (already validated)."""
        self._update(user_id, **values)

    def get_by_username(self, username: str) -> User:
        user = self.find_by_username(username)
        if user is None:
            raise NotFoundError(f"no user named {username!r}")
        return user

    def list(self, *, limit: int = 1000, after_id: int = 0) -> list[User]:
        with connection(self._engine) as conn:
            rows = conn.execute(
                select(users).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
            ).all()
            roles = _roles_of(conn, [row.id for row in rows])
        return [_to_user(row, roles.get(row.id, ())) for row in rows]

    def has_active_with_role(self, role: str) -> bool:
        query = (
            select(users.c.id)
            .join(user_roles, user_roles.c.user_id == users.c.id)
            .where(user_roles.c.role == role, users.c.status == UserStatus.ACTIVE.value)
            .limit(1)
        )
        with connection(self._engine) as conn:
            return conn.execute(query).first() is not None

    def set_status(self, user_id: int, status: UserStatus) -> None:
        self._update(user_id, status=status.value)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._update(user_id, password_hash=password_hash)

    def record_login(
        self, user_id: int, now: datetime, *, password_blocklisted: bool | None = None
    ) -> None:
        """``password_blocklisted``: None leaves the mark alone (a sign-in without a password)."""
        values: dict[str, object] = {"v_user_id": user_id, "v_last_login_at": now}
        statement = _RECORD_LOGIN
        if password_blocklisted is not None:
            # Plain values, no SQL expression: a CASE here cost ~250 µs more per sign-in on SQLite
            # (bench/bench_blocklist_login.py).
            values["v_flagged_at"] = now if password_blocklisted else None
            statement = _RECORD_PASSWORD_LOGIN
        with transaction(self._engine) as conn:
            changed = statement.execute(conn, values)
        if changed != 1:
            raise NotFoundError(f"no user with id {user_id}")

    def require_enrolment(self, user_id: int, now: datetime) -> None:
        """Mark the user to enrol a second factor at next sign-in (an administrator's reset)."""
        self._update(user_id, enrolment_required_at=now)

    def clear_enrolment_required(self, user_id: int) -> bool:
        """Lift the mark; False when there was none (so a second enrolment audits nothing)."""
        query = (
            update(users)
            .where(users.c.id == user_id, users.c.enrolment_required_at.is_not(None))
            .values(enrolment_required_at=None)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def _update(self, user_id: int, **values: object) -> None:
        with transaction(self._engine) as conn:
            result = conn.execute(update(users).where(users.c.id == user_id).values(**values))
        if result.rowcount != 1:
            raise NotFoundError(f"no user with id {user_id}")

    def _find(self, query: DriverStatement, value: object) -> User | None:
        with connection(self._engine) as conn:
            rows = query.rows(conn, {"value": value})
        if not rows:
            return None
        return _to_user(rows[0], tuple(row.role for row in rows if row.role is not None))


# A user and their roles in one query (one row per role; one with a NULL role for none): every
# sign-in and every signed-in request reads a user, and the separate roles query, an IN list that
# SQLAlchemy renders again at each execution, cost more than the user's row. Built once.
_WITH_ROLES = (
    select(users, user_roles.c.role)
    .select_from(users.outerjoin(user_roles, user_roles.c.user_id == users.c.id))
    .order_by(user_roles.c.role)
)
_BY_ID = DriverStatement(_WITH_ROLES.where(users.c.id == bindparam("value")))
# Every sign-in writes one of these: built once too.
_LAST_LOGIN = (
    update(users)
    .where(users.c.id == bindparam("v_user_id"))
    .values(last_login_at=bindparam("v_last_login_at"))
)
_RECORD_LOGIN = DriverStatement(_LAST_LOGIN)
_RECORD_PASSWORD_LOGIN = DriverStatement(
    _LAST_LOGIN.values(password_blocklisted_at=bindparam("v_flagged_at"))
)
_BY_USERNAME = DriverStatement(_WITH_ROLES.where(users.c.username == bindparam("value")))


def _write_roles(conn: Connection, user_id: int, roles: Iterable[str]) -> None:
    conn.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    rows = [{"user_id": user_id, "role": role} for role in roles]
    if rows:
        conn.execute(insert(user_roles), rows)


def _roles_of(conn: Connection, user_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    if not user_ids:
        return {}
    found: dict[int, list[str]] = {}
    query = select(user_roles).where(user_roles.c.user_id.in_(user_ids)).order_by(user_roles.c.role)
    for row in conn.execute(query):
        found.setdefault(row.user_id, []).append(row.role)
    return {user_id: tuple(roles) for user_id, roles in found.items()}


def _to_user(row: Any, roles: tuple[str, ...]) -> User:
    """A row of ``users``: SQLAlchemy's or a DriverStatement's (both name their columns)."""
    return User(
        id=row.id,
        subject=row.subject,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        roles=roles,
        professional_id=row.professional_id,
        status=UserStatus(row.status),
        password_hash=row.password_hash,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        enrolment_required_at=row.enrolment_required_at,
    )
