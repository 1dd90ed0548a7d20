"""Password authentication without user enumeration.

Unknown user, wrong password and disabled account all raise the same ``AuthenticationFailed`` after
the same amount of Argon2 work (ASVS 6.3.8): unknown users pay a dummy verify.

With a ``LoginThrottle``, each attempt is admitted (and counted) before any password is checked:
an early attempt raises ``LoginThrottled``, and an account past the consecutive-failure limit
raises ``PasswordAloneInsufficient`` unless a second factor is checked along with the password.
Both depend only on the name typed and the address, never on whether the account exists.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import NoReturn, Protocol, TypeVar

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.passwords import Blocklist, is_blocklisted
from quivive.domain.throttling import LoginThrottled, PasswordAloneInsufficient
from quivive.domain.users import User, normalise_username
from quivive.errors import AuthenticationFailed, ValidationError
from quivive.services.password_hashing import PasswordHasher
from quivive.services.throttling import Attempt, LoginThrottle
from quivive.storage.users import UserRepository

T = TypeVar("T")

# Stored password hashes whose blocklist verdict is remembered (a few hundred bytes each).
BLOCKLIST_VERDICTS_KEPT = 4096


class FactorCheck(Protocol):
    """A factor checked together with the password (TOTP code, ...), once the password is right.

    Past the failure limit a password alone is refused, but password + second factor still opens
    the account: the real user gets in while the attacker, without the factor, does not. Runs in
    the sign-in's worker thread (synchronous).
    """

    def verify(self, user: User) -> bool: ...


class PasswordAuthenticator:
    """Checks a password sign-in from admission to success in one trip to the hasher's pool.

    A sign-in is admission (the throttle's reservation and the user lookup, one unit of work),
    the Argon2id verify, then the success (refund, last-login mark and the caller's ``then``,
    another unit), or the failure's bookkeeping: all in one worker thread of the hasher, where it
    took three trips from the event loop (each ~0.15 ms of CPU here). Argon2 itself stays capped
    at the hasher's ``max_workers`` at a time.
    """

    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        audit: AuditSink,
        clock: Clock,
        *,
        throttle: LoginThrottle | None = None,  # None: no throttling (unit tests only)
        pseudonym_key: bytes | None = None,
        blocklist: Blocklist | None = None,  # None: the posture report's mark is not kept
        # Opens one transaction for a step's repository calls (storage.unit_of_work).
        unit_of_work: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self._throttle = throttle
        self._pseudonym_key = pseudonym_key
        self._verdicts = None if blocklist is None else BlocklistVerdicts(blocklist)
        self._unit_of_work = unit_of_work

    async def authenticate(
        self,
        raw_username: str,
        password: str,
        *,
        source_address: str | None = None,
        second_factor: FactorCheck | None = None,
    ) -> User:
        user, _ = await self.authenticate_then(
            raw_username,
            password,
            _nothing,
            source_address=source_address,
            second_factor=second_factor,
        )
        return user

    async def authenticate_then(
        self,
        raw_username: str,
        password: str,
        then: Callable[[User], T],
        *,
        source_address: str | None = None,
        second_factor: FactorCheck | None = None,
    ) -> tuple[User, T]:
        """``authenticate``, then ``then(user)`` (synchronous) in the same worker thread and in
        the unit of work that records the success: the sign-in route starts its session there.
        ``then`` runs only for a successful attempt; the success and what ``then`` writes are
        committed together, or not at all."""
        sign_in = partial(
            self._sign_in, raw_username, password, then, source_address, second_factor
        )
        return await self._hasher.run(sign_in)

    def _sign_in(
        self,
        raw_username: str,
        password: str,
        then: Callable[[User], T],
        source_address: str | None,
        second_factor: FactorCheck | None,
    ) -> tuple[User, T]:
        """Admit, verify, check, then succeed; raise (once recorded) unless it succeeds."""
        attempt, user = self._admit(raw_username, source_address, second_factor)
        if user is None or user.password_hash is None:
            self._hasher.dummy_verify_sync(password)
            self._fail(attempt, password, raw_username, user, "unknown_user", source_address)
        if not self._hasher.verify_sync(user.password_hash, password):
            self._fail(attempt, password, raw_username, user, "bad_password", source_address)
        if not user.is_active:
            # Checked after the verify so a disabled account costs the same time as the others.
            self._fail(attempt, password, raw_username, user, "disabled", source_address)
        if second_factor is not None and not second_factor.verify(user):
            self._fail(attempt, password, raw_username, user, "second_factor", source_address)
        # One unit of work: the refund, the last-login mark and whatever ``then`` writes (the
        # session, its history row) are committed together, or not at all.
        with self._unit_of_work():
            self._after_success(user, password, attempt)
            return user, then(user)

    def _admit(
        self, raw_username: str, source_address: str | None, second_factor: FactorCheck | None
    ) -> tuple[Attempt | None, User | None]:
        """Count the attempt, then read the user: one transaction for both."""
        if self._throttle is None:
            return None, self._lookup(raw_username)
        with self._unit_of_work():
            attempt = self._throttle.admit(raw_username, source_address)
            user = self._lookup(raw_username) if attempt.decision.allowed else None
        decision = attempt.decision
        if not decision.allowed:
            # Refused before any account was read: the audit still names it, if it exists.
            self._record_failure(raw_username, None, "throttled", source_address, False)
            raise LoginThrottled(decision.seconds_to_wait(self._clock.now()))
        if decision.password_alone_insufficient and second_factor is None:
            self._record_failure(raw_username, user, "password_alone_insufficient", source_address)
            raise PasswordAloneInsufficient()
        return attempt, user

    def _lookup(self, raw_username: str) -> User | None:
        try:
            username = normalise_username(raw_username)
        except ValidationError:
            return None
        return self._users.find_by_username(username)

    def _after_success(self, user: User, password: str, attempt: Attempt | None) -> None:
        if user.password_hash and self._hasher.needs_rehash(user.password_hash):
            # Parameters were raised since this hash was made: upgrade it now that we hold the
            # plaintext (NIST 800-63B, OWASP).
            self._users.set_password_hash(user.id, self._hasher.hash(password))
        flagged = None
        if self._verdicts is not None and user.password_hash is not None:
            flagged = self._verdicts.flagged(user.password_hash, password)
        self._users.record_login(user.id, self._clock.now(), password_blocklisted=flagged)
        if self._throttle is not None and attempt is not None:
            self._throttle.succeeded(attempt)

    def _fail(
        self,
        attempt: Attempt | None,
        password: str,
        raw_username: str,
        user: User | None,
        reason: str,
        source_address: str | None,
    ) -> NoReturn:
        if self._throttle is not None and attempt is not None:
            self._throttle.failed(attempt, password)
        self._record_failure(raw_username, user, reason, source_address)
        raise AuthenticationFailed()

    def _record_failure(
        self,
        raw_username: str,
        user: User | None,
        reason: str,
        source_address: str | None,
        looked_up: bool = True,
    ) -> None:
        """Audit a refused attempt; ``user`` is the account found (None: none), unless the
        attempt was refused before any lookup (``looked_up`` false), which is done here then."""
        # The reason is for the audit trail only; the caller shows one message for all of them.
        known = user if looked_up else self._lookup(raw_username)
        details = {} if known else self._pseudonym(raw_username)
        self._audit.record(
            AuditEvent(
                action="login.password",
                outcome=Outcome.FAILURE,
                at=self._clock.now(),
                subject=known.username if known else None,
                reason=reason,
                source_address=source_address,
                details=details,
            )
        )

    def _pseudonym(self, raw_username: str) -> dict[str, str]:
        """A keyed digest of a name that matches no account, never the name itself.

        People type their password into the username field; the audit trail must not keep it
        (REQUIREMENTS, Audit). The digest still lets the security officer see that the same
        unknown name was tried again and again.
        """
        if self._pseudonym_key is None:
            return {}
        digest = hmac.new(self._pseudonym_key, raw_username.encode("utf-8", "replace"), "sha256")
        return {"unknown_name": digest.hexdigest()[:20]}


def _nothing(_user: User) -> None:
    return None


class BlocklistVerdicts:
    """Whether the password behind a stored hash is on the blocklist, remembered per hash.

    The posture report's mark is refreshed at every sign-in, but its answer only changes when the
    password does, and the hash changes with it (a new salt each time): looking the same password
    up again at each of a nurse's sign-ins of the day bought nothing. A lookup in the shipped list
    opens and searches files, a sixth of a sign-in's CPU outside Argon2 (bench/, password-login).
    Only hashes and booleans are kept, never a password.
    """

    def __init__(self, blocklist: Blocklist, *, kept: int = BLOCKLIST_VERDICTS_KEPT) -> None:
        self._blocklist = blocklist
        self._kept = kept
        self._verdicts: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()  # sign-ins finish in several worker threads at once

    def flagged(self, password_hash: str, password: str) -> bool:
        """``password`` is the one ``password_hash`` was just verified against."""
        with self._lock:
            verdict = self._verdicts.get(password_hash)
            if verdict is not None:
                self._verdicts.move_to_end(password_hash)
                return verdict
        verdict = is_blocklisted(password, self._blocklist)
        with self._lock:
            self._verdicts[password_hash] = verdict
            if len(self._verdicts) > self._kept:
                self._verdicts.popitem(last=False)  # the least recently signed-in hash
        return verdict
