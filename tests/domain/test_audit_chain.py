import json
from datetime import UTC, datetime, timedelta

import pytest

from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import (
    GENESIS_HASH,
    START,
    Breakage,
    ChainPosition,
    ChainRecord,
    Checkpoint,
    CheckpointKind,
    canonical_content,
    canonical_json,
    chain_hash,
    checkpoint_message,
    format_time,
    from_json,
    record_hash,
    seal,
    split_checkpoints,
    starting_point,
    to_json,
    verify_chain,
)

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def event(number: int = 0, **fields: object) -> AuditEvent:
    values: dict[str, object] = {
        "action": "login.password",
        "outcome": Outcome.FAILURE if number % 3 else Outcome.SUCCESS,
        "at": T0 + timedelta(seconds=number),
        "actor": f"user{number}",
        "subject": f"user{number}",
        "reason": "bad_credentials" if number % 3 else None,
        "source_address": "10.0.0.7",
        "user_agent": "Mozilla/5.0 «test»",
        "request_id": f"req-{number}",
        "details": {"factor": "password", "n": str(number)},
    }
    values.update(fields)
    return AuditEvent(**values)  # type: ignore[arg-type]


def chain(count: int) -> list[ChainRecord]:
    records: list[ChainRecord] = []
    position = START
    for number in range(count):
        record = seal(event(number), position)
        records.append(record)
        position = ChainPosition(record.sequence, record.hash)
    return records


def renumber(records: list[ChainRecord]) -> list[ChainRecord]:
    """What an attacker's UPDATE ... SET sequence = ... leaves: contents keep their old hashes."""
    return [record._replace(sequence=index + 1) for index, record in enumerate(records)]


def test_canonical_content_is_sorted_compact_json() -> None:
    record = seal(event(1, details={"z": "1", "a": "é\n\u2028"}), START)
    content = {name: getattr(record, name) for name in ChainRecord._fields if "hash" not in name}
    content["details"] = json.loads(record.details)

    expected = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_content(record) == expected
    assert canonical_json(content) == expected


def test_hash_is_sha256_of_previous_hash_then_content() -> None:
    record = seal(event(), START)

    assert record.prev_hash == GENESIS_HASH
    assert record.hash == chain_hash(GENESIS_HASH, canonical_content(record))
    assert record.at == "2026-01-15T08:00:00.000000Z"


def test_time_is_utc_with_microseconds() -> None:
    paris = datetime(2026, 7, 1, 10, 0, 0, 5, tzinfo=UTC).astimezone()

    assert format_time(paris) == "2026-07-01T10:00:00.000005Z"
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 1))


def test_overlong_fields_are_cut_not_refused() -> None:
    record = seal(
        event(user_agent="x" * 5000, details={f"k{i}": "v" * 900 for i in range(50)}), START
    )

    assert record.user_agent == "x" * 512
    assert len(json.loads(record.details)) == 32
    assert all(len(value) == 512 for value in json.loads(record.details).values())


def test_lone_surrogates_are_replaced() -> None:
    record = seal(event(actor="bad\udcff"), START)

    assert record.actor == "bad?"
    assert record_hash(record) == record.hash


def test_intact_chain_verifies() -> None:
    records = chain(50)

    verdict = verify_chain(records, START, [])

    assert verdict.ok
    assert verdict.checked == 50
    assert verdict.head == ChainPosition(50, records[-1].hash)
    assert verdict.message == "chain intact: 50 records checked"


def test_modified_field_is_named() -> None:
    records = chain(10)
    records[4] = records[4]._replace(reason="ok")

    verdict = verify_chain(records, START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.MODIFIED, 5)
    assert verdict.message == "record 5: modified: its content no longer matches its hash"


def test_modified_record_with_recomputed_hash_is_named() -> None:
    records = chain(10)
    forged = records[4]._replace(actor="mallory")
    records[4] = forged._replace(hash=record_hash(forged))

    verdict = verify_chain(records, START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.MODIFIED, 5)


def test_deleted_record_leaves_a_gap() -> None:
    records = chain(10)
    del records[3]

    verdict = verify_chain(records, START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.DELETED, 4)
    assert "record 4 is missing" in verdict.message


def test_deleted_record_then_renumbered_is_still_a_deletion() -> None:
    records = chain(10)
    del records[3]

    verdict = verify_chain(renumber(records), START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.DELETED, 4)
    assert "renumbered" in verdict.detail


def test_inserted_record_is_named() -> None:
    records = chain(10)
    forged = seal(event(99, actor="mallory"), ChainPosition(5, records[4].hash))
    records.insert(5, forged)

    verdict = verify_chain(renumber(records), START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.INSERTED, 6)


def test_inserted_record_with_garbage_hash_is_named() -> None:
    records = chain(10)
    records.insert(5, records[5]._replace(actor="mallory", hash="f" * 64))

    verdict = verify_chain(renumber(records), START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.INSERTED, 6)


@pytest.mark.parametrize(("first", "second"), [(3, 4), (3, 8)])
def test_swapped_records_are_reordered(first: int, second: int) -> None:
    records = chain(12)
    records[first - 1], records[second - 1] = records[second - 1], records[first - 1]

    verdict = verify_chain(renumber(records), START, [])

    assert (verdict.breakage, verdict.sequence) == (Breakage.REORDERED, first)
    assert f"record {second}" in verdict.detail


def test_truncated_tail_is_caught_by_a_later_checkpoint() -> None:
    records = chain(10)
    pin = Checkpoint(
        8, records[7].hash, "2026-01-15T09:00:00.000000Z", CheckpointKind.PERIODIC, b""
    )

    verdict = verify_chain(records[:5], START, [pin])

    assert (verdict.breakage, verdict.sequence) == (Breakage.TRUNCATED, 6)
    assert "records 6 to 8 are missing" in verdict.detail


def test_tail_after_the_last_checkpoint_can_be_truncated_undetected() -> None:
    """The documented limit: checkpoints bound it, nothing removes it."""
    records = chain(10)
    pin = Checkpoint(5, records[4].hash, "2026-01-15T09:00:00.000000Z", CheckpointKind.MANUAL, b"")

    assert verify_chain(records[:7], START, [pin]).ok


def test_rewritten_chain_is_caught_by_a_checkpoint() -> None:
    records = chain(10)
    pin = Checkpoint(
        8, records[7].hash, "2026-01-15T09:00:00.000000Z", CheckpointKind.PERIODIC, b""
    )
    rewritten = records[:3]
    for record in records[3:]:
        after = ChainPosition(rewritten[-1].sequence, rewritten[-1].hash)
        rewritten.append(seal(event(record.sequence, actor="mallory"), after))

    verdict = verify_chain(rewritten, START, [pin])

    assert (verdict.breakage, verdict.sequence) == (Breakage.MODIFIED, 8)


def test_verification_starts_after_a_purge_checkpoint() -> None:
    records = chain(10)
    purge = Checkpoint(4, records[3].hash, "2026-01-16T00:00:00.000000Z", CheckpointKind.PURGE, b"")
    start = starting_point([purge])

    assert start == ChainPosition(4, records[3].hash)
    assert verify_chain(records[4:], start, [purge]).ok
    assert verify_chain(records[5:], start, [purge]).breakage is Breakage.DELETED


def test_checkpoint_signatures_are_checked_over_kind_too() -> None:
    message = checkpoint_message(4, "a" * 64, "2026-01-16T00:00:00.000000Z", CheckpointKind.PURGE)
    honest = Checkpoint(4, "a" * 64, "2026-01-16T00:00:00.000000Z", CheckpointKind.PURGE, b"sig")
    relabelled = honest._replace(kind=CheckpointKind.MANUAL)

    good, bad = split_checkpoints(
        [honest, relabelled], lambda signed, sig: signed == message and sig == b"sig"
    )

    assert (good, bad) == ([honest], [relabelled])
    assert message.startswith(b"quivive-audit-checkpoint-v1\n{")


def test_export_line_round_trips() -> None:
    records = chain(5)

    parsed = [from_json(to_json(record)) for record in records]

    assert parsed == records
    assert verify_chain(parsed, START, []).ok
