"""Alert sink writing to the application log, until e-mail and webhook channels arrive."""

from __future__ import annotations

import logging

from quivive.domain.alerts import Alert

log = logging.getLogger("quivive.alerts")


class LoggingAlertSink:
    def send(self, alert: Alert) -> None:
        log.warning(
            "ALERT %s: %s",
            alert.kind,
            alert.summary,
            extra={"alert": {"source_address": alert.source_address, **alert.details}},
        )
