"""Audit records appended inside a unit of work: in its transaction, under the chain lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.users import NewUser
from quivive.storage.audit import LockedChain
from quivive.storage.unit_of_work import unit_of_work
from support.quivive import running_services
from support.rows import count_rows

EVENT = AuditEvent(
    action="login.password", outcome=Outcome.SUCCESS, at=datetime(2026, 3, 1, tzinfo=UTC)
)
UNITS_PER_THREAD = 15


@pytest.fixture
def chained(tmp_path: Path, backend: str) -> Iterator[Services]:
    with running_services(tmp_path, backend, chained_audit=True) as built:
        yield built


def test_parallel_units_append_one_unbroken_chain(chained: Services) -> None:
    # Half the units write before their record (SQLite: they hold the write lock already), half
    # only read (the chain's lock starts their transaction): the chain must come out whole.
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            for n in range(UNITS_PER_THREAD):
                with unit_of_work(chained.engine):
                    if n % 2:
                        name = f"user-{thread}-{n}"
                        chained.users.add(NewUser(name, name, None, (), None, None), now=EVENT.at)
                    else:
                        chained.users.find_by_username("nobody")
                    chained.audit.record(replace(EVENT, actor=f"{thread}-{n}"))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    actors = {record.actor for record in chained.audit_trail.latest(1000)}
    assert {f"{t}-{n}" for t in range(4) for n in range(UNITS_PER_THREAD)} <= actors
    assert chained.audit_trail.verify().ok


def test_a_unit_rolled_back_leaves_no_record(chained: Services) -> None:
    def record_then_fail() -> None:
        with unit_of_work(chained.engine):
            chained.audit.record(replace(EVENT, actor="rolled back"))
            raise RuntimeError("the step fails after its record")

    with pytest.raises(RuntimeError):
        record_then_fail()
    chained.audit.record(replace(EVENT, actor="kept"))

    assert [record.actor for record in chained.audit_trail.latest(10)] == ["kept"]
    assert chained.audit_trail.verify().ok


def test_a_failed_append_does_not_undo_the_unit(
    chained: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Availability first: the step goes through, and the lost record is logged. The failure is
    # the database's, which on PostgreSQL would abort the whole transaction but for a savepoint.
    def broken_insert(self: LockedChain, records: object) -> None:
        self._conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(LockedChain, "insert", broken_insert)
    with unit_of_work(chained.engine):
        chained.users.add(NewUser("alice", "Alice", None, (), None, None), now=EVENT.at)
        chained.audit.record(EVENT)
        chained.users.add(NewUser("bob", "Bob", None, (), None, None), now=EVENT.at)

    assert count_rows(chained.engine, "users") == 2
    assert "audit append failed for 1 record(s)" in caplog.text
