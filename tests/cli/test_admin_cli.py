"""``quivive admin recover``: the audited way back into the console without a passkey."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quivive.cli.main import app
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.services.accounts import NewAccount
from quivive.storage.admin_queries import AuditQuery
from quivive.storage.database import upgrade
from support.admin_console import actor

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {n: None for n in os.environ if n.startswith("QUIVIVE_")}
    return {**unset, "QUIVIVE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


@contextmanager
def opened(env: dict[str, str | None]) -> Iterator[Services]:
    services = build_services(load_settings(env={"QUIVIVE_DATA_DIR": str(env["QUIVIVE_DATA_DIR"])}))
    try:
        upgrade(services.engine)
        yield services
    finally:
        services.close()


def test_recover_lifts_the_passkey_rule_for_an_hour_and_is_audited(
    env: dict[str, str | None],
) -> None:
    with opened(env) as services:
        root = services.accounts.create(NewAccount("root", roles=["admin"]), actor="test")

    result = runner.invoke(app, ["admin", "recover", "Root"], env=env)

    assert result.exit_code == 0, result.output
    assert "without a passkey until" in result.output
    with opened(env) as services:
        assert services.admin.recovery_until(root.id) is not None
        records = services.admin.audit_page(actor(root), AuditQuery(action="admin.")).records
    assert [(r.action, r.actor, r.subject) for r in records] == [
        ("admin.recovery_granted", "cli", "root")
    ]


@pytest.mark.parametrize(
    ("username", "message"), [("nina", "no console role"), ("ghost", "no user")]
)
def test_recover_refuses_other_accounts(
    env: dict[str, str | None], username: str, message: str
) -> None:
    with opened(env) as services:
        services.accounts.create(NewAccount("nina", roles=["nurse"]), actor="test")

    result = runner.invoke(app, ["admin", "recover", username], env=env)

    assert result.exit_code == 1
    assert message in result.output
