"""Prometheus metrics: one registry per composed application, fed from the audit and alert sinks.

The audit trail already sees every sign-in, throttle and token: counting there is a single hook
rather than a counter call beside every ``audit.record``. The registry is per instance (not
prometheus-client's global one) so that several applications in one process do not clash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from quivive.domain.alerts import Alert, AlertSink
from quivive.domain.audit import AuditEvent, AuditSink

# Sign-ins are tens to hundreds of milliseconds (Argon2id); the gate's checks are sub-millisecond.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AUDIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
SIGN_IN_PREFIX = "login."
CLIENT_CREDENTIALS = "client_credentials"
# Labelled children remembered by ``Metrics.child``; clients choose some label values (an HTTP
# method's name), so the memory stays bounded whatever they send.
MAX_CACHED_CHILDREN = 512

Labelled = TypeVar("Labelled", Counter, Histogram)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.sign_ins = Counter(
            "quivive_sign_ins",
            "Sign-in steps by factor and outcome",
            ["factor", "outcome"],
            registry=registry,
        )
        self.throttles = Counter(
            "quivive_throttles",
            "Throttles triggered, by counter kind (pair, source, account)",
            ["kind"],
            registry=registry,
        )
        self.alerts = Counter(
            "quivive_alerts", "Alerts raised for the security officer", ["kind"], registry=registry
        )
        self.tokens = Counter(
            "quivive_tokens_issued",
            "OpenID Connect tokens issued, by grant (user or client_credentials)",
            ["grant"],
            registry=registry,
        )
        self.audit_events = Counter(
            "quivive_audit_events",
            "Audit records appended, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self.audit_append = Histogram(
            "quivive_audit_append_seconds",
            "Time to append one audit record",
            buckets=AUDIT_BUCKETS,
            registry=registry,
        )
        self.requests = Histogram(
            "quivive_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Labelled, *labels: str) -> Labelled:
        """``metric.labels(*labels)``, remembered: ``labels`` checks its values and takes a lock
        at every call, a few percent of a fast path's request (token endpoint, /api/verify)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if len(self._children) < MAX_CACHED_CHILDREN:
                self._children[key] = found
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def watch_failed_deliveries(self, count_failed: Callable[[], int]) -> None:
        """Deliveries given up and kept in the database, read at each scrape: unlike a counter,
        it survives restarts, so "an alert never reached the officer" can itself raise an alert."""

        def read() -> float:
            try:
                return float(count_failed())
            except SQLAlchemyError:  # the database away: /readyz says so, /metrics still answers
                return math.nan

        gauge = Gauge(
            "quivive_outbound_deliveries_failed",
            "Outbound deliveries (alerts, e-mails, logout tokens) given up after the last attempt",
            registry=self.registry,
        )
        gauge.set_function(read)

    def count(self, event: AuditEvent) -> None:
        outcome = event.outcome.value
        self.child(self.audit_events, event.action, outcome).inc()
        if event.action.startswith(SIGN_IN_PREFIX):
            self.child(self.sign_ins, event.action.removeprefix(SIGN_IN_PREFIX), outcome).inc()
        elif event.action == "throttle.triggered":
            self.child(self.throttles, event.details.get("key_kind", "")).inc()
        elif event.action == "oidc.token" and outcome == "success":
            grant = event.details.get("detail")
            self.child(self.tokens, grant if grant == CLIENT_CREDENTIALS else "user").inc()


class MeteredAuditSink:
    """An ``AuditSink`` decorator counting each event (``ChainedAuditSink`` times the appends)."""

    def __init__(self, inner: AuditSink, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def record(self, event: AuditEvent) -> None:
        self._inner.record(event)
        self._metrics.count(event)


class MeteredAlertSink:
    def __init__(self, inner: AlertSink, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def send(self, alert: Alert) -> None:
        self._metrics.child(self._metrics.alerts, alert.kind).inc()
        self._inner.send(alert)
