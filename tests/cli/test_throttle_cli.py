"""``quivive throttle list`` and ``quivive throttle clear``, in-process with Typer's CliRunner."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app
from quivive.composition import build_services
from quivive.config import load_settings
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


def test_list_without_throttles(env: dict[str, str | None]) -> None:
    result = run(env, "throttle", "list")

    assert result.exit_code == 0, result.output
    assert "no throttles" in result.output


def test_list_shows_each_counter(env: dict[str, str | None]) -> None:
    fail_attempts(env, "Alice", "10.0.0.66", 5)

    result = run(env, "throttle", "list")

    assert result.exit_code == 0, result.output
    for header in ("kind", "key", "failures", "next allowed (UTC)", "password alone insufficient"):
        assert header in result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "alice from 10.0.0.66" in rows["pair"]
    assert "5" in rows["pair"]
    assert "10.0.0.66" in rows["source"]
    assert "no" in rows["account"]


def test_clear_a_user_is_audited(env: dict[str, str | None]) -> None:
    fail_attempts(env, "alice", "10.0.0.66", 3)

    cleared = run(env, "throttle", "clear", "ALICE")
    listed = run(env, "throttle", "list")
    audited = run(env, "audit", "tail")

    assert cleared.exit_code == 0, cleared.output
    assert "cleared 2 counter(s) for ALICE" in cleared.output  # the account and its pair
    assert "alice" not in listed.output
    assert "10.0.0.66" in listed.output  # the address keeps its own record
    line = next(line for line in audited.output.splitlines() if "throttle.cleared" in line)
    assert "cli" in line


def test_clear_an_address(env: dict[str, str | None]) -> None:
    fail_attempts(env, "alice", "10.0.0.66", 2)

    result = run(env, "throttle", "clear", "10.0.0.66")

    assert result.exit_code == 0, result.output
    assert "cleared 2 counter(s)" in result.output  # the address and its pair


def test_clearing_what_is_not_throttled_fails_in_one_line(env: dict[str, str | None]) -> None:
    result = run(env, "throttle", "clear", "[bold]nobody")

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: no throttle for '[bold]nobody'"]
