"""``quivive policy set-mfa / show`` and ``quivive keys rotate-secrets``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.storage.database import upgrade

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {n: None for n in os.environ if n.startswith("QUIVIVE_")}
    return {**unset, "QUIVIVE_DATA_DIR": str(data_dir), "COLUMNS": "200"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


@contextmanager
def services_for(data_dir: Path, config: Path | None = None) -> Iterator[Services]:
    services = build_services(
        load_settings(env={"QUIVIVE_DATA_DIR": str(data_dir)}, config_file=config)
    )
    try:
        upgrade(services.engine)
        yield services
    finally:
        services.close()


def test_set_mfa_then_show(env: dict[str, str | None], data_dir: Path) -> None:
    with services_for(data_dir) as services:
        services.accounts.create(NewAccount("alice", roles=["medecin"]), actor="test")

    result = run(env, "policy", "set-mfa", "--role", "Medecin", "--from", "2026-01-01",
                 "--grace-days", "30", "--phishing-resistant")  # fmt: skip
    shown = run(env, "policy", "show", "--json")

    assert result.exit_code == 0, result.output
    assert "enforced from 2026-01-31" in result.stdout
    document = json.loads(shown.stdout)
    assert document["rules"] == [
        {
            "role": "medecin",
            "from": "2026-01-01",
            "grace_days": 30,
            "deadline": "2026-01-31",
            "phishing_resistant": True,
            "source": "database",
        }
    ]
    assert [entry["username"] for entry in document["password_only"]] == ["alice"]


def test_a_database_rule_replaces_the_configured_one(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    config = tmp_path / "quivive.toml"
    config.write_text(
        '[[mfa.rules]]\nrole = "medecin"\nfrom = 2026-01-01\ngrace_days = 30\n'
        '[[mfa.rules]]\nrole = "admin"\nfrom = 2026-01-01\nphishing_resistant = true\n'
    )
    env = {**env, "QUIVIVE_CONFIG": str(config)}

    run(env, "policy", "set-mfa", "--role", "medecin", "--from", "2026-03-01")
    shown = json.loads(run(env, "policy", "show", "--json").stdout)

    assert [(r["role"], r["from"], r["source"]) for r in shown["rules"]] == [
        ("admin", "2026-01-01", "config"),
        ("medecin", "2026-03-01", "database"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "01/02/2026"), "--from: expected a date"),
        (("--from", "2026-01-01", "--grace-days", "-1"), "--grace-days"),
    ],
)
def test_bad_options_are_one_clear_line(
    env: dict[str, str | None], args: tuple[str, ...], message: str
) -> None:
    result = run(env, "policy", "set-mfa", "--role", "medecin", *args)

    assert result.exit_code == 2
    assert message in result.stderr


def test_rotate_secrets_keeps_codes_working(env: dict[str, str | None], data_dir: Path) -> None:
    with services_for(data_dir) as services:
        user = services.accounts.create(NewAccount("alice"), actor="test")
        pending = services.totp.begin(user.id, "alice")
        step = totp.step_at(services.clock.now()) - 1
        assert services.totp.confirm(user.id, totp.code_at(pending.secret, step), "Phone")
    old_key = (data_dir / "secrets.key").read_bytes()

    result = run(env, "keys", "rotate-secrets")

    assert result.exit_code == 0, result.output
    assert "1 secret(s) re-encrypted" in result.stdout
    assert (data_dir / "secrets.key").read_bytes() != old_key
    with services_for(data_dir) as services:
        code = totp.code_at(pending.secret, totp.step_at(services.clock.now()))
        assert services.totp.verify(user.id, code) is not None
