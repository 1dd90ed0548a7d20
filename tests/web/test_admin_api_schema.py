"""schemathesis against ``/api/admin/v1/openapi.json``: no 5xx, answers match the schema.

Run on SQLite and PostgreSQL: some inputs (a NUL character) only break on PostgreSQL.

Bounded (``MAX_EXAMPLES`` per operation) so that it fits a CI run on a loaded 2-core machine.
Requests carry a service account's ``admin`` bearer token; users and a session exist so that
generated ids sometimes hit real objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quivive.clock import FrozenClock
from quivive.web.app import create_app
from support.admin_console import add_user, service_token, start_session
from support.quivive import RecordingAudit, running_services

MAX_EXAMPLES = 20
SCHEMA_PATH = "/api/admin/v1/openapi.json"
BEARER: dict[str, str] = {}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def admin_api(tmp_path: Path, backend: str) -> Iterator[BaseSchema]:
    recording = RecordingAudit()
    with running_services(tmp_path, backend, clock=FrozenClock(), audit=recording) as services:
        nina = add_user(services, "nina", "nurse")
        add_user(services, "root", "admin")
        start_session(services, nina)
        BEARER["authorization"] = "Bearer " + service_token(services)
        yield schemathesis.openapi.from_asgi(SCHEMA_PATH, create_app(services))


def test_admin_api_conforms(admin_api: BaseSchema) -> None:
    operations = [result.ok() for result in admin_api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12

    for operation in operations:
        _examples(operation.as_strategy())()


def _examples(strategy: SearchStrategy[Case[Any]]) -> Callable[[], None]:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Case[Any]) -> None:
        case.call_and_validate(headers=BEARER, checks=CHECKS)

    return run
