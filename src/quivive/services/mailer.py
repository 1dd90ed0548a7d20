"""E-mail for security notifications only (never a factor: ASVS 6.3.5, ANS RIE FAQ)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

from quivive.config import SmtpSettings
from quivive.services.deliveries import DeliveryService

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0
EMAIL_KIND = "email"
# An SMTP server down for maintenance or a restart (ten minutes, an hour) delays a message, it
# does not lose it; after about two hours the attempt is given up and audited.
EMAIL_SCHEDULE_S = (0.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


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


class QueuedMailer:
    """The ``Mailer`` the application uses: ``send`` only queues (one INSERT), so a slow or
    absent SMTP server never holds a sign-in; ``MailDelivery`` sends from the queue."""

    def __init__(self, deliveries: DeliveryService) -> None:
        self._deliveries = deliveries

    def send(self, to: str, subject: str, body: str) -> bool:
        return self._deliveries.enqueue(EMAIL_KIND, {"to": to, "subject": subject, "body": body})


class MailDelivery:
    """The ``DeliveryHandler`` of queued e-mail."""

    schedule = EMAIL_SCHEDULE_S

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        sent = self._mailer.send(payload["to"], payload["subject"], payload["body"])
        return None if sent else "smtp_failed"  # the mailer logged why

    def describe(self, payload: Mapping[str, Any]) -> str:
        return str(payload["to"])
