"""Alerts for the security officer: something is happening that a person should look at now.

An alert is not an audit record (the trail keeps everything, alerts interrupt someone); the
events that raise one are audited as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # dotted, stable: "attack.spraying", "attack.stuffing", ...
    at: datetime
    summary: str  # one line for a human, English; never a password or secret
    source_address: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None:
        """Deliver (or queue) the alert; must not raise (log and carry on)."""
        ...
