"""The outbound delivery queue: deliveries survive a restart, and nodes share them exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from quivive.clock import FrozenClock
from quivive.composition import build_services
from quivive.domain.alerts import Alert
from quivive.storage.database import upgrade
from support.quivive import (
    RecordingAudit,
    make_settings,
    postgres_schema,
    postgres_url,
    running_services,
)
from support.race import race
from support.smtp_sink import body_of, smtp_inbox
from support.webhook_receiver import webhook_receiver

OFFICER = "rssi@hopital.example"
SECRET = "hook-secret"


def emergency(n: int = 0) -> Alert:
    return Alert(
        kind="emergency.access",
        at=datetime(2026, 3, 1, 3, 10, tzinfo=UTC),
        summary=f"emergency access {n} by alice (bris de glace)",
        source_address="10.0.0.7",
        details={"n": str(n)},
    )


def test_an_alert_survives_a_restart_while_smtp_is_down(tmp_path: Path) -> None:
    clock = FrozenClock()
    with smtp_inbox() as down:
        port = down.port
    with webhook_receiver(SECRET, fail_first=1) as receiver:
        settings = {
            **down.settings(),
            "alerts_email": OFFICER,
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
        }
        with running_services(tmp_path, clock=clock, settings=settings) as services:
            services.alerts.send(emergency())
            assert services.outbox.drain(30)  # the first attempts failed: both wait for a retry
        assert (receiver.attempts, receiver.accepted) == (1, [])

        clock.advance(timedelta(minutes=1))
        with (
            smtp_inbox(port) as inbox,
            running_services(tmp_path, clock=clock, settings=settings) as restarted,
        ):
            restarted.outbox.start()  # what the web server does at start-up
            assert restarted.outbox.drain(30)

    [mail] = inbox.to(OFFICER)
    assert "emergency.access" in mail["Subject"]
    assert "bris de glace" in body_of(mail)
    assert [posted["kind"] for posted in receiver.accepted] == ["emergency.access"]


def test_two_nodes_on_one_postgresql_deliver_each_alert_exactly_once(tmp_path: Path) -> None:
    clock = FrozenClock()
    with webhook_receiver(SECRET) as receiver, postgres_schema() as schema:
        settings = {
            "database_url": postgres_url(),
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
        }
        nodes = [
            build_services(
                make_settings(tmp_path / name, **settings),
                clock=clock,
                audit=RecordingAudit(),
                schema=schema,
            )
            for name in ("a", "b")
        ]
        try:
            upgrade(nodes[0].engine)
            race([lambda n=n: nodes[n % 2].alerts.send(emergency(n)) for n in range(20)])
            race([lambda node=node: node.outbox.drain(30) for node in nodes])
        finally:
            for node in nodes:
                node.close()

    numbers = sorted(int(posted["details"]["n"]) for posted in receiver.accepted)
    assert numbers == list(range(20))
    assert receiver.attempts == 20
