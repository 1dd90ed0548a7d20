"""Alerts reach the security officer by e-mail and the webhook, as wired by the composition root."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.domain.alerts import Alert
from quivive.domain.audit import AuditEvent, Outcome
from quivive.services.accounts import NewAccount
from quivive.services.alert_channels import FanOutAlertSink
from quivive.services.notification_texts import alert_email
from quivive.web.app import create_app
from support.quivive import running_services
from support.smtp_sink import body_of, smtp_inbox
from support.webhook_receiver import webhook_receiver

OFFICER = "rssi@hopital.example"
SECRET = "hook-secret"
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def spraying() -> Alert:
    return Alert(
        kind="attack.spraying",
        at=AT,
        summary="password spraying: one password tried against 12 accounts",
        source_address="203.0.113.9",
        details={"accounts": "12"},
    )


class Broken:
    def send(self, alert: Alert) -> None:
        raise RuntimeError("down")


class Keeping:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def test_one_broken_channel_does_not_silence_the_others() -> None:
    kept = Keeping()

    FanOutAlertSink([Broken(), kept]).send(spraying())

    assert kept.alerts == [spraying()]


def test_an_alert_goes_to_the_officer_and_the_webhook(tmp_path: Path) -> None:
    with smtp_inbox() as inbox, webhook_receiver(SECRET, fail_first=1) as receiver:
        settings = {
            **inbox.settings(),
            "alerts_email": OFFICER,
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
        }
        clock = FrozenClock()
        with running_services(tmp_path, clock=clock, settings=settings) as services:
            services.alerts.send(spraying())
            assert services.outbox.drain(30)
            clock.advance(timedelta(seconds=1))  # the webhook's first retry is due
            assert services.outbox.drain(30)

    [mail] = inbox.to(OFFICER)
    assert "attack.spraying" in mail["Subject"]
    assert "203.0.113.9" in body_of(mail)
    assert "Alerte de sécurité" in body_of(mail)  # the establishment's language, fr by default
    [posted] = receiver.accepted
    assert posted["kind"] == "attack.spraying"
    assert posted["source_address"] == "203.0.113.9"
    assert receiver.attempts == 2  # the first answer was a 500


def test_alert_text_in_english() -> None:
    subject, body = alert_email("en", "CH Test", spraying())

    assert subject == "CH Test: security alert (attack.spraying)"
    assert "Source address: 203.0.113.9" in body


def test_without_channels_alerts_are_only_logged(tmp_path: Path) -> None:
    with running_services(tmp_path) as services:
        services.alerts.send(spraying())  # must not raise nor block

        assert services.outbox.drain(5)


def test_an_administrator_account_throttled_alerts_the_officer(tmp_path: Path) -> None:
    with smtp_inbox() as inbox:
        settings = {**inbox.settings(), "alerts_email": OFFICER}
        with running_services(tmp_path, settings=settings) as services:
            password = "correct horse battery staple 42"
            services.accounts.create(NewAccount("root", password, roles=("admin",)), actor="t")
            services.accounts.create(NewAccount("nurse", password), actor="t")
            for subject in ("root", "nurse"):
                services.audit.record(throttle_triggered(subject))
            assert services.outbox.drain(30)

    [mail] = inbox.to(OFFICER)
    assert "throttle.admin" in mail["Subject"]
    assert "root" in body_of(mail)


def throttle_triggered(subject: str) -> AuditEvent:
    return AuditEvent(
        action="throttle.triggered",
        outcome=Outcome.SUCCESS,
        at=AT,
        actor="system",
        subject=subject,
        reason="delay_started",
        source_address="203.0.113.9",
        details={"key_kind": "pair", "key": f"{subject}@203.0.113.9"},
    )


def test_wrong_passwords_on_an_administrator_account_alert_the_officer(tmp_path: Path) -> None:
    with smtp_inbox() as inbox:
        settings = {**inbox.settings(), "alerts_email": OFFICER, "throttle_free_attempts": "1"}
        with running_services(tmp_path, settings=settings) as services:
            services.accounts.create(NewAccount("root", "a long admin passphrase 2026",
                                                roles=("admin",)), actor="t")  # fmt: skip
            with TestClient(create_app(services), base_url="http://localhost:8080") as client:
                page = client.get("/login")
                token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                form = {"csrf_token": token, "username": "root", "password": "guess"}
                client.post("/login", data=form)
                assert services.outbox.drain(30)

    [mail] = inbox.to(OFFICER)
    assert "throttle.admin" in mail["Subject"]
