"""The outbound delivery queue: deliveries survive a restart, and nodes share them exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import build_services
from quivive.domain.alerts import Alert
from quivive.protocols.oidc.logout import LOGOUT_TOKEN_TYP
from quivive.services.oidc_logout import BACKCHANNEL_KIND, Delivery
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from support.live_server import LiveServer
from support.oidc import Receiver
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


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``condition``: the worker runs on its own, nothing to drain from outside."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


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


def test_a_logout_token_queued_before_a_restart_is_signed_and_sent_after_it(
    tmp_path: Path,
) -> None:
    clock = FrozenClock()
    receiver = Receiver(statuses=[503])
    with LiveServer(receiver.app()) as server:
        delivery = Delivery("dpi", server.url + "/backchannel", "sub-alice", "sid-1")
        with running_services(tmp_path, clock=clock) as services:
            services.outbox.enqueue(BACKCHANNEL_KIND, delivery.payload())
            assert services.outbox.drain(30)  # the relying party answered 503
            with services.engine.connect() as conn:
                stored = conn.exec_driver_sql("SELECT payload FROM outbound_deliveries")
                assert "logout_token" not in stored.scalar_one()  # signed when sent only

        clock.advance(timedelta(seconds=5))
        with running_services(tmp_path, clock=clock) as restarted:
            with TestClient(create_app(restarted)):  # the web server's start-up starts the worker
                assert wait_for(lambda: len(receiver.received) == 2)
            [_refused, sent] = receiver.received
            claims = restarted.oidc.keys.verify(sent["logout_token"], typs=(LOGOUT_TOKEN_TYP,))

    assert (claims["aud"], claims["sub"], claims["sid"]) == ("dpi", "sub-alice", "sid-1")


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


class Flaky:
    """A handler that crashes once, then delivers."""

    schedule = (0.0, 60.0)

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        self.calls.append((payload["n"], attempt))
        if attempt == 1:
            raise RuntimeError("bug in a channel")
        return None

    def describe(self, payload: Mapping[str, Any]) -> str:
        return "flaky"


def test_a_crashing_handler_is_a_failed_attempt_retried_on_schedule(tmp_path: Path) -> None:
    clock, flaky = FrozenClock(), Flaky()
    with running_services(tmp_path, clock=clock) as services:
        services.outbox.register("test.flaky", flaky)
        services.outbox.enqueue("test.flaky", {"n": "one"})
        assert services.outbox.drain(10)
        clock.advance(timedelta(seconds=59))
        assert services.outbox.deliver_due() == 0  # not due yet
        clock.advance(timedelta(seconds=1))
        assert services.outbox.drain(10)

        assert flaky.calls == [("one", 1), ("one", 2)]
        assert services.outbox.count_failed() == 0
