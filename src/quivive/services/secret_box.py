"""Secrets at rest (TOTP seeds): AES-256-GCM under a key file, each ciphertext naming its key.

Format: ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``. The key id is the first 16 hex
digits of SHA-256(key): it names the key without revealing it. The associated data binds a
ciphertext to its row's purpose and owner (``totp:<user id>``), so copying one user's encrypted
seed onto another's row fails to decrypt instead of working.

Rotation (``quivive keys rotate-secrets``): a new key is written to ``<key file>.next``, every
ciphertext is re-encrypted under it, then the old key is renamed ``<key file>.retired-<id>`` and
the new one takes the key file's name. A crash midway leaves both keys readable, and a running
server that meets an unknown key id re-reads the key files, so nothing needs a restart. Retired
keys only serve to read database backups made before the rotation; delete them when those go.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quivive.errors import StorageError
from quivive.storage.data_dir import load_or_create_key

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits: NIST SP 800-38D's recommended IV length for GCM
VERSION = "v1"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class SecretBox:
    def __init__(self, key_file: Path) -> None:
        self._key_file = key_file
        self._lock = threading.Lock()
        self._current = load_or_create_key(key_file, KEY_BYTES)
        self._ring: dict[str, bytes] = {}
        self._reload()

    @property
    def current_key_id(self) -> str:
        return key_id(self._current)

    def encrypt(self, plaintext: str, context: str) -> str:
        return self._seal(self._current, plaintext, context)

    def decrypt(self, token: str, context: str) -> str:
        _, kid, body = _split(token)
        key = self._ring.get(kid)
        if key is None:
            self._reload()  # rotated by another process since we started
            key = self._ring.get(kid)
        if key is None:
            raise StorageError(f"no key {kid} to decrypt a stored secret (key file missing?)")
        raw = base64.urlsafe_b64decode(body)
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise StorageError("a stored secret failed its integrity check") from exc
        return plain.decode()

    def key_of(self, token: str) -> str:
        return _split(token)[1]

    def rotate(self, reencrypt: Callable[[Callable[[str, str], str]], int]) -> tuple[str, int]:
        """Make a new current key; ``reencrypt(convert)`` rewrites every stored ciphertext with
        ``convert(token, context)``. Returns (new key id, ciphertexts rewritten)."""
        next_file = self._key_file.with_name(self._key_file.name + ".next")
        new_key = load_or_create_key(next_file, KEY_BYTES)  # reused if a crash left one
        self._reload()
        count = reencrypt(
            lambda token, context: self._seal(new_key, self.decrypt(token, context), context)
        )
        retired = self._key_file.with_name(f"{self._key_file.name}.retired-{key_id(self._current)}")
        if not retired.exists():
            os.link(self._key_file, retired)
        os.replace(next_file, self._key_file)
        self._current = new_key
        self._reload()
        return key_id(new_key), count

    def _seal(self, key: bytes, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}.{key_id(key)}.{body}"

    def _reload(self) -> None:
        with self._lock:
            ring = {key_id(self._current): self._current}
            folder, name = self._key_file.parent, self._key_file.name
            for path in sorted(folder.glob(f"{name}*")):
                data = path.read_bytes()
                if len(data) == KEY_BYTES:
                    ring[key_id(data)] = data
            self._ring = ring


def _split(token: str) -> tuple[str, str, str]:
    version, _, rest = token.partition(".")
    kid, _, body = rest.partition(".")
    if version != VERSION or not kid or not body:
        raise StorageError("a stored secret has an unknown format")
    return version, kid, body
