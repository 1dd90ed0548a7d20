"""The storage contract: every test here runs on SQLite and on PostgreSQL (``services`` fixture)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from quivive.composition import Services
from quivive.domain.sessions import AssuranceLevel, Session
from quivive.domain.users import ADMIN_ROLE, NewUser, UserStatus
from quivive.errors import ConflictError, NotFoundError
from quivive.storage.database import pending_migrations, upgrade
from quivive.storage.sessions import SessionRepository
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.storage.tables import metadata, user_roles, users
from quivive.storage.user_search import ACCELERATORS
from quivive.storage.users import UserRepository
from support.rows import count_rows
from support.sessions import session_row

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
PURPOSE = "first_admin"


def new_user(username: str, *, roles: tuple[str, ...] = ()) -> NewUser:
    return NewUser(
        username=username,
        display_name=username.title(),
        email=f"{username}@chu.example",
        roles=roles,
        professional_id=None,
        password_hash="$argon2id$stored-as-given",
    )


def make_session(user_id: int, token_hash: str, **changes: Any) -> Session:
    second_factor = {"amr": ("pwd", "otp"), "aal": AssuranceLevel.AAL2}
    where = {"source_address": "10.0.0.7", "user_agent": "Firefox"}
    return session_row(user_id, token_hash, NOW, **{**second_factor, **where, **changes})


@pytest.fixture
def repo(services: Services) -> UserRepository:
    return services.users


@pytest.fixture
def session_repo(services: Services) -> SessionRepository:
    return SessionRepository(services.engine)


@pytest.fixture
def token_repo(services: Services) -> SetupTokenRepository:
    return SetupTokenRepository(services.engine)


# --- users ---------------------------------------------------------------------------------------


def test_added_user_reads_back_by_id_and_username(repo: UserRepository) -> None:
    added = repo.add(new_user("alice", roles=("doctor",)), now=NOW)

    assert repo.get(added.id) == added
    assert repo.find_by_username("alice") == added
    assert repo.get_by_username("alice") == added
    assert added.username == "alice"
    assert added.email == "alice@chu.example"
    assert added.status is UserStatus.ACTIVE
    assert added.password_hash == "$argon2id$stored-as-given"
    assert added.last_login_at is None


def test_subject_is_random_and_not_the_username(repo: UserRepository) -> None:
    first = repo.add(new_user("alice"), now=NOW)
    second = repo.add(new_user("bob"), now=NOW)

    assert first.subject != second.subject
    assert "alice" not in first.subject
    assert len(first.subject) == 32


def test_missing_users(repo: UserRepository) -> None:
    assert repo.find_by_username("nobody") is None
    with pytest.raises(NotFoundError):
        repo.get(424242)
    with pytest.raises(NotFoundError):
        repo.get_by_username("nobody")


def test_list_pages_by_id(repo: UserRepository) -> None:
    added = [repo.add(new_user(f"user{i}", roles=("nurse",)), now=NOW) for i in range(5)]

    first_page = repo.list(limit=2)
    second_page = repo.list(limit=2, after_id=first_page[-1].id)
    rest = repo.list(limit=10, after_id=second_page[-1].id)

    assert first_page + second_page + rest == added
    assert [len(first_page), len(second_page), len(rest)] == [2, 2, 1]
    assert repo.list(after_id=added[-1].id) == []
    assert all(user.roles == ("nurse",) for user in repo.list())


def test_duplicate_username_conflicts_and_leaves_nothing_behind(
    services: Services, repo: UserRepository
) -> None:
    original = repo.add(new_user("alice", roles=("doctor",)), now=NOW)

    with pytest.raises(ConflictError):
        repo.add(new_user("alice", roles=("admin", "nurse")), now=NOW)

    assert repo.list() == [original]
    assert count_rows(services.engine, "users") == 1
    with services.engine.connect() as conn:
        roles = conn.execute(select(user_roles.c.user_id, user_roles.c.role)).all()
    assert [tuple(row) for row in roles] == [(original.id, "doctor")]


def test_a_failure_while_writing_roles_rolls_back_the_user_row(
    services: Services, repo: UserRepository
) -> None:
    # The users row is inserted first; a role row that breaks the primary key must undo it too.
    with pytest.raises(ConflictError):
        repo.add(new_user("alice", roles=("nurse", "nurse")), now=NOW)

    assert repo.find_by_username("alice") is None
    assert count_rows(services.engine, "users") == 0
    assert count_rows(services.engine, "user_roles") == 0


def test_roles_round_trip_sorted(repo: UserRepository) -> None:
    with_roles = repo.add(new_user("alice", roles=("nurse", "admin", "doctor")), now=NOW)
    without = repo.add(new_user("bob"), now=NOW)

    assert repo.get(with_roles.id).roles == ("admin", "doctor", "nurse")
    assert repo.get(without.id).roles == ()
    assert with_roles.is_admin
    assert not without.is_admin


def test_set_status(repo: UserRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)

    repo.set_status(user.id, UserStatus.DISABLED)
    assert repo.get(user.id).status is UserStatus.DISABLED
    repo.set_status(user.id, UserStatus.ACTIVE)
    assert repo.get(user.id).is_active


def test_set_password_hash(repo: UserRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    other = repo.add(new_user("bob"), now=NOW)

    repo.set_password_hash(user.id, "$argon2id$new")

    assert repo.get(user.id).password_hash == "$argon2id$new"
    assert repo.get(other.id).password_hash == "$argon2id$stored-as-given"


def test_record_login(repo: UserRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    login = NOW + timedelta(hours=3, microseconds=250)

    repo.record_login(user.id, login)

    assert repo.get(user.id).last_login_at == login


def test_updates_of_a_missing_user_raise_not_found(repo: UserRepository) -> None:
    with pytest.raises(NotFoundError):
        repo.set_status(424242, UserStatus.DISABLED)
    with pytest.raises(NotFoundError):
        repo.set_password_hash(424242, "x")
    with pytest.raises(NotFoundError):
        repo.record_login(424242, NOW)


def test_has_active_with_role_ignores_disabled_users(repo: UserRepository) -> None:
    assert not repo.has_active_with_role(ADMIN_ROLE)
    repo.add(new_user("nurse", roles=("nurse",)), now=NOW)
    assert not repo.has_active_with_role(ADMIN_ROLE)

    admin = repo.add(new_user("admin", roles=(ADMIN_ROLE,)), now=NOW)
    assert repo.has_active_with_role(ADMIN_ROLE)

    repo.set_status(admin.id, UserStatus.DISABLED)
    assert not repo.has_active_with_role(ADMIN_ROLE)
    assert repo.has_active_with_role("nurse")


def test_timestamps_come_back_aware_utc_and_equal(repo: UserRepository) -> None:
    created = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    # Stored from another offset (Paris summer time): the instant is kept, the zone becomes UTC.
    login = datetime(2026, 3, 29, 3, 30, 0, 123_456, tzinfo=timezone(timedelta(hours=2)))

    user = repo.add(new_user("alice"), now=created)
    repo.record_login(user.id, login)
    stored = repo.get(user.id)

    assert stored.created_at == created
    assert stored.last_login_at == login
    assert stored.created_at.tzinfo is UTC
    assert stored.last_login_at is not None
    assert stored.last_login_at.tzinfo is UTC
    assert stored.last_login_at.hour == 1


def test_naive_datetimes_are_refused(repo: UserRepository) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        repo.add(new_user("alice"), now=datetime(2026, 1, 15, 8, 0))

    assert repo.find_by_username("alice") is None


# --- sessions ------------------------------------------------------------------------------------


def test_session_round_trip(repo: UserRepository, session_repo: SessionRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    session = make_session(user.id, "a" * 64, aal=AssuranceLevel.AAL3, amr=("hwk", "user"))

    session_repo.add(session)

    found = session_repo.find("a" * 64)
    assert found == session
    assert found is not None
    assert found.created_at.tzinfo is UTC
    assert found.expires_at.tzinfo is UTC
    assert session_repo.find("b" * 64) is None


def test_session_needs_an_existing_user(session_repo: SessionRepository) -> None:
    with pytest.raises(IntegrityError):
        session_repo.add(make_session(424242, "a" * 64))

    assert session_repo.find("a" * 64) is None


def test_touch_moves_last_seen(repo: UserRepository, session_repo: SessionRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    session_repo.add(make_session(user.id, "a" * 64))
    later = NOW + timedelta(minutes=5)

    session_repo.touch("a" * 64, later)

    found = session_repo.find("a" * 64)
    assert found is not None
    assert found.last_seen_at == later
    assert found.created_at == NOW


def test_revoke_is_true_once(repo: UserRepository, session_repo: SessionRepository) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    session_repo.add(make_session(user.id, "a" * 64))
    revoked_at = NOW + timedelta(minutes=1)

    assert session_repo.revoke("a" * 64, revoked_at) is True
    assert session_repo.revoke("a" * 64, revoked_at + timedelta(minutes=1)) is False
    assert session_repo.revoke("b" * 64, revoked_at) is False

    found = session_repo.find("a" * 64)
    assert found is not None
    assert found.revoked_at == revoked_at


def test_revoke_all_for_user_keeps_one_and_spares_others(
    repo: UserRepository, session_repo: SessionRepository
) -> None:
    alice = repo.add(new_user("alice"), now=NOW)
    bob = repo.add(new_user("bob"), now=NOW)
    for token_hash in ("a1", "a2", "a3"):
        session_repo.add(make_session(alice.id, token_hash))
    session_repo.add(make_session(bob.id, "b1"))

    assert session_repo.revoke_all_for_user(alice.id, NOW, keep="a2") == 2
    assert session_repo.revoke_all_for_user(alice.id, NOW, keep="a2") == 0

    assert [s.token_hash for s in session_repo.for_user(alice.id, now=NOW)] == ["a2"]
    assert [s.token_hash for s in session_repo.for_user(bob.id, now=NOW)] == ["b1"]
    assert session_repo.revoke_all_for_user(alice.id, NOW) == 1
    assert session_repo.for_user(alice.id, now=NOW) == []


def test_for_user_lists_only_live_sessions_most_recent_first(
    repo: UserRepository, session_repo: SessionRepository
) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    now = NOW + timedelta(hours=2)
    session_repo.add(make_session(user.id, "older", last_seen_at=now - timedelta(minutes=10)))
    session_repo.add(make_session(user.id, "recent", last_seen_at=now - timedelta(minutes=1)))
    session_repo.add(make_session(user.id, "idle", last_seen_at=now - timedelta(minutes=15)))
    session_repo.add(make_session(user.id, "expired", expires_at=now))
    session_repo.add(make_session(user.id, "revoked", last_seen_at=now, revoked_at=now))

    assert [s.token_hash for s in session_repo.for_user(user.id, now=now)] == ["recent", "older"]


def test_count_active_counts_only_usable_sessions(
    repo: UserRepository, session_repo: SessionRepository
) -> None:
    alice = repo.add(new_user("alice"), now=NOW)
    bob = repo.add(new_user("bob"), now=NOW)
    now = NOW + timedelta(hours=2)
    session_repo.add(make_session(alice.id, "live-a", last_seen_at=now))
    session_repo.add(make_session(bob.id, "live-b", last_seen_at=now - timedelta(minutes=14)))
    session_repo.add(make_session(alice.id, "idle", last_seen_at=now - timedelta(minutes=15)))
    session_repo.add(make_session(alice.id, "expired", expires_at=now))
    session_repo.add(make_session(bob.id, "revoked", last_seen_at=now, revoked_at=now))

    assert session_repo.count_active(now) == 2


def test_purge_deletes_expired_and_long_revoked_sessions(
    services: Services, repo: UserRepository, session_repo: SessionRepository
) -> None:
    user = repo.add(new_user("alice"), now=NOW)
    now = NOW + timedelta(days=2)
    session_repo.add(
        make_session(user.id, "live", last_seen_at=now, expires_at=now + timedelta(days=1))
    )
    session_repo.add(make_session(user.id, "expired", expires_at=now - timedelta(seconds=1)))
    session_repo.add(
        make_session(
            user.id, "revoked-long-ago", expires_at=now + timedelta(days=1), revoked_at=NOW
        )
    )
    recently = now - timedelta(hours=1)
    session_repo.add(
        make_session(
            user.id, "revoked-recently", expires_at=now + timedelta(days=1), revoked_at=recently
        )
    )

    assert session_repo.purge(now, keep_revoked_for=timedelta(days=1)) == 2

    with services.engine.connect() as conn:
        left = conn.execute(text("SELECT token_hash FROM sessions ORDER BY token_hash")).scalars()
        assert list(left) == ["live", "revoked-recently"]
    assert session_repo.purge(now, keep_revoked_for=timedelta(days=1)) == 0


def test_deleting_a_user_cascades_to_roles_and_sessions(
    services: Services, repo: UserRepository, session_repo: SessionRepository
) -> None:
    # Foreign keys are enforced on both backends (SQLite only with PRAGMA foreign_keys=ON).
    user = repo.add(new_user("alice", roles=("nurse",)), now=NOW)
    session_repo.add(make_session(user.id, "a" * 64))

    with services.engine.begin() as conn:
        conn.execute(users.delete().where(users.c.id == user.id))

    assert count_rows(services.engine, "user_roles") == 0
    assert session_repo.find("a" * 64) is None


# --- set-up tokens -------------------------------------------------------------------------------


def test_setup_token_is_consumed_exactly_once(token_repo: SetupTokenRepository) -> None:
    token_repo.add("t" * 64, PURPOSE, now=NOW, expires_at=NOW + timedelta(hours=1))

    assert token_repo.is_usable("t" * 64, PURPOSE, NOW)
    assert token_repo.consume("t" * 64, PURPOSE, NOW) is True
    assert not token_repo.is_usable("t" * 64, PURPOSE, NOW)
    assert token_repo.consume("t" * 64, PURPOSE, NOW) is False


def test_expired_setup_token_is_not_usable(token_repo: SetupTokenRepository) -> None:
    expires_at = NOW + timedelta(hours=1)
    token_repo.add("t" * 64, PURPOSE, now=NOW, expires_at=expires_at)

    assert token_repo.is_usable("t" * 64, PURPOSE, expires_at - timedelta(microseconds=1))
    assert not token_repo.is_usable("t" * 64, PURPOSE, expires_at)
    assert token_repo.consume("t" * 64, PURPOSE, expires_at) is False


def test_setup_token_of_another_purpose_is_not_usable(token_repo: SetupTokenRepository) -> None:
    token_repo.add("t" * 64, PURPOSE, now=NOW, expires_at=NOW + timedelta(hours=1))

    assert not token_repo.is_usable("t" * 64, "password_reset", NOW)
    assert token_repo.consume("t" * 64, "password_reset", NOW) is False
    assert token_repo.consume("t" * 64, PURPOSE, NOW) is True


def test_unknown_setup_token_is_not_usable(token_repo: SetupTokenRepository) -> None:
    assert not token_repo.is_usable("u" * 64, PURPOSE, NOW)
    assert token_repo.consume("u" * 64, PURPOSE, NOW) is False


def test_concurrent_consumers_of_one_token_get_one_success(
    token_repo: SetupTokenRepository,
) -> None:
    token_repo.add("t" * 64, PURPOSE, now=NOW, expires_at=NOW + timedelta(hours=1))
    racers = 8
    start = threading.Barrier(racers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            start.wait()
            results.append(token_repo.consume("t" * 64, PURPOSE, NOW))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == [False] * (racers - 1) + [True]


# --- schema and migrations -----------------------------------------------------------------------


def test_upgrade_is_idempotent(services: Services) -> None:
    # The fixture already upgraded once; running again changes nothing and keeps the data.
    services.users.add(new_user("alice"), now=NOW)

    upgrade(services.engine)
    upgrade(services.engine)

    assert services.users.find_by_username("alice") is not None
    assert not pending_migrations(services.engine)
    with services.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(versions) == 1


def test_migrated_schema_matches_the_table_definitions(services: Services) -> None:
    inspector = inspect(services.engine)

    tables = set(inspector.get_table_names()) - ACCELERATORS
    assert tables == {*metadata.tables, "alembic_version"}
    for table in metadata.sorted_tables:
        migrated = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        declared = {c.name: c.nullable for c in table.columns}
        assert migrated == declared, table.name
        migrated_pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert migrated_pk == [c.name for c in table.primary_key.columns], table.name
        migrated_indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {index.name for index in table.indexes} <= migrated_indexes, table.name


def test_migrated_schema_has_no_autogenerate_diff(services: Services) -> None:
    # Alembic's own comparison also covers types, unique constraints and foreign keys.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    # The search index (FTS5 tables, a pg_trgm index) accelerates `users` and is not declared.
    def declared(name: str | None, _kind: str, _parent: object) -> bool:
        return name not in ACCELERATORS

    with services.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": declared})
        diff = compare_metadata(context, metadata)

    assert diff == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_services: Services) -> None:
    with sqlite_services.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() > 0
