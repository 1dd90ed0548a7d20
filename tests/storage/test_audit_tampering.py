"""The audit chain on SQLite and PostgreSQL, tampered with directly in the database."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import Breakage
from quivive.services.audit import CHECKPOINT_EVERY, CHECKPOINT_EVERY_RECORDS, AuditTrail
from support.quivive import running_services

COLUMNS = (
    "at, action, outcome, actor, subject, reason, source_address, user_agent, request_id, "
    "details, prev_hash, hash"
)


@pytest.fixture
def chained(tmp_path: Path, backend: str, clock: FrozenClock) -> Iterator[Services]:
    with running_services(tmp_path, backend, clock=clock) as services:
        yield services


def fill(trail: AuditTrail, clock: FrozenClock, count: int) -> None:
    for number in range(count):
        clock.advance(timedelta(milliseconds=10))
        trail.append(
            AuditEvent(
                "login.password",
                Outcome.FAILURE if number % 2 else Outcome.SUCCESS,
                clock.now(),
                actor=f"user{number}",
                subject=f"user{number}",
                reason="bad_credentials" if number % 2 else None,
                source_address="192.0.2.7",
                user_agent="Mozilla/5.0",
                request_id=f"r{number}",
                details={"factor": "password"},
            )
        )


def tamper(services: Services, *statements: str) -> None:
    with services.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def shift_up_from(conn: Connection, sequence: int) -> None:
    """Make room at ``sequence`` the way an attacker would, without tripping the primary key."""
    conn.execute(
        text("UPDATE audit_records SET sequence = -(sequence + 1) WHERE sequence >= :s"),
        {"s": sequence},
    )
    conn.execute(text("UPDATE audit_records SET sequence = -sequence WHERE sequence < 0"))


def verdict_of(services: Services) -> tuple[Breakage | None, int | None]:
    report = services.audit_trail.verify()
    return report.verdict.breakage, report.verdict.sequence


def test_chain_is_intact_after_many_appends(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, CHECKPOINT_EVERY_RECORDS + 200)

    report = chained.audit_trail.verify()

    assert report.ok, report.message
    assert report.verdict.checked == CHECKPOINT_EVERY_RECORDS + 200
    assert report.last_checkpoint is not None
    assert report.last_checkpoint.sequence == CHECKPOINT_EVERY_RECORDS + 1


def test_updated_field_is_caught(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 30)

    tamper(chained, "UPDATE audit_records SET reason = NULL WHERE sequence = 12")

    assert verdict_of(chained) == (Breakage.MODIFIED, 12)


def test_deleted_record_is_caught(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 30)

    tamper(chained, "DELETE FROM audit_records WHERE sequence = 17")

    assert verdict_of(chained) == (Breakage.DELETED, 17)


def test_inserted_forged_record_is_caught(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 30)
    with chained.engine.begin() as conn:
        shift_up_from(conn, 11)
        conn.execute(
            text(
                f"INSERT INTO audit_records (sequence, {COLUMNS}) SELECT 11, {COLUMNS} "  # noqa: S608 - constant column list
                "FROM audit_records WHERE sequence = 12"
            )
        )
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE sequence = 11"))

    assert verdict_of(chained) == (Breakage.INSERTED, 11)


def test_swapped_records_are_caught(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 30)

    tamper(
        chained,
        "UPDATE audit_records SET sequence = -1 WHERE sequence = 8",
        "UPDATE audit_records SET sequence = 8 WHERE sequence = 21",
        "UPDATE audit_records SET sequence = 21 WHERE sequence = -1",
    )

    assert verdict_of(chained) == (Breakage.REORDERED, 8)


def test_truncated_tail_before_a_checkpoint_is_caught(
    chained: Services, clock: FrozenClock
) -> None:
    fill(chained.audit_trail, clock, 30)
    point = chained.audit_trail.checkpoint()
    assert point is not None
    assert point.sequence == 30

    tamper(chained, "DELETE FROM audit_records WHERE sequence > 25")

    report = chained.audit_trail.verify()
    assert (report.verdict.breakage, report.verdict.sequence) == (Breakage.TRUNCATED, 26)
    assert report.message == (
        "record 26: truncated: records 26 to 30 are missing: the chain ends at 25 but a signed "
        "checkpoint covers 30"
    )


def test_forged_checkpoint_is_caught(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 5)
    chained.audit_trail.checkpoint()

    tamper(chained, "UPDATE audit_checkpoints SET kind = 'purge'")

    assert verdict_of(chained) == (Breakage.BAD_CHECKPOINT, 1)  # the first append's checkpoint


def test_purge_keeps_the_chain_verifiable(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 20)
    cutoff = clock.now() - timedelta(milliseconds=45)  # the last 5 records are kept
    fill(chained.audit_trail, clock, 3)

    result = chained.audit_trail.purge(cutoff)

    assert result.deleted == 15
    assert result.checkpoint is not None
    assert result.checkpoint.sequence == 15
    report = chained.audit_trail.verify()
    assert report.ok, report.message
    assert (report.start.sequence, report.verdict.checked) == (15, 8)
    fill(chained.audit_trail, clock, 2)
    assert chained.audit_trail.verify().ok


def test_purging_everything_then_appending_continues_the_chain(
    chained: Services, clock: FrozenClock
) -> None:
    fill(chained.audit_trail, clock, 10)

    assert chained.audit_trail.purge(clock.now() + timedelta(days=1)).deleted == 10
    fill(chained.audit_trail, clock, 3)

    report = chained.audit_trail.verify()
    assert report.ok, report.message
    assert [record.sequence for record in chained.audit_trail.latest(5)] == [11, 12, 13]


def test_deleting_purged_records_past_the_checkpoint_is_caught(
    chained: Services, clock: FrozenClock
) -> None:
    fill(chained.audit_trail, clock, 10)
    chained.audit_trail.purge(clock.now() - timedelta(milliseconds=45))

    tamper(chained, "DELETE FROM audit_records WHERE sequence = 6")

    assert verdict_of(chained) == (Breakage.DELETED, 6)


def test_a_checkpoint_follows_minutes_of_activity(chained: Services, clock: FrozenClock) -> None:
    fill(chained.audit_trail, clock, 3)  # the first append signs record 1
    clock.advance(CHECKPOINT_EVERY)
    fill(chained.audit_trail, clock, 2)

    report = chained.audit_trail.verify()

    assert report.last_checkpoint is not None
    assert report.last_checkpoint.sequence == 4
