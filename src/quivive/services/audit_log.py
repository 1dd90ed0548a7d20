"""Audit sink writing events to the application log, until the hash-chained trail replaces it."""

from __future__ import annotations

import logging

from quivive.domain.audit import AuditEvent

log = logging.getLogger("quivive.audit")


class LoggingAuditSink:
    def record(self, event: AuditEvent) -> None:
        log.info(
            "%s %s",
            event.action,
            event.outcome.value,
            extra={
                "audit": {
                    "actor": event.actor,
                    "subject": event.subject,
                    "reason": event.reason,
                    "source_address": event.source_address,
                    "request_id": event.request_id,
                }
            },
        )
