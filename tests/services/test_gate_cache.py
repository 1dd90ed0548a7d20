"""The gate's session cache and revocation feeds: freshness, expiry, polls, Redis fallback."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.sessions import AssuranceLevel, hash_token
from quivive.domain.users import User
from quivive.services import gate as gate_module
from quivive.services.accounts import NewAccount
from quivive.services.gate import CACHE_TTL_S, GateService, Revocations
from quivive.storage.session_revocations import (
    RedisRevocationFeed,
    RedisRevocationPublisher,
    SqlRevocationFeed,
    redis_client,
)
from support.services import require_service

PASSWORD = "correct horse battery staple 42"
REDIS_URL = "redis://127.0.0.1:6379/13"


class Ticker:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingFeed:
    def __init__(self, engine_feed: SqlRevocationFeed) -> None:
        self.inner = engine_feed
        self.calls: list[datetime] = []
        self.fail = False

    def revoked_since(self, since: datetime) -> Revocations:
        self.calls.append(since)
        if self.fail:
            raise RuntimeError("feed down")
        return self.inner.revoked_since(since)


def make_gate(services: Services, ticker: Ticker) -> tuple[GateService, RecordingFeed]:
    """A gate as another node would have it: not told of this node's revocations."""
    feed = RecordingFeed(SqlRevocationFeed(services.engine))
    gate = GateService(services.sessions, services.mfa, feed, services.clock, monotonic=ticker)
    return gate, feed


def sign_in(services: Services, name: str = "alice") -> tuple[User, str]:
    user = services.accounts.find(name) or services.accounts.create(
        NewAccount(name, PASSWORD, roles=["medecin"]), actor="test"
    )
    token = services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )
    return user, token


def test_a_loaded_session_is_served_from_memory_until_its_lifetime_ends(
    sqlite_services: Services,
) -> None:
    ticker = Ticker()
    gate, _ = make_gate(sqlite_services, ticker)
    _, token = sign_in(sqlite_services)
    assert gate.cached(token) is None
    identity = gate.load(token)
    assert identity is not None
    assert (identity.username, identity.roles, identity.complete) == ("alice", ("medecin",), True)
    assert gate.cached(token) == identity
    ticker.now += CACHE_TTL_S - 0.1
    assert gate.cached(token) == identity
    ticker.now += 0.2
    assert gate.cached(token) is None


def test_an_idle_or_expired_session_is_not_served_from_memory(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    gate, _ = make_gate(sqlite_services, Ticker())
    _, token = sign_in(sqlite_services)
    gate.load(token)
    clock.advance(sqlite_services.settings.session.idle_timeout)
    assert gate.cached(token) is None
    assert gate.load(token) is None


def test_unknown_tokens_are_not_cached(sqlite_services: Services) -> None:
    gate, _ = make_gate(sqlite_services, Ticker())
    assert gate.load("not-a-session") is None
    assert gate.cached("not-a-session") is None


def test_one_poll_per_interval_and_only_one_caller_runs_it(sqlite_services: Services) -> None:
    ticker = Ticker()
    gate, feed = make_gate(sqlite_services, ticker)
    assert not gate.claim_poll()
    ticker.now += 1.0
    assert gate.claim_poll()
    assert not gate.claim_poll()  # claimed, not yet run
    gate.poll()
    assert len(feed.calls) == 1
    assert not gate.claim_poll()
    ticker.now += 1.0
    assert gate.claim_poll()


def test_a_failed_poll_is_retried(sqlite_services: Services) -> None:
    ticker = Ticker()
    gate, feed = make_gate(sqlite_services, ticker)
    feed.fail = True
    ticker.now += 1.0
    assert gate.claim_poll()
    with pytest.raises(RuntimeError):
        gate.poll()
    assert gate.claim_poll()


def test_a_revocation_elsewhere_is_dropped_at_the_next_poll(sqlite_services: Services) -> None:
    ticker = Ticker()
    gate, feed = make_gate(sqlite_services, ticker)
    _, token = sign_in(sqlite_services)
    _, other = sign_in(sqlite_services)
    gate.load(token)
    gate.load(other)
    sqlite_services.sessions.end(token)  # on "another node": this gate is not told
    assert gate.cached(token) is not None
    ticker.now += 1.0
    assert gate.claim_poll()
    gate.poll()
    assert gate.cached(token) is None
    assert gate.cached(other) is not None
    # The poll looks back a little before the previous one: lagging clocks elsewhere.
    assert feed.calls[0] <= sqlite_services.clock.now() - timedelta(seconds=10)


def test_revocations_on_this_node_are_dropped_at_once(sqlite_services: Services) -> None:
    gate, _ = make_gate(sqlite_services, Ticker())
    user, token = sign_in(sqlite_services)
    _, other = sign_in(sqlite_services)
    gate.load(token)
    gate.load(other)
    gate.session_ended(hash_token(token), user.id)
    assert gate.cached(token) is None
    assert gate.cached(other) is not None
    gate.user_sessions_ended(user.id)
    assert gate.cached(other) is None


def test_the_cache_is_bounded(sqlite_services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate_module, "MAX_CACHED_SESSIONS", 2)
    gate, _ = make_gate(sqlite_services, Ticker())
    tokens = [sign_in(sqlite_services)[1] for _ in range(3)]
    for token in tokens:
        gate.load(token)
    assert gate.cached(tokens[0]) is None
    assert gate.cached(tokens[2]) is not None


def test_the_sql_feed_reports_sessions_revoked_since(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    _, old = sign_in(sqlite_services)
    sqlite_services.sessions.end(old)
    clock.advance(timedelta(minutes=5))
    since = clock.now()
    _, token = sign_in(sqlite_services)
    sqlite_services.sessions.end(token)
    feed = SqlRevocationFeed(sqlite_services.engine)
    assert feed.revoked_since(since).token_hashes == {hash_token(token)}


def _redis() -> redis.Redis:
    client = redis_client(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", False, f"{REDIS_URL}: {exc}")
    return client


def test_the_redis_feed_carries_published_revocations(sqlite_services: Services) -> None:
    client = _redis()
    clock = sqlite_services.clock
    since = clock.now() - timedelta(seconds=1)
    publisher = RedisRevocationPublisher(client, clock)
    publisher.session_ended("ab" * 32, 7)
    publisher.user_sessions_ended(7)
    feed = RedisRevocationFeed(client, SqlRevocationFeed(sqlite_services.engine))
    revoked = feed.revoked_since(since)
    assert "ab" * 32 in revoked.token_hashes
    assert 7 in revoked.user_ids


def test_the_database_answers_when_redis_is_down(
    sqlite_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    down = redis_client("redis://127.0.0.1:1/0")
    _, token = sign_in(sqlite_services)
    since = sqlite_services.clock.now()
    sqlite_services.sessions.end(token)
    feed = RedisRevocationFeed(down, SqlRevocationFeed(sqlite_services.engine))
    assert feed.revoked_since(since).token_hashes == {hash_token(token)}
    assert "polling the database instead" in caplog.text
    RedisRevocationPublisher(down, sqlite_services.clock).session_ended("cd" * 32, 1)
    assert "could not publish a revocation" in caplog.text
