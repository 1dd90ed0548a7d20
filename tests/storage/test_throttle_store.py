"""One contract for every throttle backend: SQLite, PostgreSQL and Redis.

Redis runs at 127.0.0.1:6379 (``QUIVIVE_TEST_REDIS_URL``); each test uses a key prefix of its own
and deletes it afterwards. A missing PostgreSQL or Redis skips here and fails in CI.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from quivive.domain.throttling import (
    Counter,
    DelayCurve,
    KeyKind,
    ThrottleKey,
    ThrottlePolicy,
    ThrottleStore,
)
from quivive.storage.database import create_database_engine, upgrade
from quivive.storage.throttle_redis import FallbackThrottleStore, RedisThrottleStore, connect
from quivive.storage.throttle_sql import SqlThrottleStore
from support.quivive import postgres_schema, postgres_url
from support.services import require_service

REDIS_URL = os.environ.get("QUIVIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(
    pair=DelayCurve(free_attempts=10, max_delay=timedelta(minutes=15)),
    source=DelayCurve(free_attempts=20, max_delay=timedelta(minutes=15)),
    max_failures=100,
    forget_after=timedelta(hours=1),
)
# Delays that never refuse: for tests counting writes, not testing the curve.
LENIENT = replace(
    POLICY,
    pair=DelayCurve(free_attempts=10_000, max_delay=timedelta(0)),
    source=DelayCurve(free_attempts=10_000, max_delay=timedelta(0)),
)
PAIR = ThrottleKey(KeyKind.PAIR, account="alice", source="10.0.0.66")
ACCOUNT = ThrottleKey(KeyKind.ACCOUNT, account="alice")
SOURCE = ThrottleKey(KeyKind.SOURCE, source="10.0.0.66")
WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Backend:
    """How to reach the store again from another process."""

    name: str
    url: str
    schema: str | None = None
    prefix: str | None = None


def redis_client() -> redis.Redis:
    client = connect(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("Redis", False, f"{REDIS_URL}: {exc}")
        raise
    return client


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name = str(request.param)
    if name == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path}/throttle.db")
        upgrade(engine)
        engine.dispose()
        yield Backend(name, f"sqlite:///{tmp_path}/throttle.db")
    elif name == "postgres":
        with postgres_schema() as schema:
            engine = create_database_engine(postgres_url(), schema=schema)
            upgrade(engine)
            engine.dispose()
            yield Backend(name, postgres_url(), schema=schema)
    else:
        client = redis_client()
        prefix = f"quivive-test:{secrets.token_hex(6)}:"
        try:
            yield Backend(name, REDIS_URL, prefix=prefix)
        finally:
            names = list(client.scan_iter(match=prefix + "*"))
            if names:
                client.delete(*names)
            client.close()


def open_store(backend: Backend) -> ThrottleStore:
    if backend.prefix is not None:
        return RedisThrottleStore(connect(backend.url), prefix=backend.prefix)
    return SqlThrottleStore(create_database_engine(backend.url, schema=backend.schema))


@pytest.fixture
def store(backend: Backend) -> ThrottleStore:
    return open_store(backend)


def reserve(store: ThrottleStore, key: ThrottleKey, now: datetime = NOW) -> int | None:
    written = store.update(key, POLICY.reserve(key, now), now)
    return written.counter.failures if written.written else None


# --- the contract --------------------------------------------------------------------------------


def test_unknown_keys_read_as_nothing(store: ThrottleStore) -> None:
    assert store.read([PAIR, ACCOUNT]) == {}
    assert store.entries() == []


def test_update_writes_and_reads_back(store: ThrottleStore) -> None:
    assert [reserve(store, ACCOUNT) for _ in range(3)] == [1, 2, 3]

    counter = store.read([ACCOUNT, PAIR])[ACCOUNT]

    assert counter == Counter(failures=3, last_failure_at=NOW)


def test_refused_update_leaves_the_counter(store: ThrottleStore) -> None:
    for _ in range(10):
        reserve(store, PAIR)

    assert reserve(store, PAIR) is None  # 10 failures at NOW: the next must wait 1 s
    assert store.read([PAIR])[PAIR].failures == 10
    assert reserve(store, PAIR, NOW + timedelta(seconds=1)) == 11


def test_update_each_takes_no_place_when_one_key_is_waiting(store: ThrottleStore) -> None:
    for _ in range(10):
        reserve(store, PAIR)  # the pair must now wait a second; the others are free
    changes = [(key, POLICY.reserve(key, NOW)) for key in (SOURCE, PAIR, ACCOUNT)]

    results = store.update_each(changes, NOW)

    assert [written.written for written in results] == [False, False, False]
    assert results[1].counter.failures == 10  # the waiting key's counter, to compute the wait
    assert store.read([SOURCE, PAIR, ACCOUNT]) == {PAIR: store.read([PAIR])[PAIR]}


def test_update_each_reserves_every_key_when_none_waits(store: ThrottleStore) -> None:
    changes = [(key, POLICY.reserve(key, NOW)) for key in (SOURCE, PAIR, ACCOUNT)]

    results = store.update_each(changes, NOW)

    assert [(written.written, written.counter.failures) for written in results] == [(True, 1)] * 3
    assert {
        key: counter.failures for key, counter in store.read([SOURCE, PAIR, ACCOUNT]).items()
    } == {
        SOURCE: 1,
        PAIR: 1,
        ACCOUNT: 1,
    }


def test_times_survive_the_round_trip(store: ThrottleStore) -> None:
    moment = NOW + timedelta(microseconds=123_456)
    until = moment + timedelta(minutes=15)
    store.update(SOURCE, POLICY.block(SOURCE, until, moment), moment)

    counter = store.read([SOURCE])[SOURCE]

    assert counter.blocked_until == until
    assert counter.expires_at == moment + timedelta(hours=1)


def test_reset_deletes_only_the_given_keys(store: ThrottleStore) -> None:
    for key in (PAIR, ACCOUNT, SOURCE):
        reserve(store, key)

    store.reset([PAIR, ACCOUNT])

    assert set(store.read([PAIR, ACCOUNT, SOURCE])) == {SOURCE}


def test_reset_then_refund_resets_and_refunds(store: ThrottleStore) -> None:
    for key in (PAIR, ACCOUNT, SOURCE, SOURCE):
        reserve(store, key)
    before = store.read([SOURCE])[SOURCE]

    store.reset_then_refund([PAIR, ACCOUNT], SOURCE, NOW)

    # Only the failure count moves: the delay's clock and the expiry stay as they were.
    assert store.read([PAIR, ACCOUNT, SOURCE]) == {SOURCE: replace(before, failures=1)}


def test_a_refund_never_goes_below_zero(store: ThrottleStore) -> None:
    reserve(store, SOURCE)

    for _ in range(3):
        store.reset_then_refund([], SOURCE, NOW)

    assert store.read([SOURCE])[SOURCE].failures == 0
    store.reset_then_refund([], PAIR, NOW)  # no counter at all: nothing to take back
    assert store.read([PAIR]) == {}


def test_a_refund_leaves_an_expired_counter(store: ThrottleStore) -> None:
    reserve(store, SOURCE)
    reserve(store, SOURCE)
    expired_at = store.read([SOURCE])[SOURCE].expires_at
    assert expired_at is not None

    store.reset_then_refund([], SOURCE, expired_at)

    # Expired is as good as empty: the next reservation starts over from it, not from one less.
    assert store.read([SOURCE])[SOURCE].failures == 2


def test_read_keeps_only_the_keys_asked_for(store: ThrottleStore) -> None:
    for key in (PAIR, ACCOUNT, SOURCE):  # PAIR's account and source are those of the others
        reserve(store, key)

    assert set(store.read([ACCOUNT, SOURCE])) == {ACCOUNT, SOURCE}


def test_clear_by_account_or_by_source(store: ThrottleStore) -> None:
    other = ThrottleKey(KeyKind.PAIR, account="bob", source="10.0.0.66")
    for key in (PAIR, ACCOUNT, SOURCE, other):
        reserve(store, key)

    assert store.clear(account="alice") == 2
    assert {key for key, _ in store.entries()} == {SOURCE, other}
    assert store.clear(source="10.0.0.66") == 2
    assert store.entries() == []
    assert store.clear(account="nobody") == 0


def test_entries_keep_unusual_names_intact(store: ThrottleStore) -> None:
    odd = ThrottleKey(KeyKind.PAIR, account="dr:o'neil%*[x]", source="2001:db8::/64")
    reserve(store, odd)

    assert store.entries() == [(odd, Counter(1, NOW, None, NOW + timedelta(hours=1)))]


def test_observe_counts_distinct_members_within_the_window(store: ThrottleStore) -> None:
    counts = [
        store.observe("spraying", "f1", member, NOW, WINDOW) for member in ("a", "b", "a", "c")
    ]
    later = NOW + WINDOW + timedelta(seconds=1)

    assert counts == [1, 2, 2, 3]
    assert store.observe("spraying", "f2", "a", NOW, WINDOW) == 1
    assert store.observe("spraying", "f1", "d", later, WINDOW) == 1


def test_first_in_window_is_true_once_per_window(store: ThrottleStore) -> None:
    first = store.first_in_window("spraying", "f1", NOW, WINDOW)
    again = store.first_in_window("spraying", "f1", NOW + timedelta(minutes=5), WINDOW)
    other = store.first_in_window("stuffing", "f1", NOW, WINDOW)
    next_window = store.first_in_window("spraying", "f1", NOW + WINDOW, WINDOW)

    assert (first, again, other, next_window) == (True, False, True, True)


def test_expired_counters_are_forgotten(store: ThrottleStore) -> None:
    reserve(store, PAIR)
    reserve(store, ACCOUNT)
    later = NOW + timedelta(hours=2)

    store.purge(later)  # SQL deletes them; Redis lets them expire by itself

    assert {key for key, counter in store.entries() if counter.live(later).failures} == {ACCOUNT}


# --- atomicity -----------------------------------------------------------------------------------

THREADS = 40


def test_parallel_failures_are_each_counted_once(store: ThrottleStore) -> None:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda _: reserve(store, ACCOUNT), range(THREADS)))

    # Every failure got its own place in line: the limit decision on each is exact.
    assert sorted(r for r in results if r is not None) == list(range(1, THREADS + 1))
    assert store.read([ACCOUNT])[ACCOUNT].failures == THREADS


def test_parallel_guesses_cannot_slip_past_the_delay(store: ThrottleStore) -> None:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda _: reserve(store, PAIR), range(THREADS)))

    # Ten free attempts at NOW, then a delay: exactly ten of the forty get through.
    assert sorted(r for r in results if r is not None) == list(range(1, 11))
    assert store.read([PAIR])[PAIR].failures == 10


def test_parallel_refunds_each_take_back_one(store: ThrottleStore) -> None:
    for _ in range(THREADS + 5):
        store.update(SOURCE, LENIENT.reserve(SOURCE, NOW), NOW)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda _: store.reset_then_refund([], SOURCE, NOW), range(THREADS)))

    assert store.read([SOURCE])[SOURCE].failures == 5


def test_refunds_and_reservations_in_parallel_keep_the_count(store: ThrottleStore) -> None:
    # A ward behind one NAT address: sign-ins reserve and refund the same source counter at once.
    later = NOW + timedelta(seconds=1)
    for _ in range(THREADS):
        store.update(SOURCE, LENIENT.reserve(SOURCE, NOW), NOW)

    def refund_or_reserve(n: int) -> None:
        if n % 2:
            store.reset_then_refund([], SOURCE, later)
        else:
            store.update(SOURCE, LENIENT.reserve(SOURCE, later), later)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(refund_or_reserve, range(THREADS)))

    assert store.read([SOURCE])[SOURCE].failures == THREADS


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    sys.path[:0] = [{tests!r}]
    from storage.test_throttle_store import ACCOUNT, NOW, Backend, open_store, reserve
    store = open_store(Backend({name!r}, {url!r}, {schema!r}, {prefix!r}))
    print(",".join(str(reserve(store, ACCOUNT)) for _ in range({count})))
    """
)


def test_two_processes_count_exactly(backend: Backend) -> None:
    count = 25
    script = _CHILD.format(
        tests=str(Path(__file__).parent.parent),
        name=backend.name,
        url=backend.url,
        schema=backend.schema,
        prefix=backend.prefix,
        count=count,
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]

    assert [child.returncode for child in children] == [0, 0]
    numbers = sorted(int(n) for output in outputs for n in output.strip().split(","))
    assert numbers == list(range(1, 2 * count + 1))
    assert open_store(backend).read([ACCOUNT])[ACCOUNT].failures == 2 * count


# --- Redis down ----------------------------------------------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redis_down_falls_back_to_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/fallback.db")
    upgrade(engine)
    dead = RedisThrottleStore(connect(f"redis://127.0.0.1:{closed_port()}/0"), prefix="x:")
    store = FallbackThrottleStore(dead, SqlThrottleStore(engine), monotonic=lambda: 0.0)

    with caplog.at_level(logging.WARNING, logger="quivive.storage.throttle_redis"):
        results = [reserve(store, ACCOUNT) for _ in range(3)]

    assert results == [1, 2, 3]  # counted, not refused and not let through uncounted
    assert store.using_fallback
    assert SqlThrottleStore(engine).read([ACCOUNT])[ACCOUNT].failures == 3
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1  # logged once per outage, not once per login
    engine.dispose()


def test_redis_is_tried_again_after_a_while(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/fallback.db")
    upgrade(engine)
    client = redis_client()
    prefix = f"quivive-test:{secrets.token_hex(6)}:"
    dead = RedisThrottleStore(connect(f"redis://127.0.0.1:{closed_port()}/0"), prefix=prefix)
    alive = RedisThrottleStore(client, prefix=prefix)
    now = [0.0]
    store = FallbackThrottleStore(dead, SqlThrottleStore(engine), monotonic=lambda: now[0])
    try:
        reserve(store, ACCOUNT)
        store._primary = alive  # Redis "comes back"
        reserve(store, ACCOUNT)  # still inside the pause: the database again
        now[0] = 60.0
        reserve(store, ACCOUNT)

        assert SqlThrottleStore(engine).read([ACCOUNT])[ACCOUNT].failures == 2
        assert alive.read([ACCOUNT])[ACCOUNT].failures == 1
        assert not store.using_fallback
    finally:
        alive.clear(account="alice")
        client.close()
        engine.dispose()
