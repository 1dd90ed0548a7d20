"""The dashboard's "Recent alerts" lists every alert the security officer got, not only attacks.

The records are appended to the trail as the services write them (the alerting services have
their own tests); this checks that the dashboard finds each kind, and nothing else, on both
databases.
"""

from __future__ import annotations

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from support.admin_console import actor, add_user

ALERTS = [
    ("attack.spraying", None, "fingerprint", {}),
    ("emergency.granted", None, "nina", {}),
    ("emergency.witness_failed", "witness_failed", "colleague", {}),
    ("emergency.refused", "limit_reached", "nina", {}),
    ("login.passkey", "possible_cloned_authenticator", "nina", {}),
    ("throttle.triggered", "password_alone_insufficient", "root", {"key_kind": "account"}),
    ("throttle.triggered", "delay_started", "root", {"key_kind": "pair"}),
]
NOT_ALERTS = [
    ("emergency.refused", "bad_password", "nina", {}),
    ("login.passkey", "unknown_credential", "nina", {}),
    ("throttle.triggered", "delay_started", "nina", {"key_kind": "pair"}),
    ("throttle.triggered", "delay_started", "root", {"key_kind": "source"}),
    ("login.password", "bad_password", "root", {}),
]


def _append(services: Services, rows: list[tuple[str, str | None, str, dict[str, str]]]) -> None:
    for action, reason, subject, details in rows:
        services.audit_trail.append(
            AuditEvent(
                action,
                Outcome.FAILURE,
                services.clock.now(),
                subject=subject,
                reason=reason,
                source_address="198.51.100.9",
                details=details,
            )
        )


def test_every_kind_of_alert_is_listed_newest_first(services: Services) -> None:
    root = add_user(services, "root", "admin")
    add_user(services, "nina", "nurse")
    _append(services, NOT_ALERTS[:2])
    _append(services, ALERTS)
    _append(services, NOT_ALERTS[2:])

    alerts = services.admin.dashboard(actor(root)).alerts

    listed = [(record.action, record.reason, record.subject) for record in alerts]
    assert listed == [(action, reason, subject) for action, reason, subject, _ in ALERTS[::-1]]


def test_only_the_ten_newest_are_listed(services: Services) -> None:
    root = add_user(services, "root", "admin")
    _append(services, [("attack.stuffing", None, f"10.0.0.{n}", {}) for n in range(12)])
    _append(services, [("emergency.granted", None, "nina", {})])

    alerts = services.admin.dashboard(actor(root)).alerts

    assert len(alerts) == 10
    assert alerts[0].action == "emergency.granted"
    assert alerts[-1].subject == "10.0.0.3"
