"""Outbound-delivery storage on SQLite and PostgreSQL: due order, leases, and two nodes racing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, text

from quivive.composition import Services
from quivive.storage.database import create_database_engine
from quivive.storage.outbound_deliveries import OutboundDeliveryRepository
from quivive.storage.tables import outbound_deliveries
from support.race import race

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
LEASE_END = NOW + timedelta(minutes=2)
KINDS = ("webhook",)


def other_node(services: Services) -> Engine:
    """A second engine on the same database, as another Quivive node would open it."""
    url = services.engine.url.render_as_string(hide_password=False)
    if services.engine.dialect.name != "postgresql":
        return create_database_engine(url)
    with services.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return create_database_engine(url, schema=schema)


def test_due_deliveries_are_claimed_oldest_first_with_their_payload(services: Services) -> None:
    repo = OutboundDeliveryRepository(services.engine)
    first = repo.add("webhook", {"document": {"kind": "été"}}, NOW)
    second = repo.add("webhook", {"document": {"n": 2}}, NOW + timedelta(seconds=1))
    repo.add("email", {"to": "a@example.org"}, NOW)  # a kind this caller does not handle

    claimed = repo.claim_due(KINDS, NOW, LEASE_END, 10)

    assert [(d.id, d.payload, d.attempts) for d in claimed] == [
        (first, {"document": {"kind": "été"}}, 0)
    ]
    assert [d.id for d in repo.claim_due(KINDS, NOW + timedelta(seconds=1), LEASE_END, 10)] == [
        second
    ]


def test_a_lease_hides_a_delivery_until_it_runs_out(services: Services) -> None:
    repo = OutboundDeliveryRepository(services.engine)
    row = repo.add("webhook", {"document": {}}, NOW)
    assert len(repo.claim_due(KINDS, NOW, LEASE_END, 10)) == 1

    assert repo.claim_due(KINDS, NOW + timedelta(minutes=1), LEASE_END, 10) == []
    assert repo.count_due(KINDS, NOW) == 1  # still due: a drain waits for the node sending it
    # The node that held it died: once the lease is over, another node retries.
    [again] = repo.claim_due(KINDS, LEASE_END, LEASE_END + timedelta(minutes=2), 10)
    assert again.id == row


def test_reschedule_give_up_and_delete(services: Services) -> None:
    repo = OutboundDeliveryRepository(services.engine)
    kept = repo.add("webhook", {"document": {"n": 1}}, NOW)
    dropped = repo.add("webhook", {"document": {"link": "https://sso.example/setup/secret"}}, NOW)
    repo.claim_due(KINDS, NOW, LEASE_END, 10)

    repo.reschedule(kept, 1, NOW + timedelta(seconds=5), "http_status_500" * 50)
    repo.give_up(dropped, 1, "http_status_404")

    assert repo.count_due(KINDS, NOW) == 0
    assert repo.next_attempt_at(KINDS, NOW) == NOW + timedelta(seconds=5)
    [retry] = repo.claim_due(KINDS, NOW + timedelta(seconds=5), LEASE_END, 10)
    assert (retry.id, retry.attempts) == (kept, 1)
    assert repo.count_failed() == 1
    with services.engine.connect() as conn:
        payloads = dict(
            conn.execute(select(outbound_deliveries.c.id, outbound_deliveries.c.payload)).all()
        )
    assert payloads[dropped] == "{}"  # given up: nothing left to send, nothing kept
    repo.delete(kept)
    assert repo.next_attempt_at(KINDS, NOW) is None


def test_two_nodes_racing_never_claim_the_same_delivery(services: Services) -> None:
    mine = OutboundDeliveryRepository(services.engine)
    engine = other_node(services)
    theirs = OutboundDeliveryRepository(engine)
    ids = {mine.add("webhook", {"n": n}, NOW) for n in range(12)}
    try:
        results = race(
            [
                lambda repo=repo: repo.claim_due(KINDS, NOW, LEASE_END, 12)
                for repo in (mine, theirs, mine, theirs)
            ]
        )
    finally:
        engine.dispose()

    claimed = [delivery.id for batch in results for delivery in batch]
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_failures_are_forgotten_after_their_last_attempt_only(services: Services) -> None:
    repo = OutboundDeliveryRepository(services.engine)
    failed, pending = repo.add("webhook", {}, NOW), repo.add("webhook", {}, NOW)
    repo.claim_due(KINDS, NOW, LEASE_END, 10)
    repo.give_up(failed, 4, "http_status_500")
    repo.reschedule(pending, 1, NOW, "http_status_500")

    assert repo.delete_failed_before(NOW) == 0
    assert repo.delete_failed_before(NOW + timedelta(seconds=1)) == 1
    assert repo.count_failed() == 0
    assert repo.count_due(KINDS, NOW) == 1  # a delivery still being retried is kept
