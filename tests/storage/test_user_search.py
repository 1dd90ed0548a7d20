"""User search through the trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL): both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from quivive.composition import Services
from quivive.domain.users import NewUser
from quivive.storage.admin_queries import AdminQueries, UserQuery
from quivive.storage.tables import users

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
PEOPLE = (
    ("amartin", "Anne Martin", "anne.martin@chu.example", "10001234567"),
    ("bdubois", "Bruno Dubois", None, None),
    ("cmartineau", "Céline Martineau", "celine@ehpad.example", None),
    ("dquote", 'Dan "Doc" 100% O_Neil', None, None),
)


@pytest.fixture
def queries(services: Services) -> AdminQueries:
    for username, name, email, professional_id in PEOPLE:
        new = NewUser(username, name, email, (), professional_id, None)
        services.users.add(new, now=NOW)
    return AdminQueries(services.engine, services.users)


def found(queries: AdminQueries, search: str, **query: int) -> list[str]:
    return [user.username for user in queries.users_page(UserQuery(search, **query)).users]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("martin", ["amartin", "cmartineau"]),  # the middle of a username and of a name
        ("MARTINEAU", ["cmartineau"]),  # case does not matter
        ("ehpad.exa", ["cmartineau"]),  # part of an e-mail address
        ("0123456", ["amartin"]),  # part of the professional identifier
        ("  bruno   dubois ", ["bdubois"]),  # spaces are normalised
        ('"Doc"', ["dquote"]),  # quotes are text, not FTS5 syntax
        ("100%", ["dquote"]),  # LIKE wildcards are text too
        ("O_N", ["dquote"]),
        ("zz-nobody", []),
        ("ti", ["amartin", "cmartineau"]),  # shorter than a trigram: the plain scan
        ("%", ["dquote"]),
    ],
)
def test_substring_search(queries: AdminQueries, search: str, expected: list[str]) -> None:
    assert found(queries, search) == expected


def test_search_pages_with_the_cursor(queries: AdminQueries) -> None:
    first = queries.users_page(UserQuery("martin", limit=1))

    assert [u.username for u in first.users] == ["amartin"]
    assert first.next_cursor is not None
    assert found(queries, "martin", after=first.next_cursor) == ["cmartineau"]


def test_the_index_follows_renames_and_deletions(services: Services, queries: AdminQueries) -> None:
    anne = services.users.find_by_username("amartin")
    assert anne is not None

    services.users.update_profile(anne.id, display_name="Anne Lefèvre", email=None)
    assert found(queries, "martin") == ["amartin", "cmartineau"]  # still the username
    assert found(queries, "lefèvre") == ["amartin"]
    assert found(queries, "anne.martin@") == []

    with services.engine.begin() as conn:
        conn.execute(delete(users).where(users.c.id == anne.id))
    assert found(queries, "martin") == ["cmartineau"]
