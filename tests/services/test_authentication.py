import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import argon2
import pytest
from sqlalchemy import text

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.users import User
from quivive.errors import AuthenticationFailed
from quivive.services.accounts import NewAccount
from quivive.services.authentication import BlocklistVerdicts
from quivive.services.password_hashing import MIN_MEMORY_KIB
from support.quivive import RecordingAudit, make_settings

PASSWORD = "tulipe ardoise gravier"
# One step above the floor: enough to need a rehash, cheap enough to keep the suite fast.
RAISED_MEMORY_KIB = MIN_MEMORY_KIB + 1024


def create(services: Services, username: str = "alice", password: str | None = PASSWORD) -> User:
    return services.accounts.create(NewAccount(username=username, password=password), actor="cli")


def authenticate(services: Services, username: str, password: str) -> User:
    return asyncio.run(
        services.authenticator.authenticate(username, password, source_address="10.1.2.3")
    )


def failure(services: Services, username: str, password: str) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        authenticate(services, username, password)
    return raised.value


def count_argon2_verifications(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> list[argon2.Parameters]:
    """Spy on the hasher: the parameters of every hash verified, dummy ones included."""
    verified: list[argon2.Parameters] = []
    real_verify = services.hasher.verify_sync

    def spy(encoded: str, password: str) -> bool:
        verified.append(argon2.extract_parameters(encoded))
        return real_verify(encoded, password)

    monkeypatch.setattr(services.hasher, "verify_sync", spy)
    return verified


def test_success_returns_the_user_and_records_the_login(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    created = create(services)
    audit.events.clear()

    user = authenticate(services, "  ALICE ", PASSWORD)

    assert user.id == created.id
    assert services.users.get(user.id).last_login_at == clock.now()
    assert [e for e in audit.events if e.outcome.value == "failure"] == []


def test_unknown_wrong_and_disabled_fail_alike(services: Services) -> None:
    create(services)
    create(services, "bob")
    services.accounts.disable("bob", actor="cli")

    failures = [
        failure(services, "nobody", PASSWORD),
        failure(services, "alice", PASSWORD + "!"),
        failure(services, "bob", PASSWORD),
    ]

    assert {type(exc) for exc in failures} == {AuthenticationFailed}
    assert {str(exc) for exc in failures} == {"authentication_failed"}
    assert {exc.code for exc in failures} == {"authentication_failed"}
    assert all(exc.details == {} for exc in failures)
    assert services.users.get_by_username("alice").last_login_at is None
    assert services.users.get_by_username("bob").last_login_at is None


def test_every_failure_costs_one_verification_with_the_same_parameters(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(services)
    create(services, "bob")
    create(services, "carol", password=None)
    services.accounts.disable("bob", actor="cli")
    verified = count_argon2_verifications(services, monkeypatch)

    for username, password in [
        ("nobody", PASSWORD),  # unknown: verified against the dummy hash
        ("carol", PASSWORD),  # no password set: same as unknown
        ("in valid", PASSWORD),  # not even a valid username
        ("alice", "wrong password!"),
        ("bob", PASSWORD),  # disabled, right password
    ]:
        failure(services, username, password)

    assert len(verified) == 5
    assert all(parameters == verified[0] for parameters in verified)


def test_unknown_user_goes_through_dummy_verify(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(services)
    calls: list[str] = []
    real_dummy = services.hasher.dummy_verify_sync

    def spy(password: str) -> None:
        calls.append(password)
        real_dummy(password)

    monkeypatch.setattr(services.hasher, "dummy_verify_sync", spy)

    failure(services, "nobody", "guess one")
    failure(services, "alice", "guess two")
    authenticate(services, "alice", PASSWORD)

    assert calls == ["guess one"]


def test_audit_records_failures_with_reason_codes(
    services: Services, audit: RecordingAudit, clock: FrozenClock
) -> None:
    create(services)
    create(services, "bob")
    services.accounts.disable("bob", actor="cli")
    audit.events.clear()

    failure(services, "Nobody", PASSWORD)
    failure(services, "ALICE", "wrong password!")
    failure(services, "bob", PASSWORD)

    assert [(e.action, e.outcome.value, e.subject, e.reason) for e in audit.events] == [
        ("login.password", "failure", None, "unknown_user"),
        ("login.password", "failure", "alice", "bad_password"),
        ("login.password", "failure", "bob", "disabled"),
    ]
    assert {e.source_address for e in audit.events} == {"10.1.2.3"}
    assert {e.at for e in audit.events} == {clock.now()}
    assert all(PASSWORD not in str(e) and "wrong password!" not in str(e) for e in audit.events)


def test_a_name_matching_no_account_is_never_stored_only_its_keyed_digest(
    services: Services, audit: RecordingAudit
) -> None:
    # People type their password into the username field: the trail must not keep it.
    typed_in_the_wrong_field = "Mon mot de passe secret 2026"
    failure(services, typed_in_the_wrong_field, PASSWORD)
    failure(services, typed_in_the_wrong_field, PASSWORD)

    first, second = audit.events[-2:]
    assert typed_in_the_wrong_field not in str(first)
    assert typed_in_the_wrong_field.casefold() not in str(first).casefold()
    assert first.subject is None
    assert first.details["unknown_name"] == second.details["unknown_name"]
    assert len(first.details["unknown_name"]) == 20


def test_a_disabled_user_with_a_wrong_password_is_a_bad_password(
    services: Services, audit: RecordingAudit
) -> None:
    create(services)
    services.accounts.disable("alice", actor="cli")
    audit.events.clear()

    failure(services, "alice", "wrong password!")

    assert [e.reason for e in audit.events] == ["bad_password"]


@contextmanager
def same_database_with_raised_cost(
    services: Services, data_dir: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[Services]:
    """A second set of services on the same database, hashing with more memory."""
    schema = None
    if services.engine.dialect.name == "postgresql":
        with services.engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    settings = make_settings(
        data_dir,
        database_url=services.settings.database_url,
        password_hash_memory_kib=str(RAISED_MEMORY_KIB),
    )
    raised = build_services(settings, clock=clock, audit=audit, schema=schema)
    try:
        yield raised
    finally:
        raised.close()


def test_login_upgrades_a_hash_made_with_weaker_parameters(
    services: Services, tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> None:
    old_hash = create(services).password_hash
    assert old_hash is not None
    assert argon2.extract_parameters(old_hash).memory_cost == MIN_MEMORY_KIB

    with same_database_with_raised_cost(services, tmp_path / "raised", clock, audit) as raised:
        assert raised.hasher.needs_rehash(old_hash)
        authenticate(raised, "alice", PASSWORD)
        new_hash = raised.users.get_by_username("alice").password_hash
        assert new_hash is not None
        assert not raised.hasher.needs_rehash(new_hash)
        # Logging in again does not rehash a hash that is already strong enough.
        authenticate(raised, "alice", PASSWORD)
        assert raised.users.get_by_username("alice").password_hash == new_hash

    assert new_hash != old_hash
    assert argon2.extract_parameters(new_hash).memory_cost == RAISED_MEMORY_KIB
    assert services.hasher.verify_sync(new_hash, PASSWORD)
    assert not services.hasher.verify_sync(new_hash, PASSWORD + "!")


def test_login_at_current_parameters_keeps_the_hash(services: Services) -> None:
    old_hash = create(services).password_hash

    authenticate(services, "alice", PASSWORD)

    assert services.users.get_by_username("alice").password_hash == old_hash


class CountingBlocklist:
    """A blocklist holding ``entries`` that counts how often it is asked."""

    def __init__(self, *entries: str) -> None:
        self.entries = set(entries)
        self.lookups = 0

    def __contains__(self, password: object) -> bool:
        self.lookups += 1
        return password in self.entries


def test_a_blocklist_verdict_is_looked_up_once_per_stored_hash() -> None:
    blocklist = CountingBlocklist("motdepasse123")
    verdicts = BlocklistVerdicts(blocklist)

    assert verdicts.flagged("$argon2id$hash-1", "motdepasse123") is True
    asked = blocklist.lookups
    assert verdicts.flagged("$argon2id$hash-1", "motdepasse123") is True
    assert blocklist.lookups == asked  # the same password behind the same hash: not asked again
    # A new password comes with a new hash (a new salt), so it is looked up afresh.
    assert verdicts.flagged("$argon2id$hash-2", "tulipe ardoise gravier") is False
    assert blocklist.lookups > asked


def test_blocklist_verdicts_forget_the_least_recent_hash_beyond_their_size() -> None:
    blocklist = CountingBlocklist()
    verdicts = BlocklistVerdicts(blocklist, kept=2)
    verdicts.flagged("h1", "p1")
    verdicts.flagged("h2", "p2")
    verdicts.flagged("h1", "p1")  # h1 is now the most recent
    verdicts.flagged("h3", "p3")  # h2 goes
    asked = blocklist.lookups

    verdicts.flagged("h1", "p1")
    assert blocklist.lookups == asked
    verdicts.flagged("h2", "p2")
    assert blocklist.lookups > asked
