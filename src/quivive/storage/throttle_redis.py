"""Throttle counters in Redis, shared by several nodes (``QUIVIVE_REDIS_URL``).

Counter writes are WATCH/MULTI compare-and-set, so the same policy code (a Python ``Change``) runs
on Redis and on SQL: of N concurrent writers exactly one commits per value, the others re-read and
retry. Times are the application clock's, stored in the values; Redis TTLs only collect garbage.

``FallbackThrottleStore`` puts Redis in front of the SQL store: when Redis does not answer, logins
are throttled from the database (logged once per outage) rather than refused or let through.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry

from quivive.domain.throttling import (
    Change,
    Counter,
    KeyKind,
    ThrottleKey,
    ThrottleStore,
    Written,
    refund,
    refused_as_read,
)
from quivive.storage.throttle_sql import MAX_CAS_TRIES

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "quivive:throttle:"
# A login must not hang on a dead Redis: give up quickly and fall back to the database.
CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 1.0
# After a failure, Redis is left alone this long before it is tried again.
RETRY_REDIS_AFTER_S = 30.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_FIELDS = {"f": "failures", "l": "last_failure_at", "b": "blocked_until", "e": "expires_at"}
# Set the mark unless a live one is there: one caller per window gets 1.
_MARK_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

T = TypeVar("T")


def connect(url: str) -> redis.Redis:
    """A client for ``url``; nothing is sent until the first command."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),  # one quick retry; then the database takes over
    )


class RedisThrottleStore:
    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._mark = client.register_script(_MARK_SCRIPT)

    def read(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, Counter]:
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._name(key))
            values = pipe.execute()
        return {key: _decode(value) for key, value in zip(keys, values, strict=True) if value}

    def update(self, key: ThrottleKey, change: Change, now: datetime) -> Written:
        name = self._name(key)
        stored = Counter()
        for _ in range(MAX_CAS_TRIES):
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(name)  # type: ignore[no-untyped-call]
                    stored = _decode(pipe.hgetall(name))
                    new = change(stored)
                    if new is None:
                        return Written(False, stored)
                    pipe.multi()
                    pipe.delete(name)
                    pipe.hset(name, mapping=_encode(new))
                    if new.expires_at is not None:
                        pipe.pexpire(name, _millis_until(new.expires_at, now))
                    pipe.execute()
                    return Written(True, new)
                except WatchError:
                    continue
        return Written(False, stored)

    def update_each(
        self, changes: Sequence[tuple[ThrottleKey, Change]], now: datetime
    ) -> list[Written]:
        refused = refused_as_read(changes, self.read([key for key, _ in changes]))
        if refused is not None:
            return refused
        results: list[Written] = []
        for key, change in changes:
            results.append(self.update(key, change, now))
            if not results[-1].written:
                break
        return results

    def reset(self, keys: Sequence[ThrottleKey]) -> None:
        if keys:
            self._redis.delete(*(self._name(key) for key in keys))

    def reset_then_refund(
        self, keys: Sequence[ThrottleKey], key: ThrottleKey, now: datetime
    ) -> None:
        self.reset(keys)
        self.update(key, refund(now), now)

    def clear(self, *, account: str | None = None, source: str | None = None) -> int:
        names = [
            name
            for name, key in self._scan()
            if (account and key.account == account) or (source and key.source == source)
        ]
        return int(self._redis.delete(*names)) if names else 0

    def entries(self) -> list[tuple[ThrottleKey, Counter]]:
        found = sorted(self._scan(), key=lambda item: item[1])
        with self._redis.pipeline(transaction=False) as pipe:
            for name, _ in found:
                pipe.hgetall(name)
            values = pipe.execute()
        pairs = zip(found, values, strict=True)
        return [(key, _decode(value)) for (_, key), value in pairs if value]

    def purge(self, now: datetime) -> int:
        return 0  # Redis expires counters and observations by itself

    def observe(
        self, topic: str, subject: str, member: str, now: datetime, window: timedelta
    ) -> int:
        name = f"{self._prefix}o:{topic}:{quote(subject, safe='')}"
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(name, {member: _micros(now + window)})
            pipe.zremrangebyscore(name, "-inf", _micros(now))
            pipe.zcard(name)
            pipe.pexpire(name, _millis(window))
            results = pipe.execute()
        return int(results[2])

    def first_in_window(self, topic: str, subject: str, now: datetime, window: timedelta) -> bool:
        name = f"{self._prefix}m:{topic}:{quote(subject, safe='')}"
        args = [_micros(now), _micros(now + window), _millis(window)]
        return bool(self._mark(keys=[name], args=args))

    def _name(self, key: ThrottleKey) -> str:
        account, source = quote(key.account, safe=""), quote(key.source, safe="")
        return f"{self._prefix}c:{key.kind.value}:{account}:{source}"

    def _scan(self) -> Iterator[tuple[str, ThrottleKey]]:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "c:*"
        start = len(self._prefix) + 2
        for name in self._redis.scan_iter(match=pattern, count=500):
            kind, account, source = str(name)[start:].split(":")
            yield str(name), ThrottleKey(KeyKind(kind), unquote(account), unquote(source))


class FallbackThrottleStore:
    """Redis first; the database while Redis is unreachable (checked again every 30 s)."""

    def __init__(
        self,
        primary: ThrottleStore,
        fallback: ThrottleStore,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._monotonic = monotonic
        self._down_until: float | None = None

    @property
    def using_fallback(self) -> bool:
        return self._down_until is not None and self._monotonic() < self._down_until

    def read(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, Counter]:
        return self._call(lambda store: store.read(keys))

    def update(self, key: ThrottleKey, change: Change, now: datetime) -> Written:
        return self._call(lambda store: store.update(key, change, now))

    def update_each(
        self, changes: Sequence[tuple[ThrottleKey, Change]], now: datetime
    ) -> list[Written]:
        return self._call(lambda store: store.update_each(changes, now))

    def reset(self, keys: Sequence[ThrottleKey]) -> None:
        self._call(lambda store: store.reset(keys))

    def reset_then_refund(
        self, keys: Sequence[ThrottleKey], key: ThrottleKey, now: datetime
    ) -> None:
        self._call(lambda store: store.reset_then_refund(keys, key, now))

    def clear(self, *, account: str | None = None, source: str | None = None) -> int:
        # An administrator's clear must reach both, or a throttle would survive in the other.
        cleared = self._fallback.clear(account=account, source=source)
        return cleared + self._call(lambda store: store.clear(account=account, source=source), 0)

    def entries(self) -> list[tuple[ThrottleKey, Counter]]:
        return self._call(lambda store: store.entries())

    def purge(self, now: datetime) -> int:
        return self._fallback.purge(now) + self._call(lambda store: store.purge(now), 0)

    def observe(
        self, topic: str, subject: str, member: str, now: datetime, window: timedelta
    ) -> int:
        return self._call(lambda store: store.observe(topic, subject, member, now, window))

    def first_in_window(self, topic: str, subject: str, now: datetime, window: timedelta) -> bool:
        return self._call(lambda store: store.first_in_window(topic, subject, now, window))

    def _call(self, operation: Callable[[ThrottleStore], T], when_down: T | None = None) -> T:
        if not self.using_fallback:
            try:
                result = operation(self._primary)
            except RedisError as exc:
                self._mark_down(exc)
            else:
                self._mark_up()
                return result
        return when_down if when_down is not None else operation(self._fallback)

    def _mark_down(self, exc: RedisError) -> None:
        if self._down_until is None:
            log.warning("Redis unreachable, throttling from the database instead: %s", exc)
        self._down_until = self._monotonic() + RETRY_REDIS_AFTER_S

    def _mark_up(self) -> None:
        if self._down_until is not None:
            log.warning("Redis reachable again: throttling from Redis")
        self._down_until = None


def _encode(counter: Counter) -> dict[Any, Any]:
    values = {short: getattr(counter, name) for short, name in _FIELDS.items()}
    return {
        short: value if isinstance(value, int) else _micros(value)
        for short, value in values.items()
        if value is not None
    }


def _decode(value: Mapping[Any, Any]) -> Counter:
    if not value:
        return Counter()
    times = {
        name: _EPOCH + int(value[short]) * _MICRO
        for short, name in _FIELDS.items()
        if short != "f" and short in value
    }
    return Counter(failures=int(value.get("f", 0)), **times)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO


def _millis(span: timedelta) -> int:
    return max(1, span // timedelta(milliseconds=1))


def _millis_until(moment: datetime, now: datetime) -> int:
    return _millis(moment - now)
