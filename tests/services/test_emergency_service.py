"""EmergencyAccessService without the web: seeding a use, the end of a use, reviews, alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.alerts import Alert
from quivive.domain.emergency import EmergencyPolicy, EmergencyRequest, Refusal
from quivive.domain.users import User
from quivive.errors import ConflictError, EmergencyRefused, PermissionDenied
from quivive.services.accounts import NewAccount
from quivive.services.emergency_access import EmergencyAccessService, EmergencyStores
from quivive.services.mfa import Origin
from quivive.storage.emergency_accesses import EmergencyAccessRepository
from quivive.storage.sessions import SessionRepository
from support.admin_console import actor
from support.quivive import RecordingAudit, running_services

PASSWORD = "correct horse battery staple 42"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4."


class KeptAlerts:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, audit: RecordingAudit) -> Iterator[Services]:
    with running_services(tmp_path, clock=clock, audit=audit) as built:
        yield built


@pytest.fixture
def alerts() -> KeptAlerts:
    return KeptAlerts()


@pytest.fixture
def service(
    services: Services, clock: FrozenClock, audit: RecordingAudit, alerts: KeptAlerts
) -> EmergencyAccessService:
    policy = EmergencyPolicy(roles=frozenset({"infirmier"}), max_uses=2)
    engine = services.engine
    stores = EmergencyStores(
        EmergencyAccessRepository(engine), services.users, SessionRepository(engine)
    )
    built = EmergencyAccessService(
        policy, stores, services.sessions, services.totp.verify, audit, alerts, clock
    )
    services.sessions.subscribe(built)
    return built


def nurse(services: Services) -> User:
    account = NewAccount("alice", PASSWORD, roles=("infirmier",))
    return services.accounts.create(account, actor="test")


def test_record_use_seeds_a_pending_use_without_a_session(
    services: Services, service: EmergencyAccessService, alerts: KeptAlerts
) -> None:
    user = nurse(services)

    use = service.record_use(user, "factor_forgotten", WHY, witness_name="Dr Martin")

    assert use.session_token_hash is None
    assert use.review_status.value == "pending"
    assert services.sessions.list_for_user(user.id) == []
    assert [alert.kind for alert in alerts.alerts] == ["emergency.granted"]
    assert service.remaining_uses(user) == 1


def test_signing_out_early_is_audited_as_ended(
    services: Services, service: EmergencyAccessService, audit: RecordingAudit
) -> None:
    user = nurse(services)
    grant = service.grant(user, EmergencyRequest("patient_emergency", WHY), Origin())

    assert services.sessions.end(grant.token)

    assert ("emergency.ended", "success") in audit.actions()


def test_expiry_is_recorded_once_and_the_session_revoked(
    services: Services,
    service: EmergencyAccessService,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> None:
    user = nurse(services)
    grant = service.grant(user, EmergencyRequest("patient_emergency", WHY), Origin())
    clock.advance(timedelta(hours=2))

    assert service.close_expired() == 1
    assert service.close_expired() == 0
    assert [a for a, _ in audit.actions()].count("emergency.expired") == 1
    assert services.sessions.resolve(grant.token) is None


def test_the_limit_raises_and_alerts(
    services: Services, service: EmergencyAccessService, alerts: KeptAlerts
) -> None:
    user = nurse(services)
    for _ in range(2):
        service.record_use(user, "factor_lost", WHY)

    with pytest.raises(EmergencyRefused) as caught:
        service.grant(user, EmergencyRequest("factor_lost", WHY), Origin())

    assert caught.value.reason == Refusal.LIMIT_REACHED
    assert alerts.alerts[-1].kind == "emergency.limit_reached"


def test_reviews_need_the_admin_role_and_happen_once(
    services: Services, service: EmergencyAccessService, audit: RecordingAudit
) -> None:
    use = service.record_use(nurse(services), "factor_lost", WHY)
    admin = services.accounts.create(NewAccount("rssi", PASSWORD, roles=("admin",)), actor="t")
    helper = services.accounts.create(NewAccount("hd", PASSWORD, roles=("helpdesk",)), actor="t")

    with pytest.raises(PermissionDenied):
        service.page(actor(helper))
    reviewed = service.review(actor(admin), use.id, "unjustified", "Pas d'urgence.")
    with pytest.raises(ConflictError):
        service.review(actor(admin), use.id, "justified", "Finalement si.")

    assert reviewed.review_status.value == "unjustified"
    assert ("admin.forbidden", "failure") in audit.actions()
