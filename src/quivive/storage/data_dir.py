"""The data folder: the SQLite database and the keys generated on first start live here."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from quivive.errors import StorageError

# Keys must be readable by the service account only.
KEY_FILE_MODE = 0o600
DATA_DIR_MODE = 0o700


def prepare_data_dir(path: Path) -> None:
    """Create the folder if needed and prove it is writable, saying what to fix if not."""
    try:
        path.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create data dir {path}: {exc.strerror}") from exc
    probe = path / f".write-probe-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"data dir {path} is not writable: {exc.strerror} "
            "(set QUIVIVE_DATA_DIR or fix ownership)"
        ) from exc


def load_or_create_key(path: Path, size: int) -> bytes:
    """Read a key file, or create it with ``size`` random bytes, mode 0600, atomically.

    The key is written to a private temporary file then hard-linked into place, so two processes
    starting together agree on one key and nobody ever reads a half-written file.
    """
    try:
        return _read_key(path, size)
    except FileNotFoundError:
        pass
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(size))
            handle.flush()
            os.fsync(handle.fileno())
        # If another process won the race, its key stands and ours is discarded.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path, size)


def _read_key(path: Path, size: int) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, KEY_FILE_MODE)  # tighten rather than refuse: a restore may lose modes
    data = path.read_bytes()
    if len(data) != size:
        raise StorageError(f"key file {path} is corrupt: expected {size} bytes, found {len(data)}")
    return data
