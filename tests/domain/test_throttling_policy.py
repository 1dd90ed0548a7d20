import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from quivive.domain.throttling import (
    Counter,
    DelayCurve,
    KeyKind,
    ThrottleDecision,
    ThrottleKey,
    ThrottlePolicy,
    account_key,
    attempt_keys,
    password_fingerprint,
    refund,
    source_key,
)

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
CURVE = DelayCurve(free_attempts=3, max_delay=timedelta(minutes=15))
POLICY = ThrottlePolicy(
    pair=CURVE,
    source=DelayCurve(free_attempts=10, max_delay=timedelta(minutes=15)),
    max_failures=100,
    forget_after=timedelta(hours=1),
)
PAIR = ThrottleKey(KeyKind.PAIR, account="alice", source="10.0.0.66")
ACCOUNT = ThrottleKey(KeyKind.ACCOUNT, account="alice")


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (2, 0), (3, 1), (4, 2), (5, 4), (12, 512), (13, 900), (10_000, 900)],
)
def test_delay_curve_is_free_then_doubling_up_to_the_cap(failures: int, seconds: int) -> None:
    assert CURVE.delay_after(failures) == timedelta(seconds=seconds)


def reserve(key: ThrottleKey, counter: Counter, now: datetime = NOW) -> Counter | None:
    return POLICY.reserve(key, now)(counter)


def test_reserve_counts_until_the_curve_asks_to_wait() -> None:
    counter = Counter()
    for expected in range(1, 4):
        written = reserve(PAIR, counter)
        assert written is not None
        counter = written
        assert counter.failures == expected

    assert reserve(PAIR, counter) is None  # 3 failures at NOW: the next waits 1 s
    assert POLICY.not_before(PAIR, counter, NOW) == NOW + timedelta(seconds=1)
    assert reserve(PAIR, counter, NOW + timedelta(seconds=1)) is not None


def test_a_free_attempt_never_waits_for_a_parallel_one_stamped_a_moment_later() -> None:
    # Two sign-ins from one NAT address at once: the other reserved its place with a clock read
    # a millisecond after ours, so its last_failure_at lies just after our ``now``.
    later = NOW + timedelta(milliseconds=1)
    counter = Counter(failures=2, last_failure_at=later)

    assert POLICY.not_before(PAIR, counter, NOW) is None
    assert reserve(PAIR, counter) is not None


def test_pair_and_source_counters_are_forgotten_after_a_quiet_period() -> None:
    counter = Counter()
    for _ in range(5):
        counter = reserve(PAIR, counter, NOW) or counter
    later = NOW + timedelta(hours=1)

    assert counter.expires_at == later
    assert counter.live(later) == Counter()
    assert POLICY.not_before(PAIR, counter, later) is None


def test_account_counter_never_expires_and_never_delays() -> None:
    counter = Counter()
    for _ in range(150):
        counter = reserve(ACCOUNT, counter) or Counter()

    assert counter.failures == 150
    assert counter.expires_at is None
    assert POLICY.not_before(ACCOUNT, counter, NOW) is None
    assert POLICY.beyond_limit(100) is False
    assert POLICY.beyond_limit(101) is True


def test_block_holds_a_key_and_keeps_the_later_time() -> None:
    source = ThrottleKey(KeyKind.SOURCE, source="10.0.0.66")
    until = NOW + timedelta(minutes=15)

    blocked = POLICY.block(source, until, NOW)(Counter())
    shorter = POLICY.block(source, NOW + timedelta(minutes=1), NOW)(blocked)

    assert POLICY.not_before(source, blocked, NOW) == until
    assert shorter.blocked_until == until
    assert blocked.expires_at is not None
    assert blocked.expires_at >= until


def test_decision_rounds_the_wait_up() -> None:
    decision = ThrottleDecision(not_before=NOW + timedelta(milliseconds=1500))

    assert not decision.allowed
    assert decision.seconds_to_wait(NOW) == 2
    assert ThrottleDecision().seconds_to_wait(NOW) == 0


@pytest.mark.parametrize(
    ("raw", "key"),
    [("  Alice ", "alice"), ("ÉLISE", "élise"), ("a b", "a b"), ("", "(empty)")],
)
def test_account_key_is_the_normalised_name_even_when_invalid(raw: str, key: str) -> None:
    assert account_key(raw) == key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("10.0.0.7", "10.0.0.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:10.0.0.7", "10.0.0.7"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_source_key(address: str | None, key: str) -> None:
    assert source_key(address) == key


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    parse = ipaddress.ip_address

    def counted(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        parsed.append(address)
        return parse(address)

    monkeypatch.setattr(ipaddress, "ip_address", counted)
    return parsed


def test_source_key_parses_an_address_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = count_parses(monkeypatch)
    address = "2001:db8:5ce:4e7::1"  # seen by no other test: not in the memo yet

    keys = {source_key(address) for _ in range(3)}

    assert keys == {"2001:db8:5ce:4e7::/64"}
    assert parsed == [address]


def test_source_key_keeps_no_long_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = count_parses(monkeypatch)
    junk = "x" * 65  # never an address: an attacker's filler must not occupy the memo

    assert source_key(junk) == source_key(junk) == "x" * 64
    assert parsed == [junk, junk]


def test_attempt_keys_order_source_pair_account() -> None:
    kinds = [key.kind for key in attempt_keys("alice", "10.0.0.7")]

    assert kinds == [KeyKind.SOURCE, KeyKind.PAIR, KeyKind.ACCOUNT]


def test_password_fingerprint_is_keyed_and_never_the_password() -> None:
    first = password_fingerprint(b"k" * 32, "Printemps2026!")

    assert first == password_fingerprint(b"k" * 32, "Printemps2026!")
    assert first != password_fingerprint(b"j" * 32, "Printemps2026!")
    assert "Printemps" not in first
    assert len(first) == 32


def test_refund_takes_back_one_reservation_only() -> None:
    source = ThrottleKey(KeyKind.SOURCE, source="10.0.0.7")
    counter = reserve(source, reserve(source, Counter()) or Counter()) or Counter()

    refunded = refund(NOW)(counter)

    assert refunded is not None
    assert refunded.failures == 1
    assert refund(NOW)(Counter()) is None


def test_refund_leaves_an_expired_counter() -> None:
    expired = Counter(failures=3, last_failure_at=NOW, expires_at=NOW)

    assert refund(NOW)(expired) is None
    assert refund(NOW - timedelta(seconds=1))(expired) == Counter(2, NOW, None, NOW)
