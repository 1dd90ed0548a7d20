"""EmergencyAccessService without the web: seeding a use, the end of a use, reviews, alerts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.alerts import Alert
from quivive.domain.emergency import EmergencyPolicy, EmergencyRequest, Refusal
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import User
from quivive.errors import ConflictError, EmergencyRefused, PermissionDenied
from quivive.services.accounts import NewAccount
from quivive.services.emergency_access import (
    EmergencyAccessService,
    EmergencyStores,
    enrolment_owed_by,
)
from quivive.services.mfa import Origin
from quivive.services.sweeps import PeriodicSweeps
from quivive.storage.database import upgrade
from quivive.storage.emergency_accesses import EmergencyAccessRepository
from support.admin_console import actor
from support.quivive import (
    RecordingAudit,
    make_settings,
    postgres_schema,
    postgres_url,
    running_services,
)
from support.race import race

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
    stores = EmergencyStores(EmergencyAccessRepository(engine), services.users)
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


class EndedSessions:
    """A ``SessionEndListener`` as the gate is one: which sessions this node was told ended."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    def session_ended(self, token_hash: str, user_id: int) -> None:
        self.ended.append(token_hash)

    def user_sessions_ended(self, user_id: int) -> None:
        return None


def test_expiry_tells_the_session_listeners_so_the_gate_drops_it(
    services: Services, service: EmergencyAccessService, clock: FrozenClock
) -> None:
    listener = EndedSessions()
    services.sessions.subscribe(listener)
    grant = service.grant(nurse(services), EmergencyRequest("patient_emergency", WHY), Origin())
    clock.advance(timedelta(hours=1, minutes=59))
    assert service.close_expired() == 0
    clock.advance(timedelta(minutes=1))

    assert service.close_expired() == 1
    assert listener.ended == [grant.access.session_token_hash]


def test_the_periodic_sweep_records_the_expiry_without_a_request(
    services: Services,
    service: EmergencyAccessService,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> None:
    service.grant(nurse(services), EmergencyRequest("patient_emergency", WHY), Origin())
    clock.advance(timedelta(hours=3))
    sweeps = PeriodicSweeps({"emergency expiry": service.close_expired}, interval_s=0.01)
    sweeps.start()
    try:
        assert wait_until(lambda: ("emergency.expired", "success") in audit.actions())
    finally:
        sweeps.close()
    assert [a for a, _ in audit.actions()].count("emergency.expired") == 1


def test_a_failing_sweep_is_logged_and_the_others_still_run() -> None:
    def broken() -> int:
        raise RuntimeError("database away")

    sweeps = PeriodicSweeps({"broken": broken, "fine": lambda: 2})
    assert sweeps.run_once() == {"fine": 2}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextmanager
def two_nodes(
    data_dir: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[tuple[Services, Services]]:
    """Two Quivive nodes (each its own services and engine) on one PostgreSQL schema."""
    overrides = {"database_url": postgres_url(), "emergency_roles": "infirmier"}
    with postgres_schema() as schema:
        nodes = [
            build_services(
                make_settings(data_dir, **overrides),
                clock=clock,
                audit=audit,
                schema=schema,
            )
            for _ in range(2)
        ]
        try:
            upgrade(nodes[0].engine)
            yield nodes[0], nodes[1]
        finally:
            for node in nodes:
                node.close()


def test_two_nodes_sweeping_at_once_record_each_expiry_once(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> None:
    with two_nodes(tmp_path, clock, audit) as (a, b):
        listeners = [EndedSessions(), EndedSessions()]
        a.sessions.subscribe(listeners[0])
        b.sessions.subscribe(listeners[1])
        for name in ("alice", "bruno", "chloe"):
            user = a.accounts.create(NewAccount(name, PASSWORD, roles=("infirmier",)), actor="t")
            a.emergency.grant(user, EmergencyRequest("factor_lost", WHY), Origin())
        clock.advance(timedelta(hours=2))

        for _ in range(3):
            counts = race([a.emergency.close_expired, b.emergency.close_expired])
            assert sum(counts) in (0, 3)

        events = [e for e in audit.events if e.action == "emergency.expired"]
        assert sorted(e.subject or "" for e in events) == ["alice", "bruno", "chloe"]
        assert len(listeners[0].ended) + len(listeners[1].ended) == 3
        for node in (a, b):
            assert node.emergency.close_expired() == 0


def test_no_factor_past_the_deadline_is_refused_unless_the_policy_allows_it(
    services: Services, clock: FrozenClock, audit: RecordingAudit, alerts: KeptAlerts
) -> None:
    user = nurse(services)
    owes = enrolment_owed_by(services.mfa)
    assert not owes(user)  # no rule for the role: nothing owed
    services.mfa_policy.set_rule(MfaRule("infirmier", date(2026, 1, 1), grace_days=5), actor="t")
    assert owes(user)

    def built(policy: EmergencyPolicy) -> EmergencyAccessService:
        stores = EmergencyStores(EmergencyAccessRepository(services.engine), services.users)
        verify = services.totp.verify
        return EmergencyAccessService(
            policy, stores, services.sessions, verify, audit, alerts, clock, owes_enrolment=owes
        )

    strict = built(EmergencyPolicy(roles=frozenset({"infirmier"})))
    assert strict.unavailable_because(user) is Refusal.NO_FACTOR_ENROLLED
    with pytest.raises(EmergencyRefused) as caught:
        strict.grant(user, EmergencyRequest("factor_lost", WHY), Origin())
    assert caught.value.reason == Refusal.NO_FACTOR_ENROLLED
    assert audit.events[-1].reason == "no_factor_enrolled"
    lenient = built(EmergencyPolicy(roles=frozenset({"infirmier"}), allow_without_factor=True))
    assert lenient.grant(user, EmergencyRequest("factor_lost", WHY), Origin()).token
