from pathlib import Path

import pytest

from quivive.errors import StorageError
from quivive.storage.database import check_reachable, create_database_engine, ping

# Port 1 (tcpmux) has no listener here: the connection is refused at once, so no timeout is waited
# for (connect_timeout=5 bounds it anyway).
UNREACHABLE_POSTGRES_URL = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/test"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "://no-scheme",
        "postgresql+psycopg://postgres@127.0.0.1:notaport/test",
    ],
)
def test_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match="malformed"):
        create_database_engine(url)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("mysql://quivive@127.0.0.1/quivive", "mysql"),
        ("mssql+pyodbc://quivive@dsn", "mssql"),
        ("oracle://quivive@127.0.0.1/quivive", "oracle"),
    ],
)
def test_unsupported_backend_is_refused(url: str, backend: str) -> None:
    with pytest.raises(StorageError) as raised:
        create_database_engine(url)

    assert f"unsupported database backend '{backend}'" in raised.value.message
    assert "sqlite or postgresql" in raised.value.message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1/test",
        "postgresql+nosuchdriver://postgres@127.0.0.1/test",
    ],
)
def test_driver_that_is_not_installed_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match="cannot use database URL"):
        create_database_engine(url)


def test_sqlite_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    with pytest.raises(StorageError) as raised:
        create_database_engine(f"sqlite:///{missing}/quivive.db")

    assert str(missing) in raised.value.message


def test_sqlite_in_an_existing_directory_works(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/quivive.db")
    try:
        assert ping(engine)
        check_reachable(engine)
    finally:
        engine.dispose()


def test_unreachable_postgres_is_reported() -> None:
    engine = create_database_engine(UNREACHABLE_POSTGRES_URL)
    try:
        with pytest.raises(StorageError, match="database unreachable") as raised:
            check_reachable(engine)
        assert "s3cret-pw" not in raised.value.message
        assert ping(engine) is False
    finally:
        engine.dispose()
