"""Webhook channel: alerts as a JSON POST, HMAC-SHA256 signed, retried with backoff.

The receiver checks ``X-Quivive-Signature: sha256=<hex>``, the HMAC-SHA256 under the shared
secret of ``<timestamp>.<raw body>``, where ``<timestamp>`` is the ``X-Quivive-Timestamp`` header
(Unix seconds). Signing the timestamp lets the receiver refuse replays: reject a timestamp more
than a few minutes away from its clock. Each attempt is signed afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from quivive.services.outbox import Outbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Quivive-Signature"
TIMESTAMP_HEADER = "X-Quivive-Timestamp"
# Five attempts over about half a minute: a receiver restarting is covered, a dead one is not
# retried forever while the queue fills up behind it.
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
    """POSTs JSON documents to one URL from the outbox's thread; never raises to the caller."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        outbox: Outbox,
        *,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = (secret or "").encode()
        self._outbox = outbox
        self._backoff = tuple(backoff_s)
        self._clock = clock

    def post(self, payload: Mapping[str, Any]) -> bool:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        return self._outbox.submit(lambda stop: self._deliver(body, stop))

    def _deliver(self, body: bytes, stop: threading.Event) -> None:
        attempts = 0
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            for delay in (*self._backoff, None):
                attempts += 1
                if self._attempt(client, body):
                    return
                if delay is None or stop.wait(delay):
                    break
        log.warning("webhook gave up after %d attempts: %s", attempts, self._url)

    def _attempt(self, client: httpx.Client, body: bytes) -> bool:
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, timestamp, body)
        try:
            response = client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook attempt failed: %s", exc)
            return False
        return response.is_success
