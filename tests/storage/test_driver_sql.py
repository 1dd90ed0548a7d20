"""``DriverStatement`` runs Core statements on the driver's cursor exactly as SQLAlchemy would.

On SQLite and PostgreSQL: the same rows as ``Connection.execute``, the columns' types applied both
ways (aware UTC datetimes, booleans), values fixed in the statement, SQLAlchemy's exception types,
and the ``Connection``'s transaction (a rollback undoes a driver write).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from quivive.composition import Services
from quivive.domain.users import NewUser
from quivive.storage.driver_sql import DriverStatement
from quivive.storage.sessions import SessionRepository
from quivive.storage.tables import sessions, users
from support.sessions import session_row

T0 = datetime(2026, 3, 1, 7, 30, 15, 123456, tzinfo=UTC)


def _user(services: Services, name: str = "alice") -> int:
    return services.users.add(NewUser(name, name.title(), None, (), None, "$argon2id$x"), now=T0).id


def test_rows_are_those_sqlalchemy_returns(services: Services) -> None:
    user_id = _user(services)
    SessionRepository(services.engine).add(session_row(user_id, "a" * 64, T0, emergency=True))
    query = select(sessions).where(sessions.c.user_id == bindparam("user_id"))
    with services.engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(query, {"user_id": user_id})]
        got = DriverStatement(query).rows(conn, {"user_id": user_id})
    assert [tuple(row) for row in got] == expected
    row = got[0]
    assert row.created_at == T0
    assert row.created_at.tzinfo is not None  # aware UTC, as stored
    assert row.emergency is True  # SQLite's 1 converted, as the Boolean type does


def test_values_go_through_the_column_types(services: Services) -> None:
    user_id = _user(services)
    later = T0 + timedelta(hours=2)
    record = DriverStatement(
        update(users).where(users.c.id == bindparam("id")).values(last_login_at=bindparam("at"))
    )
    with services.engine.begin() as conn:
        assert record.execute(conn, {"id": user_id, "at": later}) == 1
    assert services.users.get(user_id).last_login_at == later
    with services.engine.begin() as conn, pytest.raises(ValueError, match="naive datetime"):
        # UTCDateTime refuses naive times: proof that the type's own conversion ran.
        record.execute(conn, {"id": user_id, "at": later.replace(tzinfo=None)})


def test_values_fixed_in_the_statement_need_not_be_given(services: Services) -> None:
    user_id = _user(services)
    add = DriverStatement(
        insert(users)
        .values(
            subject=bindparam("subject"),
            username=bindparam("username"),
            display_name="Fixed Name",
            status="active",
            created_at=bindparam("at"),
        )
        .returning(users.c.id, users.c.display_name)
    )
    with services.engine.begin() as conn:
        row = add.first(conn, {"subject": "s-bob", "username": "bob", "at": T0})
    assert row is not None
    assert row.display_name == "Fixed Name"
    assert row.id != user_id
    assert services.users.get(row.id).username == "bob"


def test_a_missing_parameter_is_named(services: Services) -> None:
    query = DriverStatement(select(users.c.id).where(users.c.username == bindparam("name")))
    with services.engine.connect() as conn, pytest.raises(KeyError, match="name"):
        query.rows(conn, {})


def test_driver_errors_are_sqlalchemy_errors(services: Services) -> None:
    _user(services, "alice")
    add = DriverStatement(
        insert(users).values(
            subject=bindparam("subject"),
            username=bindparam("username"),
            display_name="x",
            status="active",
            created_at=bindparam("at"),
        )
    )
    with pytest.raises(IntegrityError), services.engine.begin() as conn:
        add.execute(conn, {"subject": "s-2", "username": "alice", "at": T0})
    with pytest.raises(IntegrityError) as raised, services.engine.begin() as conn:
        add.execute_many(conn, [{"subject": "s-3", "username": "bob", "at": T0}] * 2)
    # The statement is named, its parameters (hashes, addresses) are not: the text is logged.
    assert "INSERT INTO users" in str(raised.value)
    assert "[parameters:" not in str(raised.value)
    assert services.users.find_by_username("alice") is not None
    assert services.users.find_by_username("bob") is None  # rolled back with the failed batch


def test_a_rollback_undoes_driver_writes(services: Services) -> None:
    user_id = _user(services)
    rename = DriverStatement(
        update(users).where(users.c.id == bindparam("id")).values(display_name=bindparam("name"))
    )

    def rename_then_fail() -> None:
        with services.engine.begin() as conn:
            rename.execute(conn, {"id": user_id, "name": "Renamed"})
            raise RuntimeError("the caller fails after the write")

    with pytest.raises(RuntimeError):
        rename_then_fail()
    assert services.users.get(user_id).display_name == "Alice"


def test_execute_many_writes_every_row(services: Services) -> None:
    ids = [_user(services, name) for name in ("alice", "bob", "carol")]
    rename = DriverStatement(
        update(users).where(users.c.id == bindparam("id")).values(display_name=bindparam("name"))
    )
    with services.engine.begin() as conn:
        rename.execute_many(conn, [{"id": i, "name": f"N{i}"} for i in ids])
    assert [services.users.get(i).display_name for i in ids] == [f"N{i}" for i in ids]


def test_statements_without_fixed_sql_are_refused(services: Services) -> None:
    expanding = DriverStatement(
        select(func.count()).where(users.c.id.in_(bindparam("ids", expanding=True)))
    )
    with services.engine.connect() as conn, pytest.raises(ValueError, match="fixed SQL"):
        expanding.rows(conn, {"ids": [1, 2]})
