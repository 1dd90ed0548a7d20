"""Audit viewer filters by time range and source address, and the filtered export: both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import format_time
from quivive.storage.admin_queries import AdminQueries, AuditQuery

DAY = datetime(2026, 1, 15, tzinfo=UTC)
RECORDS = (  # (hours after DAY, address)
    (1, "10.1.2.3"),
    (5, "10.1.9.9"),
    (26, "10.10.0.1"),
    (30, "192.0.2.7"),
    (50, "fd00::1"),
    (51, None),
)


@pytest.fixture
def queries(services: Services) -> AdminQueries:
    for hours, address in RECORDS:
        at = DAY + timedelta(hours=hours)
        event = AuditEvent("login.password", Outcome.FAILURE, at, "x", source_address=address)
        services.audit_trail.append(event)
    return AdminQueries(services.engine, services.users)


def addresses(queries: AdminQueries, **filters: str) -> list[str | None]:
    page = queries.audit_page(AuditQuery(action="login.password", **filters))
    return [record.source_address for record in page.records]


def test_time_range_is_inclusive_then_exclusive(queries: AdminQueries) -> None:
    since = format_time(DAY + timedelta(hours=5))
    until = format_time(DAY + timedelta(hours=30))

    assert addresses(queries, since=since, until=until) == ["10.10.0.1", "10.1.9.9"]
    assert addresses(queries, since=format_time(DAY + timedelta(days=2))) == [None, "fd00::1"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("10.1.2.3", ["10.1.2.3"]),
        ("10.1.", ["10.1.9.9", "10.1.2.3"]),  # "10.10.0.1" is not in 10.1.
        ("10.", ["10.10.0.1", "10.1.9.9", "10.1.2.3"]),
        ("fd00:", ["fd00::1"]),
        ("10.1", []),  # without the dot, an exact address
    ],
)
def test_source_address(queries: AdminQueries, source: str, expected: list[str]) -> None:
    assert addresses(queries, source=source) == expected


def test_the_export_stream_is_oldest_first_across_batches(queries: AdminQueries) -> None:
    query = AuditQuery(action="login.password", source="10.")

    streamed = [r.source_address for r in queries.audit_records(query, batch=2)]

    assert streamed == ["10.1.2.3", "10.1.9.9", "10.10.0.1"]
