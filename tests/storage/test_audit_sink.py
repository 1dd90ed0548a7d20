"""The default audit sink never lets a database failure reach a sign-in."""

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from quivive.clock import FrozenClock
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import ChainRecord
from quivive.services.audit import (
    AuditTrail,
    ChainedAuditSink,
    CheckpointSigner,
    record_together,
)
from quivive.services.metrics import MeteredAuditSink, Metrics
from quivive.storage.audit import AuditRepository
from quivive.storage.database import create_database_engine
from support.quivive import running_services

EVENT = AuditEvent(
    "login.password",
    Outcome.FAILURE,
    datetime(2026, 1, 15, 8, 0, tzinfo=UTC),
    actor="alice",
    reason="bad_credentials",
)


def test_sink_appends_to_the_chain(tmp_path: Path, backend: str) -> None:
    with running_services(tmp_path, backend) as services:
        ChainedAuditSink(services.audit_trail).record(EVENT)

        [record] = services.audit_trail.latest(5)
        assert (record.sequence, record.action, record.reason) == (
            1,
            "login.password",
            "bad_credentials",
        )


BATCH = [EVENT, replace(EVENT, action="oidc.token", subject="client-batch")]


@pytest.mark.parametrize(
    ("events", "logged"),
    [
        ([EVENT], "1 record(s) (login.password;"),
        (BATCH, "2 record(s) (login.password, oidc.token; subjects -, client-batch)"),
    ],
)
def test_sink_logs_and_carries_on_when_the_schema_is_gone(
    tmp_path: Path,
    backend: str,
    caplog: pytest.LogCaptureFixture,
    events: list[AuditEvent],
    logged: str,
) -> None:
    with running_services(tmp_path, backend) as services:
        sink = ChainedAuditSink(services.audit_trail)
        with services.engine.begin() as conn:
            conn.execute(text("DROP TABLE audit_records"))

        with caplog.at_level(logging.ERROR, logger="quivive.audit"):
            if len(events) == 1:
                sink.record(events[0])  # as every sign-in records its event
            else:
                record_together(sink, events)  # as the token fast path batches them

    [line] = [r for r in caplog.records if r.name == "quivive.audit"]
    assert line.levelno == logging.ERROR
    assert f"audit append failed for {logged}" in line.getMessage()


def test_sink_logs_and_carries_on_when_the_database_is_unreachable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = create_database_engine(
        "postgresql+psycopg://quivive:s3cret@127.0.0.1:9/quivive"  # port 9 (discard): refused
    )
    trail = AuditTrail(
        AuditRepository(missing), CheckpointSigner.from_data_dir(tmp_path), FrozenClock()
    )

    with caplog.at_level(logging.ERROR, logger="quivive.audit"):
        ChainedAuditSink(trail).record(EVENT)

    assert "audit append failed for 1 record(s) (login.password;" in caplog.text
    assert "OperationalError" in caplog.text
    assert "s3cret" not in caplog.text


def test_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    first = CheckpointSigner.from_data_dir(tmp_path)
    second = CheckpointSigner.from_data_dir(tmp_path)

    assert (tmp_path / "audit-signing.key").stat().st_mode & 0o777 == 0o600
    assert first.public_pem() == second.public_pem()
    assert first.public_pem().startswith("-----BEGIN PUBLIC KEY-----")


def test_events_recorded_together_pass_every_decorator_and_share_one_append(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_services(tmp_path, backend) as services:
        metrics = Metrics()
        observe = metrics.audit_append.observe
        sink = MeteredAuditSink(ChainedAuditSink(services.audit_trail, observe=observe), metrics)
        trail = services.audit_trail
        appends: list[int] = []
        append_all = trail.append_all

        def counted(events: Sequence[AuditEvent]) -> list[ChainRecord]:
            appends.append(len(events))
            return append_all(events)

        monkeypatch.setattr(trail, "append_all", counted)
        events = [replace(EVENT, actor=name) for name in ("alice", "bob", "carol")]

        record_together(sink, events)

        assert appends == [3]
        assert [record.actor for record in trail.latest(5)] == ["alice", "bob", "carol"]
        assert metrics.audit_events.labels("login.password", "failure")._value.get() == 3
        # Timed once per event by the batch's append, not around the gathering.
        timed = metrics.registry.get_sample_value("quivive_audit_append_seconds_count")
        assert timed == 3
        ChainedAuditSink(trail).record(EVENT)  # and the sink appends one by one again
        assert appends == [3, 1]
