"""A unit of work: several repositories' calls in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event

from quivive.composition import Services
from quivive.domain.users import NewUser
from quivive.storage.sessions import SessionRepository
from quivive.storage.unit_of_work import after_commit, in_unit_of_work, unit_of_work
from quivive.storage.users import UserRepository
from support.rows import count_rows
from support.sessions import session_row

T0 = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def _user(services: Services, name: str = "alice") -> int:
    return services.users.add(NewUser(name, name.title(), None, (), None, "$argon2id$x"), now=T0).id


@contextmanager
def _counting(engine: Engine) -> Iterator[dict[str, int]]:
    counts = {"checkout": 0, "commit": 0}

    def checkout(*_: object) -> None:
        counts["checkout"] += 1

    def commit(*_: object) -> None:
        counts["commit"] += 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "commit", commit)


def test_the_calls_of_a_unit_share_one_connection_and_one_commit(services: Services) -> None:
    user_id = _user(services)
    users, stored = UserRepository(services.engine), SessionRepository(services.engine)
    with _counting(services.engine) as counts, unit_of_work(services.engine):
        users.record_login(user_id, T0 + timedelta(minutes=1))
        stored.add(session_row(user_id, "a" * 64, T0))
        assert stored.find("a" * 64) is not None  # the unit reads its own writes
        assert users.get(user_id).last_login_at == T0 + timedelta(minutes=1)
    assert counts == {"checkout": 1, "commit": 1}
    assert count_rows(services.engine, "sessions") == 1


def test_others_see_a_unit_only_once_it_commits(services: Services) -> None:
    user_id = _user(services)
    stored = SessionRepository(services.engine)
    with unit_of_work(services.engine):
        stored.add(session_row(user_id, "a" * 64, T0))
        assert count_rows(services.engine, "sessions") == 0
    assert count_rows(services.engine, "sessions") == 1


def test_an_error_rolls_the_whole_unit_back(services: Services) -> None:
    user_id = _user(services)
    users, stored = UserRepository(services.engine), SessionRepository(services.engine)

    def write_then_fail() -> None:
        with unit_of_work(services.engine):
            users.record_login(user_id, T0 + timedelta(minutes=1))
            stored.add(session_row(user_id, "a" * 64, T0))
            raise RuntimeError("the step fails after its writes")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert count_rows(services.engine, "sessions") == 0
    assert users.get(user_id).last_login_at is None


def test_after_commit_runs_once_committed_and_never_after_a_rollback(services: Services) -> None:
    user_id = _user(services)
    stored = SessionRepository(services.engine)
    seen: list[tuple[str, int]] = []
    with unit_of_work(services.engine):
        stored.add(session_row(user_id, "a" * 64, T0))
        after_commit(lambda: seen.append(("first", count_rows(services.engine, "sessions"))))
        after_commit(lambda: seen.append(("second", count_rows(services.engine, "sessions"))))
        assert seen == []
    assert seen == [("first", 1), ("second", 1)]  # in order, and the writes already visible

    def defer_then_fail() -> None:
        with unit_of_work(services.engine):
            after_commit(lambda: seen.append(("rolled back", 0)))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        defer_then_fail()
    after_commit(lambda: seen.append(("no unit", 0)))  # outside any unit: at once
    assert seen[2:] == [("no unit", 0)]


def test_a_nested_unit_joins_the_outer_one(services: Services) -> None:
    user_id = _user(services)
    stored = SessionRepository(services.engine)
    with _counting(services.engine) as counts, unit_of_work(services.engine):
        with unit_of_work(services.engine):
            stored.add(session_row(user_id, "a" * 64, T0))
        assert count_rows(services.engine, "sessions") == 0  # the inner block committed nothing
    assert counts["commit"] == 1
    assert count_rows(services.engine, "sessions") == 1


def test_a_unit_belongs_to_its_own_thread(services: Services) -> None:
    user_id = _user(services)
    stored = SessionRepository(services.engine)
    outside: list[bool] = []

    def other_thread() -> None:
        outside.append(in_unit_of_work())
        stored.add(session_row(user_id, "b" * 64, T0))  # its own transaction, committed at once

    with unit_of_work(services.engine):
        stored.add(session_row(user_id, "a" * 64, T0))
        if services.engine.dialect.name == "sqlite":
            # SQLite has one writer: the other thread's write would wait for this unit.
            thread = threading.Thread(target=lambda: outside.append(in_unit_of_work()))
        else:
            thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        if services.engine.dialect.name != "sqlite":
            assert count_rows(services.engine, "sessions") == 1  # the other thread's only
    assert outside == [False]
    assert not in_unit_of_work()
