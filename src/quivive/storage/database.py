"""Engine creation and schema migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from quivive.errors import StorageError

log = logging.getLogger(__name__)

# Writers wait this long for SQLite's single write lock instead of failing at once.
SQLITE_BUSY_TIMEOUT_MS = 10_000
DATABASE_FILE_MODE = 0o600


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits: the embedded default must serve logins
    # while sessions are being written.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across application crashes in WAL mode
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def create_database_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for ``url``; ``schema`` pins PostgreSQL's search_path (tests run one per run)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        raise StorageError(f"database URL is malformed: {exc}") from exc
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).parent
            if not parent.is_dir():
                raise StorageError(f"database directory does not exist: {parent}")
            _create_private_file(Path(database))
        connect_args["check_same_thread"] = False
    elif backend == "postgresql":
        connect_args["connect_timeout"] = 5
        if schema:
            connect_args["options"] = f"-csearch_path={schema}"
    else:
        raise StorageError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    try:
        # A SQLite file has no connection to lose: a ping per checkout (~15 a login) buys nothing.
        pre_ping = backend != "sqlite"
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=pre_ping)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        # ImportError: a known dialect whose driver is not installed ("postgresql+asyncpg").
        raise StorageError(f"cannot use database URL: {exc}") from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by the service account only: it holds password hashes.

    SQLite gives its -wal and -shm files the main file's mode, so they stay private too.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, DATABASE_FILE_MODE))
    except OSError as exc:
        raise StorageError(f"cannot create database file {path}: {exc.strerror}") from exc


def _alembic_config() -> Config:
    config = Config()
    location = resources.files("quivive.storage") / "migrations"
    config.set_main_option("script_location", str(location))
    return config


def upgrade(engine: Engine) -> None:
    """Apply pending migrations (idempotent)."""
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StorageError(f"database migration failed: {_first_line(exc)}") from exc


def pending_migrations(engine: Engine) -> bool:
    script = ScriptDirectory.from_config(_alembic_config())
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query (readiness probe)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("database ping failed: %s", _first_line(exc))
        return False
    return True


def check_reachable(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StorageError(f"database unreachable: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
