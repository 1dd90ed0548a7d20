"""Stored sessions for storage and service tests, built in one place."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from quivive.domain.sessions import AssuranceLevel, Session

IDLE = timedelta(minutes=15)
LIFETIME = timedelta(hours=12)


def session_row(user_id: int, token_hash: str, now: datetime, **changes: Any) -> Session:
    """A live password-only (AAL1) session started at ``now``, idle limit 15 minutes, absolute
    limit 12 hours; ``changes`` replace any field."""
    session = Session(
        token_hash=token_hash,
        user_id=user_id,
        created_at=now,
        auth_time=now,
        last_seen_at=now,
        idle_timeout=IDLE,
        expires_at=now + LIFETIME,
        amr=("pwd",),
        aal=AssuranceLevel.AAL1,
        source_address=None,
        user_agent=None,
        revoked_at=None,
    )
    return dataclasses.replace(session, **changes)
