"""Where the gate's nodes learn about sessions revoked elsewhere (``services.gate``).

- ``SqlRevocationFeed``: the ``sessions.revoked_at`` column itself, so every revocation is seen
  (sign-out, disable, step-up rotation, the CLI), whoever wrote it. One query per node per poll.
- ``RedisRevocationFeed``: with ``redis_url``, nodes publish revocations to a sorted set scored by
  time (``RedisRevocationPublisher``, a ``SessionEndListener``) and poll it instead of the
  database. Rotations are not published (the old identifier's browser already holds the new one);
  they expire from caches within the cache lifetime. When Redis fails, the database answers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

import redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, select

from quivive.clock import Clock
from quivive.services.gate import Revocations
from quivive.storage.tables import sessions
from quivive.storage.unit_of_work import connection

log = logging.getLogger(__name__)

REDIS_KEY = "quivive:gate:revoked"
# Entries older than this are trimmed on each publish: polls look back seconds, not minutes.
REDIS_KEEP = timedelta(minutes=5)
REDIS_TIMEOUT_S = 0.5


class SqlRevocationFeed:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def revoked_since(self, since: datetime) -> Revocations:
        query = select(sessions.c.token_hash).where(sessions.c.revoked_at >= since)
        with connection(self._engine) as conn:
            hashes = frozenset(conn.execute(query).scalars())
        return Revocations(token_hashes=hashes)


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
    )


class RedisRevocationFeed:
    def __init__(self, client: redis.Redis, fallback: SqlRevocationFeed) -> None:
        self._redis = client
        self._fallback = fallback
        self._failing = False

    def revoked_since(self, since: datetime) -> Revocations:
        try:
            found = self._redis.zrangebyscore(REDIS_KEY, since.timestamp(), "+inf")
        except RedisError as exc:
            if not self._failing:
                log.warning("gate: Redis unreachable (%s); polling the database instead", exc)
            self._failing = True
            return self._fallback.revoked_since(since)
        self._failing = False
        members = [str(member) for member in cast(list[object], found)]
        hashes = frozenset(m[2:] for m in members if m.startswith("s:"))
        users = frozenset(int(m[2:]) for m in members if m.startswith("u:") and m[2:].isdigit())
        return Revocations(token_hashes=hashes, user_ids=users)


class RedisRevocationPublisher:
    """Tells the other nodes (through Redis) that sessions ended; a ``SessionEndListener``."""

    def __init__(self, client: redis.Redis, clock: Clock) -> None:
        self._redis = client
        self._clock = clock

    def session_ended(self, token_hash: str, user_id: int) -> None:
        self._publish(f"s:{token_hash}")

    def user_sessions_ended(self, user_id: int) -> None:
        self._publish(f"u:{user_id}")

    def _publish(self, member: str) -> None:
        now = self._clock.now().timestamp()
        try:
            pipe = self._redis.pipeline()
            pipe.zadd(REDIS_KEY, {member: now})
            pipe.zremrangebyscore(REDIS_KEY, "-inf", now - REDIS_KEEP.total_seconds())
            pipe.execute()
        except RedisError as exc:
            # The database feed still has it: nodes fall back to it while Redis fails.
            log.warning("gate: could not publish a revocation to Redis: %s", exc)
