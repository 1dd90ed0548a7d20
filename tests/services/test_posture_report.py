"""The posture report on a seeded establishment, through the real services, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.posture import PasswordOnly, Status
from quivive.storage.tables import audit_records, users
from support.posture import SEEDED_AT, Establishment, chained_services, seed, sign_in


@pytest.fixture
def seeded(tmp_path: Path, backend: str) -> Iterator[tuple[Services, Establishment]]:
    clock = FrozenClock()
    with chained_services(tmp_path, backend, clock) as services:
        yield services, seed(services, clock)


def statuses(services: Services) -> dict[str, Status]:
    return {r.id: r.status for r in services.posture.build().assessment.results}


def test_the_figures_of_the_seeded_establishment(seeded: tuple[Services, Establishment]) -> None:
    services, _ = seeded
    figures = services.posture.build().figures

    assert figures.at == SEEDED_AT
    assert (figures.overall.active, figures.overall.with_mfa) == (8, 5)
    assert figures.overall.phishing_resistant == 2
    assert figures.password_only == PasswordOnly(1, 1, 1, past_deadline_names=["nina"])
    assert list(figures.roles_without_rule) == ["secretary"]
    assert (figures.admins, list(figures.admins_without_phishing_resistant)) == (2, ["root2"])
    assert figures.dormant == 2  # nina and sam: created 100 days ago, never signed in since
    assert list(figures.dormant_names) == ["nina", "sam"]
    assert (figures.blocklisted, list(figures.blocklisted_names)) == (1, ["weak"])
    assert list(figures.password_only.past_deadline_names) == ["nina"]
    assert figures.attacks.throttles >= 1
    assert (figures.attacks.spraying, figures.attacks.stuffing) == (0, 0)
    emergency = figures.emergency
    assert (emergency.uses, emergency.pending, emergency.overdue) == (4, 2, 1)
    assert (emergency.justified, emergency.unjustified) == (1, 1)
    assert figures.audit_intact
    assert figures.audit_checked > 0


def test_the_inventory_tells_synced_from_device_bound(
    seeded: tuple[Services, Establishment],
) -> None:
    services, _ = seeded
    figures = services.posture.build().figures

    kinds = {kind.kind: (kind.accounts, kind.credentials) for kind in figures.inventory}
    assert kinds["passkey_device_bound"] == (1, 1)
    assert kinds["passkey_synced"] == (1, 1)
    assert kinds["totp"] == (3, 3)
    assert kinds["password_only"] == (3, 3)
    models = {(model.name, model.synced) for model in figures.key_models}
    assert models == {("Google Password Manager", True), (None, False)}


def test_checks_fail_where_the_establishment_is_weak(
    seeded: tuple[Services, Establishment],
) -> None:
    services, _ = seeded
    found = statuses(services)

    failing = {check for check, status in found.items() if status is Status.FAIL}
    assert failing == {
        "password_only",
        "password_only_overdue",
        "mfa_rule_per_role",
        "phishing_resistant_share",
        "admins_phishing_resistant",
        "dormant_accounts",
        "blocklisted_passwords",
        "emergency_reviewed",
        "emergency_unjustified",
    }


def test_a_clean_sign_in_clears_the_blocklisted_mark(
    seeded: tuple[Services, Establishment],
) -> None:
    services, people = seeded
    services.accounts.set_password("weak", "a much better passphrase 93", actor="test")
    sign_in(services, "weak", "a much better passphrase 93")

    assert services.posture.build().figures.blocklisted == 0
    with services.engine.connect() as conn:
        mark = conn.execute(
            select(users.c.password_blocklisted_at).where(users.c.id == people.users["weak"].id)
        ).scalar_one()
    assert mark is None


def test_a_tampered_audit_record_fails_the_chain_check(
    seeded: tuple[Services, Establishment],
) -> None:
    services, _ = seeded
    with services.engine.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.sequence == 2).values(actor="x"))

    assert statuses(services)["audit_chain"] is Status.FAIL


def test_keeping_reports_gives_the_trend(seeded: tuple[Services, Establishment]) -> None:
    services, people = seeded
    first = services.posture.build()
    assert first.assessment.trend.previous_score is None
    services.posture.keep(first, kept_by="cli")

    services.users.record_login(people.users["sam"].id, SEEDED_AT)
    services.users.record_login(people.users["nina"].id, SEEDED_AT)
    second = services.posture.build()

    trend = second.assessment.trend
    assert trend.previous_score == first.score
    assert trend.fixed == ("dormant_accounts",)
    assert trend.delta(second.score) == second.score - first.score > 0
    assert [kept.score for kept in second.history] == [first.score]


def test_viewing_keeps_nothing(seeded: tuple[Services, Establishment]) -> None:
    services, _ = seeded
    services.posture.build()
    services.posture.build()

    assert services.posture.build().history == []


def test_settings_changed_in_the_console_are_the_ones_checked(
    seeded: tuple[Services, Establishment],
) -> None:
    services, _ = seeded
    services.policies.set("session.aal2.idle", "30", actor="root")
    services.policies.set("password.min_length", "10", actor="root")

    report = services.posture.build()

    assert report.figures.settings.idle_timeout == timedelta(minutes=30)
    found = {r.id: r.status for r in report.assessment.results}
    assert found["password_length"] is Status.FAIL
    assert found["idle_timeout"] is Status.PASS


def test_a_console_view_may_reuse_a_recent_audit_check_a_kept_report_never(
    seeded: tuple[Services, Establishment],
) -> None:
    services, _ = seeded
    services.posture.build()  # verifies the trail: intact
    with services.engine.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.sequence == 2).values(actor="x"))

    reused = services.posture.build(reuse_audit_check=True)
    fresh = services.posture.build()

    assert reused.figures.audit_intact
    assert not fresh.figures.audit_intact
