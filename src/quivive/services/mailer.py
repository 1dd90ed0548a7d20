"""E-mail for security notifications only (never a factor: ASVS 6.3.5, ANS RIE FAQ)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from quivive.config import SmtpSettings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> bool:
        """Send a plain-text message; False (and a log line) when it could not be sent."""
        ...


class NullMailer:
    """No SMTP server configured: nothing is sent."""

    def send(self, to: str, subject: str, body: str) -> bool:
        return False


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        if settings.host is None or settings.sender is None:
            raise ValueError("SmtpMailer needs smtp.host and smtp.sender")
        self._settings = settings
        self._host = settings.host
        self._sender = settings.sender

    def send(self, to: str, subject: str, body: str) -> bool:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            self._deliver(message)
        except (OSError, smtplib.SMTPException) as exc:
            # A notification must never block a sign-in: log it and carry on.
            log.warning("security notification not sent: %s", exc)
            return False
        return True

    def _deliver(self, message: EmailMessage) -> None:
        settings = self._settings
        with smtplib.SMTP(self._host, settings.port, timeout=SMTP_TIMEOUT_S) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)


def mailer_for(settings: SmtpSettings) -> Mailer:
    if settings.host is None or settings.sender is None:
        return NullMailer()
    return SmtpMailer(settings)
