"""Login throttling and attack detection, around each password attempt.

``admit`` before the password is checked (it counts the attempt up front), then ``failed`` or
``succeeded`` after. Detection runs on failures: password spraying (one password fingerprint
against many accounts) and credential stuffing (many accounts from one address) both hold the
source address for the curve's longest delay, raise one alert per window and are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.domain.alerts import Alert, AlertSink
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.throttling import (
    Counter,
    DetectionPolicy,
    KeyKind,
    ThrottleDecision,
    ThrottleKey,
    ThrottlePolicy,
    ThrottleStore,
    account_key,
    attempt_keys,
    code_key,
    password_fingerprint,
    source_key,
    worst,
)
from quivive.errors import NotFoundError
from quivive.services.mfa import Origin

# When a counter is too contended to write, the attempt is refused for this long (fail closed).
CONTENDED_WAIT = timedelta(seconds=1)
# Expired counters are deleted this often (on a failure), so a long attack cannot fill the table.
PURGE_EVERY = timedelta(minutes=10)
SPRAYING = "spraying"
STUFFING = "stuffing"
CODE_GUESSING = "code_guessing"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login attempt as the throttle saw it: its keys, what it reserved, and the answer."""

    account: str
    source: str
    source_address: str | None
    decision: ThrottleDecision
    reserved: tuple[tuple[ThrottleKey, Counter], ...] = ()


@dataclass(frozen=True, slots=True)
class CodeAttempt:
    """One guess at an account's one-time code, as the throttle saw it (see ``admit_code``)."""

    key: ThrottleKey
    source_address: str | None
    not_before: datetime | None = None  # refused until then
    exhausted: bool = False  # refused until a success with another factor or an administrator
    failures: int = 0  # consecutive failures counted so far, this guess included

    @property
    def allowed(self) -> bool:
        return self.not_before is None and not self.exhausted


@dataclass(frozen=True, slots=True)
class ThrottleEntry:
    """A row of ``quivive throttle list``."""

    key: ThrottleKey
    failures: int
    not_before: datetime | None
    password_alone_insufficient: bool


class LoginThrottle:
    def __init__(
        self,
        store: ThrottleStore,
        policy: ThrottlePolicy,
        detection: DetectionPolicy,
        *,
        fingerprint_key: bytes,
        audit: AuditSink,
        alerts: AlertSink,
        clock: Clock,
        policy_source: Callable[[ThrottlePolicy], ThrottlePolicy] | None = None,
    ) -> None:
        self._store = store
        self._base_policy = policy
        # The thresholds in force (console overrides, services.policies) applied to ``policy``.
        self._policy_source = policy_source
        self._detection = detection
        self._fingerprint_key = fingerprint_key
        self._audit = audit
        self._alerts = alerts
        self._clock = clock
        self._next_purge = clock.now()

    @property
    def policy(self) -> ThrottlePolicy:
        """The thresholds in force. Read once per public call and passed down: one call sees one
        policy, and the sign-in path asks the source once rather than once per key."""
        if self._policy_source is None:
            return self._base_policy
        return self._policy_source(self._base_policy)

    def admit(self, raw_username: str, source_address: str | None) -> Attempt:
        """May this attempt go ahead? If so it is counted now, before the password is checked."""
        now, policy = self._clock.now(), self.policy
        account, source = account_key(raw_username), source_key(source_address)
        keys = attempt_keys(account, source)
        # A key still waiting refuses its reservation, and then the store writes nothing at all
        # (the usual answer to a hammering client): one read and one transaction either way.
        changes = [(key, policy.reserve(key, now)) for key in keys]
        outcome = list(zip(keys, self._store.update_each(changes, now), strict=False))
        reserved = tuple((key, written.counter) for key, written in outcome if written.written)
        if len(reserved) < len(keys):
            # Waiting, or another request got there first and set a delay.
            waits = [
                policy.not_before(key, written.counter, now)
                for key, written in outcome
                if not written.written
            ]
            decision = ThrottleDecision(not_before=worst(waits) or now + CONTENDED_WAIT)
            return Attempt(account, source, source_address, decision, reserved)
        beyond = policy.beyond_limit(reserved[-1][1].failures)
        decision = ThrottleDecision(password_alone_insufficient=beyond)
        return Attempt(account, source, source_address, decision, reserved)

    def succeeded(self, attempt: Attempt) -> None:
        """The account's consecutive failures and this address's delay on it start over.

        The address only gets back the one attempt it reserved: an attacker holding one valid
        account must not be able to wipe their address's record by signing in between guesses.
        """
        source, pair, account = attempt_keys(attempt.account, attempt.source)
        now = self._clock.now()
        self._store.reset_then_refund([pair, account], source, now)

    def failed(self, attempt: Attempt, password: str) -> None:
        """The attempt (already counted) failed: audit thresholds crossed, look for attacks."""
        now, policy = self._clock.now(), self.policy
        for key, counter in attempt.reserved:
            if counter.failures == _threshold(policy, key.kind):
                self._record_trigger(key, attempt.account, attempt.source_address, now)
        self._detect(attempt, password, now, policy)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self._store.purge(now)

    # --- one-time codes after the password ----------------------------------------------------

    def admit_code(self, raw_username: str, source_address: str | None) -> CodeAttempt:
        """May this code be checked? If so the guess is counted now, before the check, so that
        parallel guesses cannot slip past the limit (the same reservation as for passwords)."""
        now, policy = self._clock.now(), self.policy
        key = code_key(account_key(raw_username))
        reserve = policy.reserve(key, now)

        def change(stored: Counter) -> Counter | None:
            # A spent limit refuses the reservation as read, as a delay does: nothing written.
            return None if policy.codes_exhausted(stored, now) else reserve(stored)

        # One read, in the transaction that writes (a separate read first cost a statement).
        [written] = self._store.update_each([(key, change)], now)
        counter = written.counter
        if written.written:
            return CodeAttempt(key, source_address, failures=counter.failures)
        if policy.codes_exhausted(counter, now):
            return CodeAttempt(key, source_address, exhausted=True, failures=counter.failures)
        wait = policy.not_before(key, counter, now) or now + CONTENDED_WAIT
        return CodeAttempt(key, source_address, not_before=wait)

    def code_succeeded(self, attempt: CodeAttempt) -> None:
        """A right code: the person is proven, their consecutive failures start over."""
        self._store.reset([attempt.key])

    def code_failed(self, attempt: CodeAttempt) -> None:
        """A wrong code (already counted): audit the delay starting and the limit reached."""
        now, policy = self._clock.now(), self.policy
        if attempt.failures == policy.pair.free_attempts:
            self._record_trigger(attempt.key, attempt.key.account, attempt.source_address, now)
        if attempt.failures == policy.max_failures:
            self._codes_exhausted(attempt, now)

    def _codes_exhausted(self, attempt: CodeAttempt, now: datetime) -> None:
        details = {"failures": str(attempt.failures), "account": attempt.key.account}
        summary = _SUMMARIES[CODE_GUESSING].format(
            account=attempt.key.account, failures=attempt.failures
        )
        self._alerts.send(
            Alert(
                kind=f"attack.{CODE_GUESSING}",
                at=now,
                summary=summary,
                source_address=attempt.source_address,
                details=details,
            )
        )
        self._audit.record(
            AuditEvent(
                action=f"attack.{CODE_GUESSING}",
                outcome=Outcome.SUCCESS,
                at=now,
                actor="system",
                subject=attempt.key.account,
                reason=CODE_GUESSING,
                source_address=attempt.source_address,
                details=details,
            )
        )

    def entries(self) -> list[ThrottleEntry]:
        now, policy = self._clock.now(), self.policy
        self._store.purge(now)
        rows = [(key, counter.live(now)) for key, counter in self._store.entries()]
        return [
            ThrottleEntry(
                key=key,
                failures=counter.failures,
                not_before=policy.not_before(key, counter, now),
                password_alone_insufficient=key.kind is KeyKind.ACCOUNT
                and counter.failures >= policy.max_failures,
            )
            for key, counter in rows
            if counter.failures or counter.blocked_until
        ]

    def clear(self, target: str, *, actor: str, origin: Origin | None = None) -> int:
        """Forget every counter of an account (USERNAME) or of an address; audited."""
        account, source = account_key(target), source_key(target)
        cleared = self._store.clear(account=account, source=source)
        if not cleared:
            raise NotFoundError(f"no throttle for {target!r}")
        where = origin or Origin()
        self._audit.record(
            AuditEvent(
                action="throttle.cleared",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=target[:256],
                source_address=where.source_address,
                user_agent=where.user_agent,
                request_id=where.request_id,
                details={"counters": str(cleared)},
            )
        )
        return cleared

    # --- detection -------------------------------------------------------------------------------

    def _detect(
        self, attempt: Attempt, password: str, now: datetime, policy: ThrottlePolicy
    ) -> None:
        window = self._detection.window
        fingerprint = password_fingerprint(self._fingerprint_key, password)
        sprayed = self._store.observe(SPRAYING, fingerprint, attempt.account, now, window)
        if sprayed >= self._detection.spraying_accounts:
            self._attack(SPRAYING, fingerprint, attempt, sprayed, now, policy)
        stuffed = self._store.observe(STUFFING, attempt.source, attempt.account, now, window)
        if stuffed >= self._detection.stuffing_accounts:
            self._attack(STUFFING, attempt.source, attempt, stuffed, now, policy)

    def _attack(
        self,
        kind: str,
        subject: str,
        attempt: Attempt,
        accounts: int,
        now: datetime,
        policy: ThrottlePolicy,
    ) -> None:
        source = ThrottleKey(KeyKind.SOURCE, source=attempt.source)
        until = now + policy.source.max_delay
        self._store.update(source, policy.block(source, until, now), now)
        if not self._store.first_in_window(kind, subject, now, self._detection.window):
            return  # already reported in this window; the source is held all the same
        action = f"attack.{kind}"
        details = {"accounts": str(accounts), "window": str(self._detection.window)}
        self._alerts.send(
            Alert(
                kind=action,
                at=now,
                summary=_SUMMARIES[kind].format(accounts=accounts, source=attempt.source),
                source_address=attempt.source_address,
                details=details,
            )
        )
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=Outcome.SUCCESS,
                at=now,
                actor="system",
                subject=attempt.account,
                reason=kind,
                source_address=attempt.source_address,
                details=details,
            )
        )

    def _record_trigger(
        self, key: ThrottleKey, account: str, source_address: str | None, now: datetime
    ) -> None:
        reason = "password_alone_insufficient" if key.kind is KeyKind.ACCOUNT else "delay_started"
        self._audit.record(
            AuditEvent(
                action="throttle.triggered",
                outcome=Outcome.SUCCESS,
                at=now,
                actor="system",
                subject=account,
                reason=reason,
                source_address=source_address,
                details={"key_kind": key.kind.value, "key": key.label[:256]},
            )
        )


def _threshold(policy: ThrottlePolicy, kind: KeyKind) -> int:
    """The failure count of ``kind``'s counter audited as ``throttle.triggered``."""
    return {
        KeyKind.PAIR: policy.pair.free_attempts,
        KeyKind.SOURCE: policy.source.free_attempts,
        KeyKind.ACCOUNT: policy.max_failures,
    }[kind]


_SUMMARIES = {
    SPRAYING: "password spraying: one password tried against {accounts} accounts; "
    "source {source} held",
    STUFFING: "credential stuffing: {accounts} accounts failed from {source}; source held",
    CODE_GUESSING: "code guessing: {failures} wrong one-time codes in a row on {account}, whose "
    "password is known; its codes are refused until an administrator clears it",
}
