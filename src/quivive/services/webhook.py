"""Webhook channel: alerts as a JSON POST, HMAC-SHA256 signed, retried with backoff.

The receiver checks ``X-Quivive-Signature: sha256=<hex>``, the HMAC-SHA256 under the shared
secret of ``<timestamp>.<raw body>``, where ``<timestamp>`` is the ``X-Quivive-Timestamp`` header
(Unix seconds). Signing the timestamp lets the receiver refuse replays: reject a timestamp more
than a few minutes away from its clock. Each attempt is signed afresh.

Documents wait in the outbound delivery queue (``services.deliveries``), not in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from quivive.services.deliveries import DeliveryService

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Quivive-Signature"
TIMESTAMP_HEADER = "X-Quivive-Timestamp"
WEBHOOK_KIND = "webhook"
# Six attempts over about half a minute: a receiver restarting is covered, a dead one is not
# retried forever (the failure is then logged and audited as ``delivery.failed``).
DEFAULT_BACKOFF_S: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
REQUEST_TIMEOUT_S = 5.0


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, presented: str, *, now: float, tolerance_s: float
) -> bool:
    """The receiver's side, for tests and for integrators to copy."""
    try:
        fresh = abs(now - int(timestamp)) <= tolerance_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), presented)


class WebhookSender:
    """Queues JSON documents for one URL, and is the ``DeliveryHandler`` that POSTs them."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        deliveries: DeliveryService,
        *,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = (secret or "").encode()
        self._deliveries = deliveries
        self.schedule = (0.0, *backoff_s)
        self._clock = clock

    def post(self, payload: Mapping[str, Any]) -> bool:
        """Queue ``payload``; never raises to the caller, False if it could not be queued."""
        return self._deliveries.enqueue(WEBHOOK_KIND, {"document": dict(payload)})

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        body = json.dumps(payload["document"], ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, timestamp, body)
        try:
            with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
                response = client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook attempt failed: %s", exc)
            return type(exc).__name__
        return None if response.is_success else f"http_status_{response.status_code}"

    def describe(self, payload: Mapping[str, Any]) -> str:
        return self._url
