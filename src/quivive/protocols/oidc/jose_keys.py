"""Signing keys and their JWK Set (RFC 7517), JWS algorithms RS256 and ES256 (RFC 7518 §3).

Every token carries the ``kid`` of the key that signed it (RFC 7515 §4.1.4), the RFC 7638
thumbprint of that key, so relying parties pick the right key from the JWKS after a rotation.
A retired key stops signing at once but stays published until ``remove_after``: the moment the
longest-lived token it signed has expired.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from quivive.protocols.oidc.errors import InvalidToken

# NIST SP 800-57 / ANSSI RGS B1: RSA 2048 is acceptable until 2030; 3072 costs 3x per signature on
# the token endpoint for no benefit within a key's lifetime of months.
RSA_KEY_BITS = 2048
EC_CURVE = "P-256"
# RFC 7518 §3.4: an ES256 signature is R and S as 32-byte big-endian integers, concatenated.
ES256_PART_BYTES = 32
SUPPORTED_ALGS = ("RS256", "ES256")

Jwk = RSAKey | ECKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private_jwk: str = ""  # JSON; kept out of reprs below
    created_at: datetime | None = None
    retired_at: datetime | None = None
    remove_after: datetime | None = None

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r}, retired_at={self.retired_at!r})"


def generate_key(alg: str, now: datetime) -> SigningKey:
    if alg == "RS256":
        key: Jwk = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key(EC_CURVE, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    kid = key.thumbprint()
    data = key.as_dict(private=True) | {"kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(kid=kid, alg=alg, private_jwk=json.dumps(data), created_at=now)


def _import(record: SigningKey) -> Jwk:
    data = json.loads(record.private_jwk)
    key = RSAKey.import_key(data) if record.alg == "RS256" else ECKey.import_key(data)
    return key


class KeyRing:
    """The keys in force: the newest unretired key of each algorithm signs, all of them verify."""

    def __init__(self, records: Sequence[SigningKey], *, known: KeyRing | None = None) -> None:
        """``known``: the ring this one replaces, whose keys are taken over by ``kid`` (the key's
        RFC 7638 thumbprint) rather than imported again: importing an RSA private key checks it,
        tens of milliseconds, and every node reloads its ring every minute."""
        self._records = list(records)
        imported: dict[str, Jwk] = known._keys if known is not None else {}
        self._keys: dict[str, Jwk] = {
            record.kid: imported.get(record.kid) or _import(record) for record in records
        }
        self._signers: dict[str, tuple[str, Jwk]] = {}
        for record in sorted(records, key=lambda r: r.created_at or datetime.min):
            if record.retired_at is None:
                self._signers[record.alg] = (record.kid, self._keys[record.kid])
        self._headers: dict[tuple[str, str], bytes] = {}
        self._key_set = KeySet(list(self._keys.values()))
        self._jwks = {"keys": [self._public(record) for record in records]}

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def can_sign(self, alg: str) -> bool:
        return alg in self._signers

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set: never a private member (RFC 7517 §9.2)."""
        return self._jwks

    def sign(self, claims: Mapping[str, Any], *, alg: str, typ: str) -> str:
        """A compact JWS (RFC 7515 §7.1), signed with ``cryptography`` directly: joserfc's
        header and key checks cost a third of an ES256 token, for values fixed per key."""
        kid, key = self._signers[alg]
        header = self._headers.get((alg, typ))
        if header is None:
            header = _b64(_json({"alg": alg, "kid": kid, "typ": typ}))
            self._headers[(alg, typ)] = header
        signing_input = header + b"." + _b64(_json(claims))
        signature = _signature(key, signing_input)
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def verify(self, token: str, *, typs: Iterable[str]) -> dict[str, Any]:
        """The claims of a token signed by one of our keys; InvalidToken otherwise.

        Only the signature and ``typ`` are checked here: expiry, issuer and audience are the
        caller's, since each token kind has its own rules.
        """
        try:
            decoded = jwt.decode(token, self._key_set, algorithms=SUPPORTED_ALGS)
        except (JoseError, ValueError) as exc:
            raise InvalidToken(f"token not valid: {type(exc).__name__}") from None
        if decoded.header.get("typ") not in set(typs):
            raise InvalidToken("token of the wrong type")
        return dict(decoded.claims)

    def _public(self, record: SigningKey) -> dict[str, Any]:
        public = dict(self._keys[record.kid].as_dict(private=False))
        return public | {"kid": record.kid, "alg": record.alg, "use": "sig"}


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _signature(key: Jwk, signing_input: bytes) -> bytes:
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        # cryptography gives a DER sequence; JWS wants raw R || S (RFC 7518 §3.4).
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(ES256_PART_BYTES, "big") + s.to_bytes(ES256_PART_BYTES, "big")
    if private is None:
        raise ValueError("a signing key without its private part")
    return private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # RS256, §3.3


def unverified_kid(token: str) -> str | None:
    """The ``kid`` in a compact JWS header, without verifying anything (to decide on a reload)."""
    try:
        header = token.split(".", 1)[0]
        padded = header + "=" * (-len(header) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, IndexError):
        return None
    kid = value.get("kid") if isinstance(value, dict) else None
    return kid if isinstance(kid, str) else None
