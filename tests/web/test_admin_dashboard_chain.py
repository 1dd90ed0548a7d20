"""The dashboard shows the last audit chain verification (result, who, when), French and English."""

from __future__ import annotations

from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from support.admin_console import add_user, sign_in_as


def test_never_verified_then_intact(client: TestClient, sqlite_services: Services) -> None:
    client.headers["accept-language"] = "en"
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    before = client.get("/admin").text
    # The verify button's record, as the chained audit sink writes it (tests record apart).
    now = sqlite_services.clock.now()
    event = AuditEvent("audit.verified", Outcome.SUCCESS, now, "reader", details={"checked": "1"})
    sqlite_services.audit_trail.append(event)
    after = client.get("/admin").text

    assert "has not been verified from the console yet" in before
    assert 'id="verify-link"' in before
    assert "The audit chain was intact when reader verified it on" in after


def test_a_broken_chain_is_an_alert_in_french(
    client: TestClient, sqlite_services: Services
) -> None:
    client.headers["accept-language"] = "fr"
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    now = sqlite_services.clock.now()
    sqlite_services.audit_trail.append(
        AuditEvent("audit.verified", Outcome.FAILURE, now, "root", details={"checked": "9"})
    )

    page = client.get("/admin").text

    assert 'role="alert" id="chain-status"' in page
    assert "La chaîne d\u2019audit a été trouvée rompue lors de la vérification par root" in page
    assert 'id="verify-link"' not in page  # helpdesk does not read the audit
