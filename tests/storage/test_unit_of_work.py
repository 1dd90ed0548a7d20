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
from quivive.errors import StorageError
from quivive.storage import unit_of_work as unit_of_work_module
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


def test_a_sqlite_unit_waits_its_turn_and_reads_what_the_one_before_wrote(
    sqlite_services: Services,
) -> None:
    # A unit takes SQLite's write lock first (after this process's queue), so a unit that begins
    # while another is open waits for its commit, then reads its write: no stale read to lose a
    # compare-and-set on. A deferred transaction would read the old row at once.
    engine = sqlite_services.engine
    user_id = _user(sqlite_services)
    users = UserRepository(engine)
    first_wrote, first_may_commit = threading.Event(), threading.Event()
    seen: list[datetime | None] = []

    def first() -> None:
        with unit_of_work(engine):
            users.record_login(user_id, T0)
            first_wrote.set()
            first_may_commit.wait(timeout=10)

    def second() -> None:
        with unit_of_work(engine):
            seen.append(users.get(user_id).last_login_at)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_wrote.wait(timeout=10)
    threads[1].start()
    threads[1].join(timeout=0.3)
    assert threads[1].is_alive(), "the second unit began while the first was open"
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == [T0]


def test_a_sqlite_unit_that_never_gets_its_turn_fails_clearly(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unit_of_work_module, "WRITER_WAIT_S", 0.1)
    engine = sqlite_services.engine
    holding, done = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with unit_of_work(engine):
            holding.set()
            done.wait(timeout=10)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    assert holding.wait(timeout=10)
    try:
        with pytest.raises(StorageError, match="stayed busy"), unit_of_work(engine):
            pass
    finally:
        done.set()
        holder.join(timeout=10)
    with unit_of_work(engine):  # the turn is free again once the holder commits
        pass
