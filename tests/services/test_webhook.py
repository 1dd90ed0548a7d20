"""The webhook channel against a local HTTP receiver that checks signatures."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from quivive.services.outbox import Outbox
from quivive.services.webhook import WebhookSender, signature, verify_signature
from support.webhook_receiver import webhook_receiver

SECRET = "hook-secret"
FAST = (0.05, 0.05, 0.05)


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    box = Outbox(max_size=10)
    yield box
    box.close()


def test_a_failed_delivery_is_retried_and_signed(outbox: Outbox) -> None:
    with webhook_receiver(SECRET, fail_first=1) as receiver:
        sender = WebhookSender(receiver.url, SECRET, outbox, backoff_s=FAST)

        assert sender.post({"kind": "attack.spraying", "summary": "été"})
        assert outbox.drain(10)

    assert receiver.attempts == 2
    assert receiver.bad_signatures == 0
    assert receiver.accepted == [{"kind": "attack.spraying", "summary": "été"}]


def test_attempts_are_bounded(outbox: Outbox) -> None:
    with webhook_receiver(SECRET, fail_first=100) as receiver:
        WebhookSender(receiver.url, SECRET, outbox, backoff_s=FAST).post({"kind": "x"})
        assert outbox.drain(10)

    assert receiver.attempts == len(FAST) + 1
    assert receiver.accepted == []


def test_a_wrong_secret_is_refused_by_the_receiver(outbox: Outbox) -> None:
    with webhook_receiver(SECRET) as receiver:
        WebhookSender(receiver.url, "other", outbox, backoff_s=()).post({"kind": "x"})
        assert outbox.drain(10)

    assert receiver.bad_signatures == 1
    assert receiver.accepted == []


def test_an_unreachable_receiver_does_not_raise(outbox: Outbox) -> None:
    sender = WebhookSender("http://127.0.0.1:9/hook", SECRET, outbox, backoff_s=(0.01,))

    assert sender.post({"kind": "x"})
    assert outbox.drain(10)


def test_signature_covers_timestamp_and_body() -> None:
    key, body = b"k", b'{"a":1}'
    good = signature(key, "1000", body)

    assert good.startswith("sha256=")
    assert len(good) == 7 + 64
    assert verify_signature(key, "1000", body, good, now=1010, tolerance_s=300)
    assert not verify_signature(key, "1000", body + b" ", good, now=1010, tolerance_s=300)
    assert not verify_signature(key, "1001", body, good, now=1010, tolerance_s=300)
    # A replay long after the fact: the signature is right, the timestamp too old.
    assert not verify_signature(key, "1000", body, good, now=5000, tolerance_s=300)
    assert not verify_signature(key, "soon", body, good, now=1010, tolerance_s=300)


def test_a_full_outbox_drops_instead_of_blocking() -> None:
    box = Outbox(max_size=1)
    release = threading.Event()
    started = threading.Event()

    def slow(_stop: threading.Event) -> None:
        started.set()
        release.wait(5)

    try:
        assert box.submit(slow)
        assert started.wait(5)
        assert box.submit(lambda _stop: None)  # fills the one slot
        assert not box.submit(lambda _stop: None)
    finally:
        release.set()
        box.close()


def test_a_closed_outbox_refuses_jobs() -> None:
    box = Outbox()
    box.close()

    assert not box.submit(lambda _stop: None)


def test_closing_delivers_what_is_already_queued() -> None:
    box = Outbox()
    delivered: list[int] = []
    for n in range(3):
        box.submit(lambda _stop, n=n: delivered.append(n))

    box.close()

    assert delivered == [0, 1, 2]
