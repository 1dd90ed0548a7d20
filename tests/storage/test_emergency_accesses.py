"""Emergency-access storage, on SQLite and PostgreSQL: the atomic limit, paging and review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quivive.composition import Services
from quivive.domain.emergency import ReviewStatus
from quivive.domain.sessions import Session, hash_token
from quivive.domain.users import NewUser
from quivive.storage.emergency_accesses import EmergencyAccessRepository, NewEmergencyAccess
from quivive.storage.sessions import SessionRepository
from support.race import race
from support.sessions import session_row

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
WINDOW_START = NOW - timedelta(days=30)


def add_user(services: Services, username: str) -> int:
    user = services.users.add(
        NewUser(
            username=username,
            display_name=username.title(),
            email=None,
            roles=("infirmier",),
            professional_id=None,
            password_hash="$argon2id$x",
        ),
        now=NOW,
    )
    return user.id


def make_session(
    user_id: int,
    token_hash: str,
    expires_at: datetime = NOW + timedelta(hours=2),
    *,
    emergency: bool = False,
) -> Session:
    return session_row(user_id, token_hash, NOW, expires_at=expires_at, emergency=emergency)


def use(user_id: int, at: datetime = NOW, token_hash: str | None = None) -> NewEmergencyAccess:
    return NewEmergencyAccess(
        user_id=user_id,
        started_at=at,
        expires_at=at + timedelta(hours=2),
        session_token_hash=token_hash,
        reason="factor_forgotten",
        justification="Téléphone resté à la maison, patient en détresse au service.",
        witness_name="Dr Martin",
        source_address="10.1.2.3",
    )


def test_a_use_is_stored_pending_with_every_column(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    user_id = add_user(services, "alice")

    stored = repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)

    assert stored is not None
    assert stored.review_status is ReviewStatus.PENDING
    assert stored.justification.startswith("Téléphone")
    assert (stored.witness_name, stored.source_address) == ("Dr Martin", "10.1.2.3")
    assert stored.expires_at == NOW + timedelta(hours=2)
    assert repo.get(stored.id) == stored


def test_the_limit_counts_only_the_window_and_the_user(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    alice, bob = add_user(services, "alice"), add_user(services, "bob")
    old = NOW - timedelta(days=31)
    assert repo.add_within_limit(use(alice, old), since=old - timedelta(days=30), limit=5)
    assert repo.add_within_limit(use(bob), since=WINDOW_START, limit=5)
    assert repo.add_within_limit(use(alice), since=WINDOW_START, limit=2)
    assert repo.add_within_limit(use(alice), since=WINDOW_START, limit=2)

    assert repo.add_within_limit(use(alice), since=WINDOW_START, limit=2) is None
    assert repo.count_since(alice, WINDOW_START) == 2


def test_parallel_requests_at_the_boundary_never_both_pass(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    user_id = add_user(services, "alice")
    assert repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)
    assert repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)

    results = race([lambda: repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)] * 4)

    assert sum(result is not None for result in results) == 1
    assert repo.count_since(user_id, WINDOW_START) == 3


def test_pages_go_newest_first_with_a_cursor_and_a_status_filter(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    user_id = add_user(services, "alice")
    ids = [
        stored.id
        for minutes in range(5)
        if (
            stored := repo.add_within_limit(
                use(user_id, NOW + timedelta(minutes=minutes)), since=WINDOW_START, limit=10
            )
        )
    ]
    first = repo.page(limit=2)
    second = repo.page(limit=2, before=first.next_cursor)
    last = repo.page(limit=2, before=second.next_cursor)

    assert [a.id for a in first.items + second.items + last.items] == ids[::-1]
    assert last.next_cursor is None
    assert repo.review(ids[0], ReviewStatus.JUSTIFIED, reviewer_id=None, at=NOW, comment="ok")
    assert [a.id for a in repo.page(status=ReviewStatus.JUSTIFIED).items] == [ids[0]]
    assert len(repo.page(status=ReviewStatus.PENDING).items) == 4


def test_a_review_is_recorded_once(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    user_id = add_user(services, "alice")
    reviewer = add_user(services, "rssi")
    stored = repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)
    assert stored is not None

    assert repo.review(
        stored.id, ReviewStatus.UNJUSTIFIED, reviewer_id=reviewer, at=NOW, comment="non"
    )
    assert not repo.review(
        stored.id, ReviewStatus.JUSTIFIED, reviewer_id=reviewer, at=NOW, comment="oui"
    )
    reviewed = repo.get(stored.id)
    assert reviewed is not None
    assert (reviewed.review_status, reviewed.review_comment) == (ReviewStatus.UNJUSTIFIED, "non")
    assert (reviewed.reviewed_by_user_id, reviewed.reviewed_at) == (reviewer, NOW)


def test_overdue_lists_only_old_pending_uses(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    user_id = add_user(services, "alice")
    old = repo.add_within_limit(use(user_id, NOW - timedelta(days=9)), since=WINDOW_START, limit=9)
    done = repo.add_within_limit(use(user_id, NOW - timedelta(days=8)), since=WINDOW_START, limit=9)
    repo.add_within_limit(use(user_id, NOW - timedelta(days=1)), since=WINDOW_START, limit=9)
    assert old
    assert done
    repo.review(done.id, ReviewStatus.JUSTIFIED, reviewer_id=None, at=NOW, comment="ok")

    assert [a.id for a in repo.pending_before(NOW - timedelta(days=7))] == [old.id]


def test_emergency_sessions_read_back_as_such_and_find_their_use(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    sessions = SessionRepository(services.engine)
    user_id = add_user(services, "alice")
    marked, plain = hash_token("emergency"), hash_token("plain")
    sessions.add(make_session(user_id, marked, emergency=True))
    sessions.add(make_session(user_id, plain))
    repo.add_within_limit(use(user_id, token_hash=marked), since=WINDOW_START, limit=3)

    found = sessions.find(marked)
    assert found is not None
    assert found.emergency
    other = sessions.find(plain)
    assert other is not None
    assert not other.emergency
    listed = {s.token_hash: s.emergency for s in sessions.for_user(user_id, now=NOW)}
    assert listed == {marked: True, plain: False}
    assert repo.for_session(marked) is not None


def test_a_session_stored_without_the_flag_but_named_by_a_use_is_an_emergency_one(
    services: Services,
) -> None:
    # As a node still running the release before migration 0015 stores it, mid-upgrade.
    repo = EmergencyAccessRepository(services.engine)
    sessions = SessionRepository(services.engine)
    user_id = add_user(services, "alice")
    marked = hash_token("emergency")
    repo.add_within_limit(use(user_id, token_hash=marked), since=WINDOW_START, limit=3)
    sessions.add(make_session(user_id, marked))  # emergency=False: the column's default

    found = sessions.find(marked)

    assert found is not None
    assert found.emergency
    assert [s.emergency for s in sessions.for_user(user_id, now=NOW)] == [True]


def test_states_from_tell_live_sessions_from_the_watermark_on(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    sessions = SessionRepository(services.engine)
    user_id = add_user(services, "alice")
    marked = hash_token("emergency")
    sessions.add(make_session(user_id, marked, expires_at=NOW + timedelta(hours=2)))
    seeded = repo.add_within_limit(use(user_id), since=WINDOW_START, limit=3)
    live = repo.add_within_limit(use(user_id, token_hash=marked), since=WINDOW_START, limit=3)
    assert seeded is not None
    assert live is not None

    states = repo.states_from(0)
    assert [(s.id, s.session_live) for s in states] == [(seeded.id, False), (live.id, True)]
    assert states[1].expires_at == NOW + timedelta(hours=2)
    assert [s.id for s in repo.states_from(live.id)] == [live.id]
    assert sessions.revoke(marked, NOW)
    assert [s.session_live for s in repo.states_from(live.id)] == [False]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_count_is_zero_for_a_user_without_uses(services: Services) -> None:
    repo = EmergencyAccessRepository(services.engine)
    assert repo.count_since(add_user(services, "alice"), WINDOW_START) == 0
