"""The demo establishment seeded through the real services: shape, history, determinism."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.audit import Outcome
from quivive.domain.demo_establishment import ROLES, DemoFactor
from quivive.domain.emergency import ReviewStatus
from quivive.protocols import totp
from quivive.services.admin import AdminActor
from quivive.services.demo_history import HISTORY_DAYS
from quivive.services.demo_seed import DemoSeed, seed_demo
from support.quivive import BACKENDS, RecordingAudit, running_services

NOW = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)
APP_URL = "http://localhost:8081"


class Seeded:
    def __init__(self, services: Services, audit: RecordingAudit, seed: DemoSeed) -> None:
        self.services, self.audit, self.seed = services, audit, seed


def seeded(data_dir: Path, backend: str = "sqlite", *, history: bool = True) -> Iterator[Seeded]:
    clock, audit = FrozenClock(NOW), RecordingAudit()
    with running_services(data_dir, backend, clock=clock, audit=audit) as services:
        seed = seed_demo(services, clock, app_url=APP_URL, history=history)
        yield Seeded(services, audit, seed)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from seeded(tmp_path_factory.mktemp("demo"))


def test_every_role_has_its_accounts_with_roles_and_rpps(demo: Seeded) -> None:
    users = demo.services.accounts.list()

    assert Counter(role for user in users for role in user.roles) == {
        role.identifier: role.count for role in ROLES
    }
    nurse = demo.services.accounts.get("camille.durand")
    assert nurse.display_name == "Camille Durand"
    assert nurse.roles == ("infirmier",)
    assert nurse.professional_id is not None
    assert len(nurse.professional_id) == 11
    assert all(user.password_hash and user.password_hash.startswith("$argon2id$") for user in users)


def test_factors_are_real_credentials_in_the_planned_mix(demo: Seeded) -> None:
    services = demo.services
    for account in demo.seed.accounts:
        user_id, factors = account.user.id, account.person.factors
        assert bool(services.totp.credentials(user_id)) is (DemoFactor.TOTP in factors)
        assert bool(services.passkeys.list_for_user(user_id)) is (DemoFactor.PASSKEY in factors)
        has_codes = services.recovery_codes.status(user_id).remaining > 0
        assert has_codes is (DemoFactor.RECOVERY in factors)
    with_mfa = [
        a for a in demo.seed.accounts if services.mfa.factors.primary_credentials(a.user.id)
    ]
    assert 0.4 < len(with_mfa) / len(demo.seed.accounts) < 0.9


def test_the_printed_totp_secret_opens_the_account_now(demo: Seeded) -> None:
    account = demo.seed.account("camille.durand")
    assert account.totp_secret is not None
    code = totp.code_at(account.totp_secret, totp.step_at(demo.services.clock.now()))

    assert demo.services.totp.verify(account.user.id, code) is not None


def test_disabled_dormant_and_rules(demo: Seeded) -> None:
    users = {user.username: user for user in demo.services.accounts.list()}
    people = {account.person.username: account.person for account in demo.seed.accounts}

    disabled = {name for name, user in users.items() if not user.is_active}
    assert disabled == {name for name, person in people.items() if person.disabled}
    for name, person in people.items():
        last = users[name].last_login_at
        assert last is not None
        assert (NOW - last > timedelta(days=90)) is (person.dormant or person.disabled)
    rules = demo.services.mfa_policy.rules()
    assert {rule.role for rule in rules} == {role.identifier for role in ROLES}
    assert any(rule.deadline < NOW for rule in rules)
    assert any(rule.deadline > NOW for rule in rules)


def test_history_is_spread_over_the_month_with_failures_and_attacks(demo: Seeded) -> None:
    events = demo.audit.events
    sign_ins = [e for e in events if e.action.startswith("login.")]
    recent = [e for e in sign_ins if NOW - e.at <= timedelta(days=HISTORY_DAYS + 1)]
    reasons = Counter(e.reason for e in sign_ins if e.outcome is Outcome.FAILURE)

    assert len({e.at.date() for e in recent}) >= HISTORY_DAYS - 2
    assert len(recent) > 300
    assert all(e.at <= NOW for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)  # the chain stays in time order
    assert {"login.password", "login.totp", "login.passkey"} <= {e.action for e in sign_ins}
    assert reasons["bad_password"] >= 10
    assert reasons["throttled"] >= 1
    assert reasons["unknown_user"] >= 1
    assert "attack.spraying" in {e.action for e in events}
    user = demo.services.accounts.get("camille.durand")
    assert demo.services.sign_ins.recent(user.id)  # the account page's list


def test_two_emergency_accesses_one_reviewed_one_overdue(demo: Seeded) -> None:
    officer = AdminActor("officer", frozenset({"admin"}))
    accesses = demo.services.emergency.page(officer).items
    by_user = {demo.services.users.get(a.user_id).username: a for a in accesses}
    actions = Counter(e.action for e in demo.audit.events if e.action.startswith("emergency."))

    assert len(accesses) == 2
    assert "karim.benali" in by_user
    assert by_user["karim.benali"].review_status is ReviewStatus.JUSTIFIED
    assert by_user["karim.benali"].witness_name == "Camille Durand"
    assert [a.user_id for a in demo.services.emergency.overdue(officer)] == [
        a.user_id for a in accesses if a.review_status is ReviewStatus.PENDING
    ]
    assert actions == {"emergency.granted": 2, "emergency.reviewed": 1}


def test_the_sample_app_is_a_confidential_first_party_client(demo: Seeded) -> None:
    client_info = demo.seed.client
    assert client_info is not None
    assert client_info.client_secret
    client = demo.services.oidc.clients.get(client_info.client_id)

    assert client.redirect_uris == (APP_URL + "/callback",)
    assert client.first_party
    assert not client.is_public
    assert "healthcare" in client.scopes


def test_the_same_seed_and_time_give_the_same_establishment(demo: Seeded, tmp_path: Path) -> None:
    for again in seeded(tmp_path):
        assert shape(again) == shape(demo)


@pytest.mark.postgres
def test_postgresql_gets_the_same_accounts_factors_and_rules(demo: Seeded, tmp_path: Path) -> None:
    # Without the month of history, which takes seconds on SQLite but far longer over a socket.
    assert "postgres" in BACKENDS
    for on_postgres in seeded(tmp_path, "postgres", history=False):
        assert accounts_shape(on_postgres) == accounts_shape(demo)


def accounts_shape(seeded: Seeded) -> list[tuple[object, ...]]:
    """Accounts, factors and rules (the history disables accounts: not part of this shape)."""
    services = seeded.services
    return [
        (
            u.username,
            u.display_name,
            u.roles,
            u.professional_id,
            u.email,
            sorted(f.name for f in services.mfa.factors.usable(u.id)),
        )
        for u in sorted(services.accounts.list(), key=lambda u: u.username)
    ] + [
        (rule.role, rule.enforce_from, rule.phishing_resistant)
        for rule in services.mfa_policy.rules()
    ]


def shape(seeded: Seeded) -> tuple[object, ...]:
    """Everything but random secrets (TOTP seeds, keys, session tokens)."""
    users = [
        (u.username, u.roles, u.professional_id, u.status, u.last_login_at)
        for u in sorted(seeded.services.accounts.list(), key=lambda u: u.username)
    ]
    events = [
        (e.action, e.outcome, e.reason, e.at, e.subject, e.source_address)
        for e in seeded.audit.events
        if e.action != "client.added"  # its subject is the random client_id
    ]
    return users, events
