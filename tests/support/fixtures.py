"""Fixtures shared by the storage, service, web and CLI tests (loaded from the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.web.app import create_app
from support.quivive import BACKENDS, RecordingAudit, running_services


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL (the storage contract)."""
    return str(request.param)


@pytest.fixture
def services(
    tmp_path: Path, backend: str, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[Services]:
    with running_services(tmp_path, backend, clock=clock, audit=audit) as built:
        yield built


@pytest.fixture
def sqlite_services(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[Services]:
    with running_services(tmp_path, "sqlite", clock=clock, audit=audit) as built:
        yield built


@pytest.fixture
def client(sqlite_services: Services) -> Iterator[TestClient]:
    """The web app over SQLite, with a frozen clock; public URL http://testserver."""
    with TestClient(create_app(sqlite_services), base_url="http://localhost:8080") as test_client:
        yield test_client
