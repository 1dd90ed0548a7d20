"""Alerts for the security officer, fanned out to the log, e-mail and the webhook.

Every channel is best effort and none may raise into the sign-in that raised the alert: e-mail
and webhook deliveries only queue (``services.deliveries``), in the database, so that an alert
survives a restart or an SMTP server down for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from quivive.domain.alerts import Alert, AlertSink
from quivive.services.mailer import Mailer
from quivive.services.notification_texts import alert_email
from quivive.services.webhook import WebhookSender

log = logging.getLogger(__name__)


class FanOutAlertSink:
    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self._sinks = tuple(sinks)

    def send(self, alert: Alert) -> None:
        for sink in self._sinks:
            try:
                sink.send(alert)
            except Exception:  # one broken channel must not silence the others
                log.exception("alert channel %s failed", type(sink).__name__)


class EmailAlertSink:
    """E-mail to the security officer (``alerts.email``), in the establishment's language;
    ``mailer`` queues (``QueuedMailer``)."""

    def __init__(self, mailer: Mailer, to: str, *, establishment: str, language: str) -> None:
        self._mailer = mailer
        self._to = to
        self._establishment = establishment
        self._language = language

    def send(self, alert: Alert) -> None:
        subject, body = alert_email(self._language, self._establishment, alert)
        self._mailer.send(self._to, subject, body)


class WebhookAlertSink:
    def __init__(self, sender: WebhookSender, establishment: str) -> None:
        self._sender = sender
        self._establishment = establishment

    def send(self, alert: Alert) -> None:
        self._sender.post(
            {
                "type": "alert",
                "kind": alert.kind,
                "at": alert.at.isoformat(),
                "summary": alert.summary,
                "source_address": alert.source_address,
                "details": dict(alert.details),
                "establishment": self._establishment,
            }
        )
