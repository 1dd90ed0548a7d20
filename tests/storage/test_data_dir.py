import os
import stat
import threading
from pathlib import Path

import pytest

from quivive.errors import StorageError
from quivive.storage.data_dir import load_or_create_key, prepare_data_dir

KEY_SIZE = 32


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_prepare_creates_a_private_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "quivive"

    prepare_data_dir(data_dir)

    assert data_dir.is_dir()
    assert mode_of(data_dir) == 0o700
    assert list(data_dir.iterdir()) == []  # the write probe is cleaned up


def test_prepare_accepts_an_existing_dir(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path)
    prepare_data_dir(tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_prepare_names_the_path_when_it_cannot_create_it(tmp_path: Path) -> None:
    # The suite runs as root, which ignores permission bits, so a chmod 0500 directory would still
    # be writable. A path below a regular file fails for everyone (ENOTDIR), root included.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    data_dir = blocker / "data"

    with pytest.raises(StorageError) as raised:
        prepare_data_dir(data_dir)

    assert str(data_dir) in raised.value.message


def test_prepare_names_the_path_when_it_is_a_file(tmp_path: Path) -> None:
    data_file = tmp_path / "data"
    data_file.write_text("")

    with pytest.raises(StorageError) as raised:
        prepare_data_dir(data_file)

    assert str(data_file) in raised.value.message


def test_key_is_created_private_with_the_right_size(tmp_path: Path) -> None:
    path = tmp_path / "form.key"

    key = load_or_create_key(path, KEY_SIZE)

    assert len(key) == KEY_SIZE
    assert path.read_bytes() == key
    assert mode_of(path) == 0o600
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_key_is_stable_across_calls(tmp_path: Path) -> None:
    path = tmp_path / "form.key"

    assert load_or_create_key(path, KEY_SIZE) == load_or_create_key(path, KEY_SIZE)


def test_two_keys_differ(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path / "a.key", KEY_SIZE)
    second = load_or_create_key(tmp_path / "b.key", KEY_SIZE)

    assert first != second


def test_loose_key_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "form.key"
    existing = os.urandom(KEY_SIZE)
    path.write_bytes(existing)
    path.chmod(0o644)

    assert load_or_create_key(path, KEY_SIZE) == existing
    assert mode_of(path) == 0o600


@pytest.mark.parametrize("size", [0, KEY_SIZE - 1, KEY_SIZE + 1])
def test_key_file_of_the_wrong_size_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "form.key"
    path.write_bytes(os.urandom(size))

    with pytest.raises(StorageError, match="corrupt") as raised:
        load_or_create_key(path, KEY_SIZE)

    assert str(path) in raised.value.message
    assert path.stat().st_size == size  # left for the operator to inspect, not overwritten


def race_for_key(path: Path, racers: int) -> list[bytes]:
    start = threading.Barrier(racers)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            start.wait()
            keys.append(load_or_create_key(path, KEY_SIZE))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return keys


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    # Several rounds, each on a fresh path, make it likely that some threads really overlap
    # between "file missing" and linking their own candidate into place.
    for round_number in range(10):
        path = tmp_path / f"form-{round_number}.key"

        keys = race_for_key(path, racers=8)

        assert len(keys) == 8
        assert set(keys) == {path.read_bytes()}
    assert not [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".")]
