"""Outbound deliveries (back-channel logout, webhook, e-mail) that survive a restart.

A request only enqueues: one small INSERT, so a slow SMTP server or a webhook receiver that is
down never holds a sign-in. One worker thread per process polls the due rows every few seconds
(and at once when this process enqueues, so the first attempt is still immediate), leases each
with a compare-and-set so that nodes sharing PostgreSQL never send the same one twice at once,
hands it to the handler of its kind, deletes it once delivered, and otherwise reschedules it per
the handler's schedule. After the last attempt the row stays as ``failed``, logged and audited
(``delivery.failed``), so that an alert that never arrived is itself visible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.storage.outbound_deliveries import ClaimedDelivery, OutboundDeliveryRepository
from quivive.storage.unit_of_work import after_commit

log = logging.getLogger(__name__)

# Other nodes' deliveries and retries are found by polling: a few seconds late at worst.
POLL_INTERVAL_S = 2.0
# A node that dies mid-send holds a delivery this long before another node retries it; longer
# than the slowest attempt (SMTP 10 s, HTTP 5 s) so that a live sender is never overtaken.
LEASE = timedelta(minutes=2)
PASS_LIMIT = 100  # then the worker looks at the stop flag again
CLOSE_TIMEOUT_S = 5.0
DRAIN_POLL_S = 0.02
MIN_WAIT_S = 0.01
# A failure stays counted (the /metrics gauge) for a week, long enough to be seen and looked into.
FAILED_KEPT = timedelta(days=7)


class DeliveryHandler(Protocol):
    """Sends one kind of delivery."""

    @property
    def schedule(self) -> tuple[float, ...]:
        """Delay before each attempt, the first included (usually 0); its length bounds them."""
        ...

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        """Make attempt number ``attempt`` (1-based); None when delivered, else why not."""
        ...

    def describe(self, payload: Mapping[str, Any]) -> str:
        """Whom the delivery was for, for the audit record when it is given up."""
        ...


class DeliveryService:
    def __init__(
        self,
        repository: OutboundDeliveryRepository,
        audit: AuditSink,
        clock: Clock,
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._poll = poll_interval_s
        self._handlers: dict[str, DeliveryHandler] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, handler: DeliveryHandler) -> None:
        """Handle ``kind`` in this process (the composition root registers each channel)."""
        self._handlers[kind] = handler

    def enqueue(self, kind: str, payload: Mapping[str, Any]) -> bool:
        """Store a delivery and wake the worker; False (and a log line) if it could not be
        stored, so that a notification never breaks the request that raised it."""
        try:
            self._repository.add(kind, payload, self._clock.now())
        except SQLAlchemyError:
            log.exception("outbound %s delivery could not be queued", kind)
            return False
        self.start()
        # Inside a unit of work the row is not visible to the worker until the unit commits.
        after_commit(self._wake.set)
        return True

    def start(self) -> None:
        """Start this process's worker (the web server does at start-up; enqueue does too)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="quivive-deliveries", daemon=True
                )
                self._thread.start()

    def deliver_due(self) -> int:
        """One pass: send what is due now (at most ``PASS_LIMIT``); how many were attempted."""
        attempted = 0
        while self._handlers and attempted < PASS_LIMIT:
            now = self._clock.now()
            # One at a time: each lease starts when its own attempt does, so a queue behind a
            # hanging SMTP server never outlives its leases and gets sent twice.
            claimed = self._repository.claim_due(self._handlers, now, now + LEASE, 1)
            if not claimed:
                break
            self._attempt(claimed[0])
            attempted += 1
        return attempted

    def drain(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Wait until nothing is due by the clock (tests, shutdown, the CLI); False on timeout.

        A retry scheduled later is not waited for: tests advance their clock, then drain again.
        """
        self.start()
        deadline = time.monotonic() + timeout
        while self._repository.count_due(self._handlers, self._clock.now()):
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(DRAIN_POLL_S)
        return True

    def count_failed(self) -> int:
        return self._repository.count_failed()

    def purge_failed(self) -> int:
        """Forget deliveries given up more than ``FAILED_KEPT`` ago (the audit trail keeps them);
        ``quivive client purge`` runs it."""
        return self._repository.delete_failed_before(self._clock.now() - FAILED_KEPT)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Give due deliveries ``timeout`` seconds, then stop; the rest wait in the database."""
        if self._thread is not None and not self._stop.is_set():  # closing twice waits once
            self.drain(timeout)
        with self._lock:
            self._stop.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: an enqueue during it wakes the next one
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
                wait = self._seconds_to_next()
            except Exception:  # the database away for a while must not end deliveries
                log.exception("outbound deliveries: pass failed, retrying")
                wait = self._poll
            self._wake.wait(wait)

    def _seconds_to_next(self) -> float:
        now = self._clock.now()
        due = self._repository.next_attempt_at(self._handlers, now)
        if due is None:
            return self._poll
        # The floor keeps a row lost to another node's claim from spinning this loop.
        return max(MIN_WAIT_S, min(self._poll, (due - now).total_seconds()))

    def _attempt(self, delivery: ClaimedDelivery) -> None:
        handler = self._handlers[delivery.kind]
        attempt = delivery.attempts + 1
        try:
            error = handler.deliver(delivery.payload, attempt)
        except Exception as exc:  # a broken handler must not stop the others' deliveries
            log.exception("outbound %s delivery raised", delivery.kind)
            error = type(exc).__name__
        if error is None:
            self._repository.delete(delivery.id)
        elif attempt < len(handler.schedule):
            retry_at = self._clock.now() + timedelta(seconds=handler.schedule[attempt])
            self._repository.reschedule(delivery.id, attempt, retry_at, error)
        else:
            self._repository.give_up(delivery.id, attempt, error)
            self._gave_up(delivery, handler, attempt, error)

    def _gave_up(
        self, delivery: ClaimedDelivery, handler: DeliveryHandler, attempts: int, error: str
    ) -> None:
        target = handler.describe(delivery.payload)
        log.warning(
            "outbound %s delivery to %s given up after %d attempts: %s",
            delivery.kind,
            target,
            attempts,
            error,
        )
        self._audit.record(
            AuditEvent(
                action="delivery.failed",
                outcome=Outcome.FAILURE,
                at=self._clock.now(),
                actor="system",
                subject=target,
                reason=error,
                details={"kind": delivery.kind, "attempts": str(attempts)},
            )
        )
