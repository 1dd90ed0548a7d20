"""Password authentication without user enumeration.

Unknown user, wrong password and disabled account all raise the same ``AuthenticationFailed`` after
the same amount of Argon2 work (ASVS 6.3.8): unknown users pay a dummy verify.
"""

from __future__ import annotations

from typing import NoReturn

from anyio import to_thread

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.users import User, normalise_username
from quivive.errors import AuthenticationFailed, ValidationError
from quivive.services.password_hashing import PasswordHasher
from quivive.storage.users import UserRepository


class PasswordAuthenticator:
    def __init__(
        self, users: UserRepository, hasher: PasswordHasher, audit: AuditSink, clock: Clock
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._audit = audit
        self._clock = clock

    async def authenticate(
        self, raw_username: str, password: str, *, source_address: str | None = None
    ) -> User:
        user = await to_thread.run_sync(self._lookup, raw_username)
        if user is None or user.password_hash is None:
            await self._hasher.dummy_verify(password)
            self._fail(raw_username, "unknown_user", source_address)
        if not await self._hasher.verify(user.password_hash, password):
            self._fail(user.username, "bad_password", source_address)
        if not user.is_active:
            # Checked after the verify so a disabled account costs the same time as the others.
            self._fail(user.username, "disabled", source_address)
        await to_thread.run_sync(self._after_success, user, password)
        return user

    def _lookup(self, raw_username: str) -> User | None:
        try:
            username = normalise_username(raw_username)
        except ValidationError:
            return None
        return self._users.find_by_username(username)

    def _after_success(self, user: User, password: str) -> None:
        if user.password_hash and self._hasher.needs_rehash(user.password_hash):
            # Parameters were raised since this hash was made: upgrade it now that we hold the
            # plaintext (NIST 800-63B, OWASP).
            self._users.set_password_hash(user.id, self._hasher.hash(password))
        self._users.record_login(user.id, self._clock.now())

    def _fail(self, subject: str, reason: str, source_address: str | None) -> NoReturn:
        # The reason is for the audit trail only; the caller shows one message for all of them.
        self._audit.record(
            AuditEvent(
                action="login.password",
                outcome=Outcome.FAILURE,
                at=self._clock.now(),
                subject=subject[:256],
                reason=reason,
                source_address=source_address,
            )
        )
        raise AuthenticationFailed()
