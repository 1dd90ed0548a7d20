"""The officer's alert e-mail speaks the establishment's language, summary included.

An alert's ``summary`` is English (the log and the webhook read it); the e-mail to a French
security officer must not embed it. The emergency-access alerts come from the real service, so
that a renamed detail shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.alerts import Alert
from quivive.domain.emergency import EmergencyPolicy, EmergencyRequest
from quivive.errors import EmergencyRefused
from quivive.services.accounts import NewAccount
from quivive.services.emergency_access import (
    WITNESS_ALERT,
    EmergencyAccessService,
    EmergencyStores,
)
from quivive.services.mfa import Origin
from quivive.services.notification_texts import alert_email
from quivive.storage.emergency_accesses import EmergencyAccessRepository
from support.quivive import RecordingAudit, running_services

WHY = "Téléphone oublié, patient en détresse respiratoire au box 4."


class KeptAlerts:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
def emergency_alerts(tmp_path: Path) -> Iterator[list[Alert]]:
    """A granted use, then one refused at the limit (max one use)."""
    clock = FrozenClock(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    kept = KeptAlerts()
    with running_services(tmp_path, clock=clock, audit=RecordingAudit()) as services:
        service = _service(services, clock, kept)
        user = services.accounts.create(
            NewAccount("alice", "correct horse battery staple 42", roles=("infirmier",)),
            actor="test",
        )
        service.record_use(user, "factor_forgotten", WHY)
        with pytest.raises(EmergencyRefused):
            service.grant(user, EmergencyRequest("factor_lost", WHY), Origin("10.1.2.3"))
        yield kept.alerts


def _service(services: Services, clock: FrozenClock, kept: KeptAlerts) -> EmergencyAccessService:
    policy = EmergencyPolicy(roles=frozenset({"infirmier"}), max_uses=1)
    stores = EmergencyStores(EmergencyAccessRepository(services.engine), services.users)
    audit = RecordingAudit()
    return EmergencyAccessService(
        policy, stores, services.sessions, services.totp.verify, audit, kept, clock
    )


WITNESS_FAILED = Alert(
    kind=WITNESS_ALERT,
    at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    summary="emergency access by alice: colleague confirmation failed",
    details={"account": "alice", "witness": "bob"},
)


def test_a_french_establishment_gets_french_summaries(emergency_alerts: list[Alert]) -> None:
    granted, limit = emergency_alerts
    bodies = [alert_email("fr", "CH Test", alert)[1] for alert in emergency_alerts]
    witness = alert_email("fr", "CH Test", WITNESS_FAILED)[1]

    assert (granted.kind, limit.kind) == ("emergency.granted", "emergency.limit_reached")
    assert "accès d'urgence ouvert par alice (factor_forgotten) jusqu'au 2026-03-01" in bodies[0]
    assert "accès d'urgence refusé à alice : plafond atteint (1 sur 30 jours)" in bodies[1]
    assert "la confirmation du collègue a échoué" in witness
    for body in [*bodies, witness]:
        assert "emergency access" not in body
        assert body.startswith("Alerte de sécurité")


def test_an_english_establishment_gets_the_english_summary(
    emergency_alerts: list[Alert],
) -> None:
    for alert in [*emergency_alerts, WITNESS_FAILED]:
        _subject, body = alert_email("en", "CH Test", alert)

        assert alert.summary in body
        assert alert.summary.startswith("emergency access")


def test_attack_and_administrator_alerts_in_french() -> None:
    spraying = Alert(
        kind="attack.spraying",
        at=WITNESS_FAILED.at,
        summary="password spraying: one password tried against 12 accounts; source 1.2.3.4 held",
        source_address="1.2.3.4",
        details={"accounts": "12", "window": "0:15:00"},
    )
    throttled = Alert(
        kind="throttle.admin",
        at=WITNESS_FAILED.at,
        summary="administrator account root throttled (delay_started)",
        details={"account": "root", "reason": "delay_started"},
    )

    assert "essayé sur 12 comptes ; source 1.2.3.4 bloquée" in alert_email("fr", "CH", spraying)[1]
    assert "compte administrateur root freiné" in alert_email("fr", "CH", throttled)[1]
    assert throttled.summary in alert_email("en", "CH", throttled)[1]


def test_a_french_text_missing_a_detail_falls_back_to_the_summary() -> None:
    bare = Alert(kind="emergency.granted", at=WITNESS_FAILED.at, summary="emergency access …")

    assert "emergency access …" in alert_email("fr", "CH Test", bare)[1]
