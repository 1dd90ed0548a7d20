"""Audit events: who did what, to whom, when, from where, with what outcome and why.

Never a password, code or secret: events carry identifiers and reason codes only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: str  # dotted, stable: "login.password", "session.revoked", "user.disabled", ...
    outcome: Outcome
    at: datetime
    actor: str | None = None  # who acted: a username, "cli", "system"
    subject: str | None = None  # whom it concerns: a username or a client id
    reason: str | None = None  # a stable reason code, e.g. "bad_credentials"
    source_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Append the event; must not raise for ordinary events (log and carry on)."""
        ...
