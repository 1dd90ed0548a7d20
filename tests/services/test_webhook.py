"""The webhook channel against a local HTTP receiver that checks signatures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.services.webhook import WEBHOOK_KIND, WebhookSender, signature, verify_signature
from support.quivive import RecordingAudit, running_services
from support.webhook_receiver import webhook_receiver

SECRET = "hook-secret"
FAST = (1.0, 1.0, 1.0)


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, audit: RecordingAudit) -> Iterator[Services]:
    with running_services(tmp_path, clock=clock, audit=audit) as built:
        yield built


def sender(services: Services, url: str, secret: str, backoff: tuple[float, ...]) -> WebhookSender:
    hook = WebhookSender(url, secret, services.outbox, backoff_s=backoff)
    services.outbox.register(WEBHOOK_KIND, hook)
    return hook


def run_retries(services: Services, clock: FrozenClock, times: int) -> None:
    assert services.outbox.drain(10)
    for _ in range(times):
        clock.advance(timedelta(seconds=1))
        assert services.outbox.drain(10)


def test_a_failed_delivery_is_retried_and_signed(services: Services, clock: FrozenClock) -> None:
    with webhook_receiver(SECRET, fail_first=1) as receiver:
        assert sender(services, receiver.url, SECRET, FAST).post({"kind": "a", "summary": "été"})
        run_retries(services, clock, 1)

    assert receiver.attempts == 2
    assert receiver.bad_signatures == 0
    assert receiver.accepted == [{"kind": "a", "summary": "été"}]


def test_attempts_are_bounded_then_given_up_and_audited(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    with webhook_receiver(SECRET, fail_first=100) as receiver:
        sender(services, receiver.url, SECRET, FAST).post({"kind": "x"})
        run_retries(services, clock, 10)

    assert receiver.attempts == len(FAST) + 1
    assert receiver.accepted == []
    assert services.outbox.count_failed() == 1
    assert b"quivive_outbound_deliveries_failed 1.0" in services.metrics.render()
    [failed] = [event for event in audit.events if event.action == "delivery.failed"]
    assert (failed.subject, failed.reason) == (receiver.url, "http_status_500")
    assert failed.details == {"kind": WEBHOOK_KIND, "attempts": "4"}


def test_a_wrong_secret_is_refused_by_the_receiver(services: Services) -> None:
    with webhook_receiver(SECRET) as receiver:
        sender(services, receiver.url, "other", ()).post({"kind": "x"})
        assert services.outbox.drain(10)

    assert receiver.bad_signatures == 1
    assert receiver.accepted == []


def test_an_unreachable_receiver_does_not_raise(services: Services) -> None:
    hook = sender(services, "http://127.0.0.1:9/hook", SECRET, (1.0,))

    assert hook.post({"kind": "x"})
    assert services.outbox.drain(10)


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
