"""A sign-in's writes are one unit of work: committed together, audited once committed.

Run against the real audit chain, on SQLite and PostgreSQL: the chain appends through its own
connection, so inside a unit it must wait for the unit's commit (on SQLite, appending at once would
wait on the unit's own write lock), and must never record a sign-in that was rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import User
from quivive.services.accounts import NewAccount
from support.quivive import running_services
from support.rows import count_rows

PASSWORD = "correct horse battery staple"


@pytest.fixture
def chained(tmp_path: Path, backend: str) -> Iterator[Services]:
    with running_services(tmp_path, backend, clock=FrozenClock(), chained_audit=True) as built:
        built.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        yield built


def _signed_in_events(services: Services) -> list[str]:
    return [
        record.action
        for record in services.audit_trail.latest(50)
        if record.action == "login.password" and record.outcome == Outcome.SUCCESS.value
    ]


def _start(services: Services, *, fail: bool = False) -> Callable[[User], str]:
    """What the sign-in route does after the password (session, audit), then maybe fail."""

    def start(user: User) -> str:
        token = services.sessions.start(
            user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
        )
        services.audit.record(
            AuditEvent(
                action="login.password",
                outcome=Outcome.SUCCESS,
                at=services.clock.now(),
                actor=user.username,
                subject=user.username,
            )
        )
        if fail:
            raise RuntimeError("the step fails after its writes")
        return token

    return start


def _sign_in(services: Services, *, fail: bool = False) -> None:
    start = _start(services, fail=fail)
    asyncio.run(services.authenticator.authenticate_then("alice", PASSWORD, start))


def test_a_failed_step_leaves_no_session_no_mark_and_no_audit_record(chained: Services) -> None:
    with pytest.raises(RuntimeError, match="after its writes"):
        _sign_in(chained, fail=True)

    assert count_rows(chained.engine, "sessions") == 0
    assert count_rows(chained.engine, "sign_ins") == 0
    assert chained.users.get_by_username("alice").last_login_at is None
    assert _signed_in_events(chained) == []


def test_a_completed_step_is_written_and_audited_once(chained: Services) -> None:
    _sign_in(chained)

    assert count_rows(chained.engine, "sessions") == 1
    assert count_rows(chained.engine, "sign_ins") == 1  # the history row, written in the unit
    assert chained.users.get_by_username("alice").last_login_at is not None
    assert _signed_in_events(chained) == ["login.password"]
    assert chained.audit_trail.verify().ok
