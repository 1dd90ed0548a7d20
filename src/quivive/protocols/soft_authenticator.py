"""A software WebAuthn authenticator (ES256, attestation "none"), the client side of WebAuthn
Level 3 §6.3 in a few lines: for the demo establishment's passkeys and for fast passkey tests.

It answers the options JSON the server sends with the JSON a browser's ``credential.toJSON()``
gives. Every flag and the counter are plain attributes, so a test can make it misbehave (no UV,
a synced key, a counter going backwards, another origin or RP ID). PyPI's soft-webauthn never sets
UV and pins old fido2/cryptography, hence this one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

# Authenticator data flags (WebAuthn Level 3 §6.1): user present, user verified, backup eligible,
# backed up, attested credential data included.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


@dataclass
class SoftAuthenticator:
    """Never a factor of a real account: its private key lives in this process's memory."""

    origin: str
    rp_id: str
    user_verified: bool = True
    user_present: bool = True
    backup_eligible: bool = False
    backup_state: bool = False
    sign_count: int = 0
    counts: bool = True  # False: a key without a counter, always 0
    aaguid: bytes = bytes(16)
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    user_handle: bytes | None = None
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def register(self, options: str | dict[str, Any]) -> dict[str, Any]:
        opts = json.loads(options) if isinstance(options, str) else options
        self.user_handle = base64url_to_bytes(opts["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        attested = self.aaguid + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        auth_data = self._auth_data(AT) + attested + cbor2.dumps(cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response: dict[str, Any] = {
            "clientDataJSON": self._client_data("webauthn.create", opts["challenge"]),
            "attestationObject": bytes_to_base64url(attestation),
            "transports": ["internal"],
        }
        return self._credential(response)

    def assertion(self, options: str | dict[str, Any]) -> dict[str, Any]:
        opts = json.loads(options) if isinstance(options, str) else options
        if self.counts:
            self.sign_count += 1
        auth_data = self._auth_data(0)
        client_data = self._client_data("webauthn.get", opts["challenge"])
        signed = auth_data + hashlib.sha256(base64url_to_bytes(client_data)).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": client_data,
            "authenticatorData": bytes_to_base64url(auth_data),
        }
        response |= {"signature": bytes_to_base64url(signature)}
        if self.user_handle is not None:
            response["userHandle"] = bytes_to_base64url(self.user_handle)
        return self._credential(response)

    def _auth_data(self, extra_flags: int) -> bytes:
        flags = extra_flags | (UP if self.user_present else 0) | (UV if self.user_verified else 0)
        flags |= (BE if self.backup_eligible else 0) | (BS if self.backup_state else 0)
        rp_id_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big")

    def _client_data(self, ceremony: str, challenge: str) -> str:
        data = {
            "type": ceremony,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": False,
        }
        return bytes_to_base64url(json.dumps(data).encode())

    def _credential(self, response: dict[str, Any]) -> dict[str, Any]:
        cid = bytes_to_base64url(self.credential_id)
        return {
            "id": cid,
            "rawId": cid,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
