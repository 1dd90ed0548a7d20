"""Login throttling: counters, the delay curve and the decisions drawn from them (no I/O).

Three counters per attempt, each with its own job:

- ``pair`` (account, address): the growing delay. An attacker hammering an account from one
  address waits longer and longer; the real user, from an address that is not failing, does not.
- ``source`` (address, any account): catches the attacker who moves from account to account.
- ``account`` (any address): consecutive failures, never forgotten until a success or an
  administrator clears it. NIST SP 800-63B-4 (rate limiting) caps consecutive failed attempts on
  one account at 100; past that line a password alone no longer suffices (a second factor or an
  administrator must step in). It sets no delay, so it never locks the real user out by itself.
- ``codes`` (account): guesses at the account's one-time codes (TOTP, recovery codes), made by
  whoever already holds its password. The pair curve's delay applies, and after the NIST limit of
  100 consecutive failures codes are refused until a success or an administrator clears it: a
  6-digit code must not be guessable at leisure. The real user still gets in with a passkey.

Delays are "next attempt not before T": an early attempt is refused at once, the server never
sleeps. Counters are kept for the account name as typed (normalised), whether or not it exists, so
throttling reveals nothing about which accounts exist.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import ipaddress
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from quivive.domain.users import MAX_USERNAME_LENGTH, normalise_username
from quivive.errors import AuthenticationFailed, ValidationError

# The first delay once the free attempts are used up; it then doubles up to the curve's cap.
FIRST_DELAY = timedelta(seconds=1)
# Past this many doublings the cap has long been reached (and 2**n would overflow timedelta).
_MAX_DOUBLINGS = 40
# An IPv6 client usually holds a whole /64: throttling single addresses in it would be useless.
IPV6_SOURCE_PREFIX = 64
UNKNOWN_SOURCE = "unknown"
# Parsing an address costs more than the rest of the throttle's arithmetic (~50 us for IPv6), and a
# node sees the same few thousand addresses over and over. Bounded so that an attacker rotating
# addresses only evicts entries; longer strings (never a plain address) are not kept at all.
SOURCE_KEY_CACHE_SIZE = 4096
_SOURCE_KEY_CACHED_LENGTH = 64


class KeyKind(enum.StrEnum):
    ACCOUNT = "account"
    PAIR = "pair"
    SOURCE = "source"
    CODES = "codes"


@dataclass(frozen=True, slots=True, order=True)
class ThrottleKey:
    kind: KeyKind
    account: str = ""  # normalised account name ("" for a source key)
    source: str = ""  # source key, see ``source_key`` ("" for an account key)

    @property
    def label(self) -> str:
        if self.kind is KeyKind.PAIR:
            return f"{self.account} from {self.source}"
        return self.account or self.source


def account_key(raw_username: str) -> str:
    """The account a failure is counted against: the normalised name, existing or not."""
    try:
        return normalise_username(raw_username)
    except ValidationError:
        # Still counted (an attacker must not escape by sending junk), under a stable form.
        text = unicodedata.normalize("NFKC", raw_username).strip().casefold()
        return text[:MAX_USERNAME_LENGTH] or "(empty)"


def source_key(address: str | None) -> str:
    """The address a failure is counted against: IPv4 as is, IPv6 as its /64 network."""
    if not address:
        return UNKNOWN_SOURCE
    if len(address) > _SOURCE_KEY_CACHED_LENGTH:
        return _source_key(address)
    return _cached_source_key(address)


def _source_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_SOURCE_PREFIX}", strict=False))
    return str(parsed)


_cached_source_key = functools.lru_cache(maxsize=SOURCE_KEY_CACHE_SIZE)(_source_key)


def attempt_keys(account: str, source: str) -> tuple[ThrottleKey, ThrottleKey, ThrottleKey]:
    """(source, pair, account): the order in which an attempt reserves them."""
    return (
        ThrottleKey(KeyKind.SOURCE, source=source),
        ThrottleKey(KeyKind.PAIR, account=account, source=source),
        ThrottleKey(KeyKind.ACCOUNT, account=account),
    )


def code_key(account: str) -> ThrottleKey:
    """The counter of guesses at ``account``'s one-time codes (``account``: its normalised name)."""
    return ThrottleKey(KeyKind.CODES, account=account)


@dataclass(frozen=True, slots=True)
class Counter:
    failures: int = 0
    last_failure_at: datetime | None = None
    blocked_until: datetime | None = None  # set by attack detection, on top of the curve
    expires_at: datetime | None = None  # forgotten from then on; None: kept until cleared

    def live(self, now: datetime) -> Counter:
        """This counter, or an empty one once it has expired."""
        return Counter() if self.expires_at is not None and self.expires_at <= now else self


# Given the stored counter, the counter to write instead, or None to leave it (refused).
Change = Callable[[Counter], "Counter | None"]


@dataclass(frozen=True, slots=True)
class Written:
    """Outcome of a compare-and-set: ``counter`` is the new value if written, else the current."""

    written: bool
    counter: Counter


def refused_as_read(
    changes: Sequence[tuple[ThrottleKey, Change]], stored: Mapping[ThrottleKey, Counter]
) -> list[Written] | None:
    """``ThrottleStore.update_each``'s answer when a change refuses a counter as read (every key
    unwritten, with its counter), or None when none does and the writes may go ahead."""
    counters = [stored.get(key, Counter()) for key, _ in changes]
    if all(
        change(counter) is not None for (_, change), counter in zip(changes, counters, strict=True)
    ):
        return None
    return [Written(False, counter) for counter in counters]


def refund(now: datetime) -> Change:
    """Take back one reservation (the attempt succeeded): failures only ever count failures.

    A counter at zero, or expired, is left as it is. The same for every key and policy, so a store
    may run it as one statement (``storage.throttle_sql``: a decrement, no read first).
    """

    def change(stored: Counter) -> Counter | None:
        current = stored.live(now)
        return replace(current, failures=current.failures - 1) if current.failures else None

    return change


class ThrottleStore(Protocol):
    """Counters shared by every node. ``update`` is an atomic compare-and-set: of N concurrent
    updates each sees the value the previous one wrote, so none can slip past a limit."""

    def read(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, Counter]: ...

    def update(self, key: ThrottleKey, change: Change, now: datetime) -> Written: ...

    def update_each(
        self, changes: Sequence[tuple[ThrottleKey, Change]], now: datetime
    ) -> list[Written]:
        """``update`` each key in order, stopping after the first one not written; in one
        transaction where it can (each is still its own compare-and-set).

        The counters are read together first: if a change refuses any of them as they stand,
        nothing is written and every key comes back unwritten with its counter (an attempt
        refused by one key must not take a place under the others)."""
        ...

    def reset(self, keys: Sequence[ThrottleKey]) -> None: ...

    def reset_then_refund(
        self, keys: Sequence[ThrottleKey], key: ThrottleKey, now: datetime
    ) -> None:
        """``reset(keys)``, then take back one failure from ``key`` as ``refund(now)`` does, in
        one transaction where it can. Atomic like ``update``: N refunds take back N failures."""
        ...

    def clear(self, *, account: str | None = None, source: str | None = None) -> int:
        """Delete every counter naming this account or this source; return how many."""
        ...

    def entries(self) -> list[tuple[ThrottleKey, Counter]]: ...

    def purge(self, now: datetime) -> int:
        """Delete expired counters and observations (Redis expires them by itself)."""
        ...

    def observe(
        self, topic: str, subject: str, member: str, now: datetime, window: timedelta
    ) -> int:
        """Note ``member`` under (topic, subject); return the distinct members seen within
        ``window`` (e.g. accounts tried with one password)."""
        ...

    def first_in_window(self, topic: str, subject: str, now: datetime, window: timedelta) -> bool:
        """True for exactly one caller per (topic, subject) and window: deduplicates alerts."""
        ...


@dataclass(frozen=True, slots=True)
class DelayCurve:
    """No delay for ``free_attempts`` failures, then ``first_delay``, doubling up to the cap."""

    free_attempts: int
    max_delay: timedelta
    first_delay: timedelta = FIRST_DELAY

    def delay_after(self, failures: int) -> timedelta:
        doublings = failures - self.free_attempts
        if doublings < 0:
            return timedelta(0)
        if doublings >= _MAX_DOUBLINGS:
            return self.max_delay
        return min(self.first_delay * (1 << doublings), self.max_delay)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    pair: DelayCurve
    source: DelayCurve
    max_failures: int  # consecutive failures on an account before a password alone is refused
    forget_after: timedelta  # a pair or source counter quiet for this long starts over

    def not_before(self, key: ThrottleKey, counter: Counter, now: datetime) -> datetime | None:
        """When the next attempt under ``key`` may be made, or None if it may be made now."""
        counter = counter.live(now)
        times = [counter.blocked_until] if counter.blocked_until else []
        curve = self._curve(key.kind)
        delay = curve.delay_after(counter.failures) if curve is not None else timedelta(0)
        # A free attempt never waits. Without this check, a parallel attempt that reserved its
        # place a moment after this one read the clock (so its last_failure_at is "later" than
        # our now) made us wait for nothing: spurious 429s for a ward behind one NAT address.
        if delay > timedelta(0) and counter.last_failure_at is not None:
            times.append(counter.last_failure_at + delay)
        latest = max(times, default=None)
        return latest if latest is not None and latest > now else None

    def reserve(self, key: ThrottleKey, now: datetime) -> Change:
        """Count one more failure up front, unless the key is still waiting.

        Counting before the password is checked (and undoing it on success) is what keeps
        parallel guesses from slipping through: each one has taken its place before it runs.
        """

        def change(stored: Counter) -> Counter | None:
            if self.not_before(key, stored, now) is not None:
                return None
            current = stored.live(now)
            return Counter(
                failures=current.failures + 1,
                last_failure_at=now,
                blocked_until=current.blocked_until,
                expires_at=self._expiry(key, now, current.blocked_until),
            )

        return change

    def block(self, key: ThrottleKey, until: datetime, now: datetime) -> Change:
        """Hold the key until ``until`` at least (attack detected)."""

        def change(stored: Counter) -> Counter:
            current = stored.live(now)
            blocked = max(until, current.blocked_until or until)
            last = current.last_failure_at or now
            return replace(
                current, blocked_until=blocked, expires_at=self._expiry(key, last, blocked)
            )

        return change

    def beyond_limit(self, account_failures: int) -> bool:
        """True once an account has more failures (this attempt included) than the limit."""
        return account_failures > self.max_failures

    def codes_exhausted(self, counter: Counter, now: datetime) -> bool:
        """No more code guesses: the account's limit of consecutive failures is spent."""
        return counter.live(now).failures >= self.max_failures

    def _curve(self, kind: KeyKind) -> DelayCurve | None:
        # Codes wait like an (account, address) pair: the holder of the password is one guesser.
        curves = {KeyKind.PAIR: self.pair, KeyKind.SOURCE: self.source, KeyKind.CODES: self.pair}
        return curves.get(kind)

    def _expiry(
        self, key: ThrottleKey, last: datetime, blocked: datetime | None
    ) -> datetime | None:
        if key.kind in (KeyKind.ACCOUNT, KeyKind.CODES):
            return None  # consecutive failures: only a success or an administrator resets them
        forget = last + self.forget_after
        return max(forget, blocked) if blocked else forget


@dataclass(frozen=True, slots=True)
class ThrottleDecision:
    """The answer to "may this attempt go ahead?"."""

    not_before: datetime | None = None  # refused until then (soft lock); None: go ahead
    password_alone_insufficient: bool = False  # a second factor (or an administrator) is needed

    @property
    def allowed(self) -> bool:
        return self.not_before is None

    def seconds_to_wait(self, now: datetime) -> int:
        if self.not_before is None:
            return 0
        return max(1, math.ceil((self.not_before - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class DetectionPolicy:
    window: timedelta
    spraying_accounts: int  # one wrong password against this many accounts is spraying
    stuffing_accounts: int  # this many accounts failing from one address is stuffing


def password_fingerprint(key: bytes, password: str) -> str:
    """A keyed hash to recognise one password tried against many accounts, without keeping it.

    Keyed (HMAC-SHA256) so that a stolen table cannot be searched with a dictionary; 128 bits are
    plenty to tell passwords apart within a detection window.
    """
    normalised = unicodedata.normalize("NFKC", password).encode("utf-8")
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:32]


def worst(decisions: Sequence[datetime | None]) -> datetime | None:
    """The latest of several "not before" times."""
    return max((moment for moment in decisions if moment is not None), default=None)


class LoginThrottled(AuthenticationFailed):
    """Too many recent failures from this address or on this account from it: wait."""

    code = "login_throttled"

    def __init__(self, seconds_to_wait: int) -> None:
        super().__init__(f"wait {seconds_to_wait} s", seconds_to_wait=seconds_to_wait)
        self.seconds_to_wait = seconds_to_wait


class PasswordAloneInsufficient(AuthenticationFailed):
    """Past the consecutive-failure limit: a second factor or an administrator must step in."""

    code = "password_alone_insufficient"
