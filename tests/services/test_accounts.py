import dataclasses

import pytest
from sqlalchemy import func, select

from quivive.composition import Services
from quivive.domain.audit import AuditEvent
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import User, UserStatus
from quivive.errors import ConflictError, PasswordRejected, ValidationError
from quivive.services.accounts import NewAccount
from quivive.storage.tables import user_roles, users
from support.quivive import RecordingAudit

PASSWORD = "tulipe ardoise gravier"
NEW_PASSWORD = "brouillard sur la loire"


def create(services: Services, username: str, password: str | None = PASSWORD) -> User:
    return services.accounts.create(
        NewAccount(username=username, password=password, roles=("nurse",)), actor="admin"
    )


def start_session(services: Services, user: User) -> str:
    return services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )


def row_counts(services: Services) -> tuple[int, int]:
    with services.engine.connect() as conn:
        count_users = conn.execute(select(func.count()).select_from(users)).scalar_one()
        count_roles = conn.execute(select(func.count()).select_from(user_roles)).scalar_one()
    return count_users, count_roles


def event_values(event: AuditEvent) -> list[str]:
    values = [str(getattr(event, field.name)) for field in dataclasses.fields(event)]
    return values + [f"{key}={value}" for key, value in event.details.items()]


def test_create_with_a_valid_password(services: Services) -> None:
    user = services.accounts.create(
        NewAccount(
            username="  Marie.Curie ",
            password=PASSWORD,
            display_name="Marie Curie",
            email="Marie.Curie@CHU.example",
            roles=("Doctor", "nurse", "doctor"),
            professional_id="10001234567",
        ),
        actor="admin",
    )

    assert user.username == "marie.curie"
    assert user.email == "Marie.Curie@chu.example"
    assert user.roles == ("doctor", "nurse")
    assert user.professional_id == "10001234567"
    assert user.status is UserStatus.ACTIVE
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert services.hasher.verify_sync(user.password_hash, PASSWORD)
    assert services.accounts.get("MARIE.CURIE") == user


def test_create_without_a_password(services: Services) -> None:
    user = create(services, "alice", password=None)

    assert user.password_hash is None


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("alice", "court", "too_short"),
        ("alice", "password1234", "blocklisted"),
        ("marguerite", "marguerite aime les tulipes", "contains_context"),
        ("alice", "tulipe ardoise quivive", "contains_context"),  # the establishment name
    ],
)
def test_rejected_password_creates_nothing(
    services: Services, audit: RecordingAudit, username: str, password: str, reason: str
) -> None:
    with pytest.raises(PasswordRejected) as rejected:
        create(services, username, password)

    assert reason in rejected.value.reasons
    assert rejected.value.code == "password_rejected"
    assert services.accounts.find(username) is None
    assert row_counts(services) == (0, 0)
    assert audit.events == []


def test_password_containing_the_email_local_part_is_rejected(services: Services) -> None:
    account = NewAccount(username="a1", password="jdupont ardoise", email="jdupont@chu.example")

    with pytest.raises(PasswordRejected) as rejected:
        services.accounts.create(account, actor="admin")

    assert rejected.value.reasons == ("contains_context",)


def test_usernames_are_normalised_so_case_variants_collide(services: Services) -> None:
    first = create(services, "ÉLISE")

    with pytest.raises(ConflictError):
        create(services, "élise")
    with pytest.raises(ConflictError):
        create(services, "E\u0301lise")  # decomposed: "E" + combining acute accent

    assert first.username == "élise"
    assert services.accounts.find("Élise") == first
    assert row_counts(services) == (1, 1)


def test_invalid_username_is_refused(services: Services) -> None:
    with pytest.raises(ValidationError):
        create(services, "jean dupont")

    assert row_counts(services) == (0, 0)


def test_set_password_ends_the_users_sessions_only(services: Services) -> None:
    alice = create(services, "alice")
    bob = create(services, "bob")
    alice_tokens = [start_session(services, alice) for _ in range(2)]
    bob_token = start_session(services, bob)

    assert services.accounts.set_password("ALICE", NEW_PASSWORD, actor="alice") == 2

    assert all(services.sessions.resolve(token) is None for token in alice_tokens)
    assert services.sessions.resolve(bob_token) is not None
    stored = services.accounts.get("alice").password_hash
    assert stored is not None
    assert services.hasher.verify_sync(stored, NEW_PASSWORD)
    assert not services.hasher.verify_sync(stored, PASSWORD)


def test_rejected_new_password_keeps_the_old_one_and_the_sessions(services: Services) -> None:
    alice = create(services, "alice")
    token = start_session(services, alice)

    with pytest.raises(PasswordRejected):
        services.accounts.set_password("alice", "alice ardoise gravier", actor="alice")

    assert services.accounts.get("alice").password_hash == alice.password_hash
    assert services.sessions.resolve(token) is not None


def test_disable_ends_all_sessions(services: Services) -> None:
    alice = create(services, "alice")
    bob = create(services, "bob")
    tokens = [start_session(services, alice) for _ in range(3)]
    bob_token = start_session(services, bob)

    assert services.accounts.disable("alice", actor="admin") == 3

    assert services.accounts.get("alice").status is UserStatus.DISABLED
    assert all(services.sessions.resolve(token) is None for token in tokens)
    assert services.sessions.list_for_user(alice.id) == []
    assert services.sessions.resolve(bob_token) is not None


def test_enable_restores_the_account_but_not_old_sessions(services: Services) -> None:
    alice = create(services, "alice")
    token = start_session(services, alice)
    services.accounts.disable("alice", actor="admin")

    services.accounts.enable("alice", actor="admin")

    enabled = services.accounts.get("alice")
    assert enabled.is_active
    assert services.sessions.resolve(token) is None
    assert services.sessions.resolve(start_session(services, enabled)) is not None


def test_audit_names_actor_and_subject_and_never_the_password(
    services: Services, audit: RecordingAudit
) -> None:
    create(services, "alice")
    services.accounts.set_password("alice", NEW_PASSWORD, actor="alice")
    services.accounts.disable("alice", actor="admin")
    services.accounts.enable("alice", actor="root")

    assert [(e.action, e.outcome.value, e.actor, e.subject) for e in audit.events] == [
        ("user.created", "success", "admin", "alice"),
        ("password.changed", "success", "alice", "alice"),
        ("user.disabled", "success", "admin", "alice"),
        ("user.enabled", "success", "root", "alice"),
    ]
    assert all(event.at == services.clock.now() for event in audit.events)
    for event in audit.events:
        for value in event_values(event):
            assert PASSWORD not in value
            assert NEW_PASSWORD not in value
