"""The "must enrol at next sign-in" mark on the users row, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quivive.composition import Services
from quivive.domain.users import NewUser
from quivive.errors import NotFoundError
from quivive.storage.users import UserRepository

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def repo(services: Services) -> UserRepository:
    return services.users


def _add(repo: UserRepository, username: str) -> int:
    new = NewUser(username, username.title(), None, ("nurse",), None, "$argon2id$stored-as-given")
    return repo.add(new, now=NOW).id


def test_a_new_user_has_no_mark(repo: UserRepository) -> None:
    user = repo.get(_add(repo, "alice"))

    assert user.enrolment_required_at is None
    assert not user.must_enrol


def test_the_mark_reads_back_with_its_time_on_every_read(repo: UserRepository) -> None:
    alice, bob = _add(repo, "alice"), _add(repo, "bob")
    marked_at = NOW + timedelta(hours=2, microseconds=500)

    repo.require_enrolment(alice, marked_at)

    assert repo.get(alice).enrolment_required_at == marked_at
    assert repo.get_by_username("alice").must_enrol
    assert [u.must_enrol for u in repo.get_many([alice, bob])] == [True, False]
    assert [u.must_enrol for u in repo.list()] == [True, False]


def test_clearing_is_true_once(repo: UserRepository) -> None:
    alice = _add(repo, "alice")
    repo.require_enrolment(alice, NOW)

    assert repo.clear_enrolment_required(alice) is True
    assert repo.clear_enrolment_required(alice) is False
    assert not repo.get(alice).must_enrol


def test_marking_a_missing_user_raises_not_found(repo: UserRepository) -> None:
    with pytest.raises(NotFoundError):
        repo.require_enrolment(4242, NOW)
    assert repo.clear_enrolment_required(4242) is False
