"""Security notifications through a real SMTP conversation, with a local aiosmtpd sink."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.config import SmtpSettings
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.mailer import NullMailer, SmtpMailer, mailer_for
from quivive.web.app import create_app
from support.quivive import RecordingAudit, running_services


class Inbox(Sink):
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def smtp_settings(port: int, host: str | None = "127.0.0.1") -> SmtpSettings:
    return SmtpSettings(host, port, "sso@hopital.example", None, None, starttls=False)


def test_unconfigured_smtp_sends_nothing() -> None:
    mailer = mailer_for(smtp_settings(25, host=None))

    assert isinstance(mailer, NullMailer)
    assert mailer.send("alice@example.org", "subject", "body") is False


def test_a_message_reaches_the_server(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox

    sent = SmtpMailer(smtp_settings(port)).send("alice@example.org", "Hello", "Body text")

    assert sent
    assert len(handler.messages) == 1
    envelope = handler.messages[0]
    assert envelope.rcpt_tos == ["alice@example.org"]
    message = message_from_bytes(envelope.content or b"")
    assert message["Subject"] == "Hello"
    assert message["From"] == "sso@hopital.example"


def test_an_unreachable_server_does_not_raise() -> None:
    assert SmtpMailer(smtp_settings(free_port())).send("a@example.org", "s", "b") is False


def test_using_a_recovery_code_is_emailed_and_audited(
    inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    handler, port = inbox
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_sender": "sso@hopital.example",
        "smtp_starttls": "false",
    }
    audit = RecordingAudit()
    password = "correct horse battery staple 42"
    with running_services(tmp_path, clock=FrozenClock(), audit=audit, settings=settings) as svc:
        user = svc.accounts.create(
            NewAccount("alice", password, email="alice@example.org"), actor="test"
        )
        pending = svc.totp.begin(user.id, "alice")
        code_now = totp.code_at(pending.secret, totp.step_at(svc.clock.now()))
        assert svc.totp.confirm(user.id, code_now, "Phone")
        recovery = svc.recovery_codes.generate(user.id)[3]
        with TestClient(create_app(svc), base_url="http://localhost:8080") as client:
            page = client.get("/login")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/login", data={"csrf_token": token, "username": "alice",
                                        "password": password})  # fmt: skip
            done = client.post(
                "/login/second-factor/recovery-code",
                data={"csrf_token": token, "code": recovery, "next": "/account"},
                follow_redirects=False,
            )

    assert done.status_code == 303
    assert ("login.recovery_code", "success") in audit.actions()
    assert len(handler.messages) == 1
    body = (handler.messages[0].content or b"").decode()
    assert "recovery code was used" in body
    assert recovery not in body
