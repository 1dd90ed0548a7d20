"""A local SMTP server (aiosmtpd) keeping what it receives, for notification tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP, Envelope, Session


class SmtpInbox(Sink):
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages to ``address``, headers decoded (RFC 2047)."""
        return [
            message_from_bytes(envelope.content or b"", _class=EmailMessage, policy=policy.default)
            for envelope in self.envelopes
            if address in envelope.rcpt_tos
        ]

    def settings(self) -> dict[str, str]:
        """``running_services`` overrides sending through this inbox."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": str(self.port),
            "smtp_sender": "sso@hopital.example",
            "smtp_starttls": "false",
        }


def body_of(message: EmailMessage) -> str:
    return str(message.get_content())


@contextmanager
def smtp_inbox(port: int = 0) -> Iterator[SmtpInbox]:
    """An SMTP sink on ``port`` (a free one by default; the same one again = a server restarted)."""
    inbox = SmtpInbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        inbox.port = int(sock.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
