"""Recognising the browser a user signs in from, to tell them about a sign-in from a new one.

The device id is a random 256-bit value in a long-lived HttpOnly cookie; only its SHA-256 is
stored, per user. A sign-in carrying no id known for that user is audited as ``device.new`` (and
``services.notifications.UserNotifier`` e-mails the user), except for the user's very first
device: a new account has nothing to compare with, and nobody wants an e-mail about it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.users import User
from quivive.services.mfa import Origin
from quivive.storage.known_devices import KnownDeviceRepository

DEVICE_ID_BYTES = 32  # 256 bits: not guessable, so the hash needs no salt or key
# Each browser a user clears cookies in adds one; the oldest are forgotten past this many.
MAX_DEVICES_PER_USER = 50
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def device_hash(user_id: int, device_id: str) -> str:
    return hashlib.sha256(f"{user_id}:{device_id}".encode()).hexdigest()


class DeviceRecognition:
    def __init__(self, devices: KnownDeviceRepository, audit: AuditSink, clock: Clock) -> None:
        self._devices = devices
        self._audit = audit
        self._clock = clock

    def signed_in(self, user: User, presented: str | None, origin: Origin) -> str:
        """The device id the browser should keep: ``presented`` if well-formed, else a new one."""
        device_id = presented if presented and _DEVICE_ID.fullmatch(presented) else None
        device_id = device_id or secrets.token_urlsafe(DEVICE_ID_BYTES)
        digest = device_hash(user.id, device_id)
        known, count = self._devices.lookup(user.id, digest)
        if known:
            return device_id
        added = self._devices.add(user.id, digest, self._clock.now(), keep=MAX_DEVICES_PER_USER)
        if added and count > 0:  # the very first device has nothing to compare with
            self._record(user, origin)
        return device_id

    def _record(self, user: User, origin: Origin) -> None:
        self._audit.record(
            AuditEvent(
                action="device.new",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=user.username,
                subject=user.username,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
            )
        )
