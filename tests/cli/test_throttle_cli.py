"""``quivive throttle list`` and ``quivive throttle clear``, in-process with Typer's CliRunner."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app
from quivive.composition import build_services
from quivive.config import load_settings
from quivive.domain.audit_chain import ChainRecord
from quivive.storage.database import upgrade

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("QUIVIVE_")
    }
    return {**unset, "QUIVIVE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def run(env: Mapping[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=dict(env))


def fail_attempts(env: Mapping[str, str | None], account: str, source: str, count: int) -> None:
    """Count ``count`` failed attempts as a login would (without spending Argon2 on them)."""
    settings = load_settings(env={k: v for k, v in env.items() if v is not None})
    services = build_services(settings)
    try:
        upgrade(services.engine)
        for _ in range(count):
            attempt = services.throttle.admit(account, source)
            services.throttle.failed(attempt, "wrong")
    finally:
        services.close()


def latest_audit(env: Mapping[str, str | None]) -> list[ChainRecord]:
    services = build_services(load_settings(env={k: v for k, v in env.items() if v is not None}))
    try:
        return services.audit_trail.latest(20)
    finally:
        services.close()


def test_list_without_throttles(env: dict[str, str | None]) -> None:
    result = run(env, "throttle", "list")

    assert result.exit_code == 0, result.output
    assert "no throttles" in result.output


def test_list_shows_each_counter(env: dict[str, str | None]) -> None:
    fail_attempts(env, "Alice", "10.0.0.66", 5)

    table = run(env, "throttle", "list")
    rows = json.loads(run(env, "throttle", "list", "--json").stdout)

    assert table.exit_code == 0, table.output
    assert "pair" in table.output  # (the table folds long cells on narrow terminals)
    by_kind = {row["kind"]: row for row in rows}
    assert by_kind["pair"]["account"] == "alice"
    assert by_kind["pair"]["source"] == "10.0.0.66"
    assert by_kind["pair"]["failures"] == 5
    assert by_kind["source"]["next_allowed"] is None
    assert by_kind["account"]["password_alone_insufficient"] is False


def test_clear_a_user_is_audited(env: dict[str, str | None]) -> None:
    fail_attempts(env, "alice", "10.0.0.66", 3)

    cleared = run(env, "throttle", "clear", "ALICE")
    rows = json.loads(run(env, "throttle", "list", "--json").stdout)

    assert cleared.exit_code == 0, cleared.output
    assert "cleared 2 counter(s)" in cleared.output  # the account and its pair
    assert [(row["kind"], row["source"]) for row in rows] == [("source", "10.0.0.66")]
    records = latest_audit(env)
    assert ("throttle.cleared", "cli", "ALICE") in {(r.action, r.actor, r.subject) for r in records}


def test_clear_an_address(env: dict[str, str | None]) -> None:
    fail_attempts(env, "alice", "10.0.0.66", 2)

    result = run(env, "throttle", "clear", "10.0.0.66")

    assert result.exit_code == 0, result.output
    assert "cleared 2 counter(s)" in result.output  # the address and its pair


def test_clearing_what_is_not_throttled_fails_in_one_line(env: dict[str, str | None]) -> None:
    result = run(env, "throttle", "clear", "[bold]nobody")

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: no throttle for '[bold]nobody'"]
