"""``quivive client ...`` and ``quivive keys ...``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {n: None for n in os.environ if n.startswith("QUIVIVE_")}
    return {**unset, "QUIVIVE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def test_client_add_prints_id_and_secret_once_as_json(env: dict[str, str | None]) -> None:
    added = run(
        env,
        "client",
        "add",
        "Dossier patient",
        "--redirect-uri",
        "https://dpi.hopital.example/cb",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--post-logout-redirect-uri",
        "https://dpi.hopital.example/bye",
        "--backchannel-logout-uri",
        "https://dpi.hopital.example/logout",
        "--scope",
        "openid",
        "--scope",
        "healthcare",
        "--first-party",
        "--json",
    )

    assert added.exit_code == 0, added.stderr
    created = json.loads(added.stdout)
    assert set(created) == {"client_id", "client_secret", "name"}
    listed = json.loads(run(env, "client", "list", "--json").stdout)
    assert listed[0]["client_id"] == created["client_id"]
    assert listed[0]["scopes"] == ["openid", "healthcare"]
    assert created["client_secret"] not in json.dumps(listed)


def test_public_client_has_no_secret(env: dict[str, str | None]) -> None:
    added = run(
        env,
        "client",
        "add",
        "spa",
        "--redirect-uri",
        "http://localhost:5173/cb",
        "--public",
        "--json",
    )

    assert json.loads(added.stdout)["client_secret"] is None


def test_rotate_secret_then_remove(env: dict[str, str | None]) -> None:
    first = json.loads(
        run(env, "client", "add", "app", "--redirect-uri", "https://a.example/cb", "--json").stdout
    )

    rotated = json.loads(run(env, "client", "rotate-secret", "app", "--json").stdout)
    removed = run(env, "client", "remove", first["client_id"])

    assert rotated["client_secret"] != first["client_secret"]
    assert removed.exit_code == 0
    assert json.loads(run(env, "client", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--redirect-uri", "http://app.hopital.example/cb"),
        ("--redirect-uri", "https://a.example/cb", "--grant", "password"),
        ("--redirect-uri", "https://a.example/cb", "--scope", "superuser"),
    ],
)
def test_bad_client_is_a_usage_error(env: dict[str, str | None], args: tuple[str, ...]) -> None:
    result = run(env, "client", "add", "app", *args)

    assert result.exit_code == 2
    assert result.stderr.startswith("error:")


def test_keys_rotate_keeps_the_old_keys_listed_as_retired(env: dict[str, str | None]) -> None:
    before = json.loads(run(env, "keys", "list", "--json").stdout)

    rotated = run(env, "keys", "rotate")
    after = json.loads(run(env, "keys", "list", "--json").stdout)

    assert rotated.exit_code == 0
    assert {key["alg"] for key in before} == {"RS256", "ES256"}
    retired = [key for key in after if key["retired_at"]]
    assert {key["kid"] for key in retired} == {key["kid"] for key in before}
    assert all(key["remove_after"] for key in retired)
    assert len(after) == 4
