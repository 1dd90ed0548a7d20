"""The ``quivive`` command: in-process with Typer's CliRunner, as a real process for ``serve``."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

from quivive.cli.main import app
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.domain.sessions import AssuranceLevel

PASSWORD = "un été au bord du Lot 1987"
OTHER_PASSWORD = "la marée monte vite à Saint-Malo"
DB_PASSWORD = "Hunter2-db-pass"  # distinctive: "secret" also appears in setting names
# What ``serve`` may take to start: migrations, key files, one Argon2 hash at most.
SERVE_START_TIMEOUT_S = 30.0
SERVE_STOP_TIMEOUT_S = 15.0

runner = CliRunner()


# --- helpers -------------------------------------------------------------------------------------


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command, walked from the Typer app (so new ones are covered too)."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(get_command(app), ())
    return paths


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str | None]:
    """A clean QUIVIVE_* environment; wide enough that Rich neither folds nor cuts values."""
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("QUIVIVE_")
    }
    return {**unset, "QUIVIVE_DATA_DIR": str(data_dir), "COLUMNS": "200"}


def run(env: Mapping[str, str | None], *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), env=dict(env), input=stdin)


def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def listed(env: Mapping[str, str | None]) -> list[dict[str, Any]]:
    result = run(env, "user", "list", "--json")
    assert result.exit_code == 0, result.output
    users: list[dict[str, Any]] = json.loads(result.stdout)
    return users


def add_user(env: Mapping[str, str | None], username: str, *options: str) -> Result:
    return run(env, "user", "add", username, "--password-stdin", *options, stdin=PASSWORD + "\n")


@contextmanager
def services_for(data_dir: Path) -> Iterator[Services]:
    services = build_services(load_settings(env={"QUIVIVE_DATA_DIR": str(data_dir)}))
    try:
        yield services
    finally:
        services.close()


def password_works(data_dir: Path, username: str, password: str) -> bool:
    with services_for(data_dir) as services:
        user = services.accounts.get(username)
        return user.password_hash is not None and services.hasher.verify_sync(
            user.password_hash, password
        )


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "quivive")
def test_every_command_answers_help(path: tuple[str, ...], env: dict[str, str | None]) -> None:
    result = run(env, *path, "--help")

    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_the_commands_operators_need_are_there() -> None:
    paths = {" ".join(path) for path in command_paths()}

    assert {
        "serve",
        "version",
        "user add",
        "user list",
        "user disable",
        "user enable",
        "user set-password",
        "db upgrade",
        "config check",
    } <= paths


# --- users ---------------------------------------------------------------------------------------


def test_user_add_with_every_option(env: dict[str, str | None], data_dir: Path) -> None:
    result = add_user(
        env,
        "Marie.Curie",
        "--email",
        "Marie.Curie@Hopital.example",
        "--name",
        "Marie Curie",
        "--role",
        "Infirmier",
        "--role",
        "admin",
        "--rpps",
        "10001234567",
    )

    assert result.exit_code == 0, result.output
    assert "created user marie.curie" in result.stdout
    [user] = listed(env)
    assert user["username"] == "marie.curie"
    assert user["display_name"] == "Marie Curie"
    assert user["email"] == "Marie.Curie@hopital.example"
    assert user["roles"] == ["admin", "infirmier"]
    assert user["professional_id"] == "10001234567"
    assert user["status"] == "active"
    assert user["has_password"] is True
    assert user["last_login_at"] is None
    assert password_works(data_dir, "marie.curie", PASSWORD)


def test_user_add_without_password(env: dict[str, str | None]) -> None:
    result = run(env, "user", "add", "jean")

    assert result.exit_code == 0, result.output
    assert listed(env)[0]["has_password"] is False


@pytest.mark.parametrize("again", ["marie", "MARIE", " Marie "])
def test_duplicate_user_is_a_one_line_error(env: dict[str, str | None], again: str) -> None:
    assert add_user(env, "marie").exit_code == 0

    result = add_user(env, again)

    assert result.exit_code == 1
    assert "marie" in one_line_error(result)
    assert len(listed(env)) == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("motdepasse123", "among the most common or leaked passwords"),
        ("court", "too short"),
        ("marie-2026-hopital", "contains the username"),
    ],
)
def test_weak_password_is_refused_and_nothing_is_created(
    env: dict[str, str | None], password: str, reason: str
) -> None:
    result = run(env, "user", "add", "marie", "--password-stdin", stdin=password + "\n")

    assert result.exit_code == 1
    assert reason in one_line_error(result)
    assert password not in result.output  # never echo a password
    assert listed(env) == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (("--email", "not-an-address"), "e-mail"),
        (("--rpps", "12-34"), "professional identifier"),
        (("--role", "two words"), "role"),
    ],
)
def test_invalid_fields_are_one_line_errors(
    env: dict[str, str | None], options: tuple[str, ...], field: str
) -> None:
    result = add_user(env, "marie", *options)

    assert result.exit_code == 1
    assert field in one_line_error(result)
    assert listed(env) == []


def test_empty_stdin_is_a_usage_error(env: dict[str, str | None]) -> None:
    result = run(env, "user", "add", "marie", "--password-stdin", stdin="")

    assert result.exit_code == 2
    assert "standard input" in one_line_error(result)


def test_user_list_json_is_valid_with_every_field(env: dict[str, str | None]) -> None:
    assert json.loads(run(env, "user", "list", "--json").stdout) == []
    add_user(env, "bob")
    add_user(env, "alice", "--role", "medecin")

    users = listed(env)

    assert {user["username"] for user in users} == {"alice", "bob"}
    assert set(users[0]) == {
        "username",
        "display_name",
        "email",
        "roles",
        "professional_id",
        "status",
        "has_password",
        "created_at",
        "last_login_at",
    }


def test_user_list_table(env: dict[str, str | None]) -> None:
    add_user(env, "alice", "--name", "Alice Martin")

    result = run(env, "user", "list")

    assert result.exit_code == 0
    assert "alice" in result.stdout
    assert "Alice Martin" in result.stdout
    assert "never" in result.stdout


def test_disable_ends_sessions_and_enable_restores(
    env: dict[str, str | None], data_dir: Path
) -> None:
    add_user(env, "alice")
    with services_for(data_dir) as services:
        user = services.accounts.get("alice")
        token = services.sessions.start(
            user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
        )

    disabled = run(env, "user", "disable", "alice")

    assert disabled.exit_code == 0, disabled.output
    assert "1 session(s) ended" in disabled.stdout
    assert listed(env)[0]["status"] == "disabled"
    enabled = run(env, "user", "enable", "ALICE")
    assert enabled.exit_code == 0, enabled.output
    assert listed(env)[0]["status"] == "active"
    with services_for(data_dir) as services:
        assert services.sessions.resolve(token) is None  # enabling does not revive sessions


@pytest.mark.parametrize(
    "command",
    [("disable",), ("enable",), ("set-password", "--password-stdin")],
    ids=lambda command: command[0],
)
def test_unknown_user_is_a_one_line_error(
    env: dict[str, str | None], command: tuple[str, ...]
) -> None:
    result = run(env, "user", command[0], "nobody", *command[1:], stdin=OTHER_PASSWORD + "\n")

    assert result.exit_code == 1
    assert "nobody" in one_line_error(result)


def test_set_password(env: dict[str, str | None], data_dir: Path) -> None:
    add_user(env, "alice")

    result = run(
        env, "user", "set-password", "alice", "--password-stdin", stdin=OTHER_PASSWORD + "\r\n"
    )

    assert result.exit_code == 0, result.output
    assert "password set for alice" in result.stdout
    assert password_works(data_dir, "alice", OTHER_PASSWORD)
    assert not password_works(data_dir, "alice", PASSWORD)


def test_set_password_refuses_a_weak_one_and_keeps_the_old(
    env: dict[str, str | None], data_dir: Path
) -> None:
    add_user(env, "alice")

    result = run(env, "user", "set-password", "alice", "--password-stdin", stdin="123456789012\n")

    assert result.exit_code == 1
    assert "among the most common" in one_line_error(result)
    assert password_works(data_dir, "alice", PASSWORD)


def test_set_password_without_a_terminal_asks_for_stdin(env: dict[str, str | None]) -> None:
    add_user(env, "alice")

    result = run(env, "user", "set-password", "alice")

    assert result.exit_code == 2
    assert "--password-stdin" in one_line_error(result)


# --- configuration and database ------------------------------------------------------------------


def test_config_check_masks_the_database_password(env: dict[str, str | None]) -> None:
    env["QUIVIVE_DATABASE_URL"] = f"postgresql+psycopg://u:{DB_PASSWORD}@127.0.0.1/db"

    result = run(env, "config", "check")

    assert result.exit_code == 0, result.output
    assert DB_PASSWORD not in result.output
    assert "postgresql+psycopg://u:***@127.0.0.1/db" in unfolded_values(result.stdout)
    assert "configuration is valid" in result.stdout


def unfolded_values(stdout: str) -> str:
    """The table's value column with folded lines joined again.

    Rich reads the terminal width once, when the console is created, so how values fold depends
    on which test imported the CLI first in this worker; assertions must not.
    """
    rows = [line.split("│") for line in stdout.splitlines() if line.startswith("│")]
    return "".join(cells[3].strip() for cells in rows if len(cells) > 3)


def test_config_check_shows_whole_values_in_a_narrow_terminal(env: dict[str, str | None]) -> None:
    env["COLUMNS"] = "60"
    env["QUIVIVE_ESTABLISHMENT_NAME"] = "Centre-Hospitalier-Intercommunal-de-la-Vallee-du-Lot"

    result = run(env, "config", "check")

    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert "Centre-Hospitalier-Intercommunal-de-la-Vallee-du-Lot" in unfolded_values(result.stdout)


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("QUIVIVE_PORT", "eighty", "port"),
        ("QUIVIVE_LANGUAGE", "de", "language"),
        ("QUIVIVE_SESSION_IDLE_TIMEOUT", "2h", "session.idle_timeout"),
        ("QUIVIVE_PUBLIC_URL", "http://auth.hopital.example", "public_url"),
        ("QUIVIVE_DATABASE_URL", f"mysql://u:{DB_PASSWORD}@db/quivive", "database_url"),
    ],
)
@pytest.mark.parametrize("command", [("config", "check"), ("user", "list"), ("db", "upgrade")])
def test_bad_config_value_exits_2_naming_the_key(
    env: dict[str, str | None], variable: str, value: str, key: str, command: tuple[str, ...]
) -> None:
    env[variable] = value

    result = run(env, *command)

    assert result.exit_code == 2
    message = one_line_error(result)
    assert variable in message
    assert key in message
    assert DB_PASSWORD not in result.output


def test_db_upgrade_twice(env: dict[str, str | None], data_dir: Path) -> None:
    first = run(env, "db", "upgrade")
    second = run(env, "db", "upgrade")

    assert first.exit_code == second.exit_code == 0
    assert "up to date" in second.stdout
    assert (data_dir / "quivive.db").is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql+psycopg://quivive:{DB_PASSWORD}@127.0.0.1:1/quivive", "database unreachable"),
        (f"postgresql+psycopg://quivive:{DB_PASSWORD}@127.0.0.1:notaport/quivive", "malformed"),
        ("sqlite:////nonexistent-quivive-dir/quivive.db", "does not exist"),
    ],
)
@pytest.mark.parametrize("command", [("db", "upgrade"), ("user", "list")])
def test_bad_database_url_is_a_clear_error(
    env: dict[str, str | None], url: str, expected: str, command: tuple[str, ...]
) -> None:
    env["QUIVIVE_DATABASE_URL"] = url

    result = run(env, *command)

    assert result.exit_code == 1
    assert expected in one_line_error(result)
    assert DB_PASSWORD not in result.output


def test_unwritable_data_dir_is_a_clear_error(env: dict[str, str | None], tmp_path: Path) -> None:
    # Root can write anywhere, but nobody can create a folder under a regular file.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env["QUIVIVE_DATA_DIR"] = str(blocker / "data")

    result = run(env, "db", "upgrade")

    assert result.exit_code == 1
    message = one_line_error(result)
    assert "data dir" in message
    assert str(blocker / "data") in message


def test_version(env: dict[str, str | None]) -> None:
    result = run(env, "version")

    assert result.exit_code == 0
    assert result.stdout.strip()


# --- serve, as a real process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_env(data_dir: Path, port: int) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("QUIVIVE_")}
    return {
        **clean,
        "QUIVIVE_DATA_DIR": str(data_dir),
        "QUIVIVE_PORT": str(port),
        "QUIVIVE_LOG_LEVEL": "warning",
        "COLUMNS": "200",
    }


def quivive(*args: str) -> list[str]:
    return [sys.executable, "-c", "from quivive.cli.main import main; main()", *args]


class Serving:
    """``quivive serve`` in a child process, its output collected line by line as it comes."""

    def __init__(self, data_dir: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        environment = {**process_env(data_dir, port), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            quivive("serve"),
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    def setup_links(self) -> list[str]:
        return [line.strip() for line in self.output if "/setup/" in line]

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(SERVE_STOP_TIMEOUT_S)
                pytest.fail(f"quivive serve exited with {self.process.returncode}: {self.output}")
            try:
                if httpx2.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"quivive serve did not answer within {SERVE_START_TIMEOUT_S} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(SERVE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(SERVE_STOP_TIMEOUT_S)
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextmanager
def serving(data_dir: Path) -> Iterator[Serving]:
    server = Serving(data_dir)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()


def test_serve_refuses_a_port_already_in_use(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            quivive("serve"),
            env=process_env(data_dir, port),
            capture_output=True,
            text=True,
            timeout=SERVE_START_TIMEOUT_S,
            check=False,
        )

    assert result.returncode == 1
    assert "already in use" in result.stderr
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_a_setup_link_that_opens_the_setup_page(data_dir: Path) -> None:
    with serving(data_dir) as server:
        health = httpx2.get(server.url + "/healthz")
        ready = httpx2.get(server.url + "/readyz")
        [link] = server.setup_links()
        setup_page = httpx2.get(server.url + "/setup/" + link.split("/setup/", 1)[1])

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    port = server.url.rsplit(":", 1)[1]
    assert link.startswith(f"http://localhost:{port}/setup/")
    assert setup_page.status_code == 200
    assert "Créer le premier administrateur" in setup_page.text
    assert not any("Traceback" in line for line in server.output)


def test_serve_creates_private_keys_and_a_wal_database(data_dir: Path) -> None:
    with serving(data_dir):
        pass

    keys = sorted(data_dir.glob("*.key"))
    assert keys, "no key file in the data dir"
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0
    with sqlite3.connect(data_dir / "quivive.db") as database:
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_restarting_serve_keeps_the_data(data_dir: Path, env: dict[str, str | None]) -> None:
    with serving(data_dir) as first:
        created = add_user(env, "alice", "--role", "admin")  # while the server runs
        assert created.exit_code == 0, created.output

    with serving(data_dir) as second:
        assert httpx2.get(second.url + "/readyz").status_code == 200
        users = listed(env)

    assert [user["username"] for user in users] == ["alice"]
    assert len(first.setup_links()) == 1
    # An administrator exists now: no set-up link is printed any more.
    assert second.setup_links() == []
