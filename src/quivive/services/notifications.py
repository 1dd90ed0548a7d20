"""Notifications driven by audit events: the audit trail already sees every change that matters.

``UserNotifier`` e-mails the account holder when a factor is added or removed, the password
changes or they sign in from a new browser (a recovery code being used is e-mailed by the sign-in
flow itself, with the count left).
``AdminThrottleWatch`` alerts the security officer when an administrator account starts being
throttled: someone is guessing the password that opens every account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from quivive.domain.alerts import Alert, AlertSink
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.users import ADMIN_ROLE, User, normalise_username
from quivive.errors import QuiviveError
from quivive.services.deliveries import DeliveryService
from quivive.services.mailer import EMAIL_SCHEDULE_S, Mailer
from quivive.services.notification_texts import user_email
from quivive.storage.users import UserRepository

log = logging.getLogger(__name__)

USER_NOTIFIED_ACTIONS = frozenset(
    {"factor.added", "factor.removed", "password.changed", "device.new", "emergency.granted"}
)
# The per-address delay on one account, and "password alone no longer suffices".
_ACCOUNT_KEY_KINDS = frozenset({"pair", "account"})
ADMIN_THROTTLED = "throttle.admin"
NOTICE_KIND = "email.account_notice"


def _find(users: UserRepository, subject: str | None) -> User | None:
    if not subject:
        return None
    try:
        return users.find_by_username(normalise_username(subject))
    except (QuiviveError, SQLAlchemyError) as exc:  # the audit record is what matters
        log.warning("notification skipped: %s", exc)
        return None


class UserNotifier:
    """An ``AuditSink`` decorator e-mailing the account holder about changes to their account."""

    def __init__(self, inner: AuditSink, deliveries: DeliveryService) -> None:
        self._inner = inner
        self._deliveries = deliveries

    def record(self, event: AuditEvent) -> None:
        self._inner.record(event)
        if event.action in USER_NOTIFIED_ACTIONS and event.outcome is Outcome.SUCCESS:
            self.notify(event.action, event)

    def notify(self, kind: str, event: AuditEvent) -> None:
        """E-mail ``kind`` (a key of ``notification_texts.SUBJECTS``) to the event's subject.

        Finding the address and writing the message happen when the delivery is sent: a sign-in
        from a new browser only queues it (one INSERT), and pays no account read for it.
        """
        if not event.subject:
            return
        notice = {
            "notice": kind,
            "username": event.subject,
            "at": event.at.isoformat(),
            "factor": event.details.get("factor"),
            "source_address": event.source_address,
        }
        self._deliveries.enqueue(NOTICE_KIND, notice)


class AccountNoticeDelivery:
    """The ``DeliveryHandler`` of queued account notices: the message is written when sent."""

    schedule = EMAIL_SCHEDULE_S

    def __init__(
        self, users: UserRepository, mailer: Mailer, *, establishment: str, language: str
    ) -> None:
        self._users = users
        self._mailer = mailer
        self._establishment = establishment
        self._language = language

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        user = _find(self._users, payload["username"])
        if user is None or not user.email:
            return None  # nobody to tell: done
        subject, body = user_email(
            self._language,
            self._establishment,
            payload["notice"],
            user=user.display_name or user.username,
            at=datetime.fromisoformat(payload["at"]),
            factor=payload.get("factor"),
            source_address=payload.get("source_address"),
        )
        return None if self._mailer.send(user.email, subject, body) else "smtp_failed"

    def describe(self, payload: Mapping[str, Any]) -> str:
        return str(payload["username"])


class AdminThrottleWatch:
    """An ``AuditSink`` decorator: an administrator account entering a delay raises an alert."""

    def __init__(self, inner: AuditSink, users: UserRepository, alerts: AlertSink) -> None:
        self._inner = inner
        self._users = users
        self._alerts = alerts

    def record(self, event: AuditEvent) -> None:
        self._inner.record(event)
        if event.action == "throttle.triggered" and (
            event.details.get("key_kind") in _ACCOUNT_KEY_KINDS
        ):
            self._check(event)

    def _check(self, event: AuditEvent) -> None:
        user = _find(self._users, event.subject)
        if user is None or ADMIN_ROLE not in user.roles:
            return
        self._alerts.send(
            Alert(
                kind=ADMIN_THROTTLED,
                at=event.at,
                summary=f"administrator account {user.username} throttled ({event.reason})",
                source_address=event.source_address,
                details={"account": user.username, "reason": event.reason or ""},
            )
        )
