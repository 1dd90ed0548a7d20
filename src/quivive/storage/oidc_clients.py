"""OAuth client repository: the only code that reads or writes ``oidc_clients``."""

from __future__ import annotations

from sqlalchemy import Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from quivive.domain.clients import AuthMethod, Client, GrantType
from quivive.errors import ConflictError, NotFoundError
from quivive.storage.tables import oidc_clients
from quivive.storage.unit_of_work import connection, transaction


class ClientRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, client: Client) -> None:
        try:
            with transaction(self._engine) as conn:
                conn.execute(insert(oidc_clients).values(**_to_row(client)))
        except IntegrityError as exc:
            raise ConflictError(f"client id already taken: {client.client_id}") from exc

    def find(self, client_id: str) -> Client | None:
        with connection(self._engine) as conn:
            row = conn.execute(
                select(oidc_clients).where(oidc_clients.c.client_id == client_id)
            ).first()
        return None if row is None else _to_client(row)

    def find_by_name(self, name: str) -> Client | None:
        with connection(self._engine) as conn:
            row = conn.execute(select(oidc_clients).where(oidc_clients.c.name == name)).first()
        return None if row is None else _to_client(row)

    def list(self) -> list[Client]:
        with connection(self._engine) as conn:
            rows = conn.execute(select(oidc_clients).order_by(oidc_clients.c.name)).all()
        return [_to_client(row) for row in rows]

    def remove(self, client_id: str) -> None:
        with transaction(self._engine) as conn:
            result = conn.execute(delete(oidc_clients).where(oidc_clients.c.client_id == client_id))
        if result.rowcount != 1:
            raise NotFoundError(f"no client {client_id!r}")

    def update(self, client: Client) -> None:
        """Write a client's settings (never its id, secret or creation time)."""
        values = _to_row(client)
        for kept in ("client_id", "secret_hash", "auth_method", "jwks", "created_at"):
            values.pop(kept)
        query = (
            update(oidc_clients).where(oidc_clients.c.client_id == client.client_id).values(values)
        )
        with transaction(self._engine) as conn:
            if conn.execute(query).rowcount != 1:
                raise NotFoundError(f"no client {client.client_id!r}")

    def set_secret_hash(self, client_id: str, secret_hash: str) -> None:
        query = (
            update(oidc_clients)
            .where(oidc_clients.c.client_id == client_id)
            .values(secret_hash=secret_hash)
        )
        with transaction(self._engine) as conn:
            if conn.execute(query).rowcount != 1:
                raise NotFoundError(f"no client {client_id!r}")


def _to_row(client: Client) -> dict[str, object]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "secret_hash": client.secret_hash,
        "auth_method": client.auth_method.value,
        "redirect_uris": " ".join(client.redirect_uris),
        "post_logout_redirect_uris": " ".join(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "grant_types": " ".join(grant.value for grant in client.grant_types),
        "scopes": " ".join(client.scopes),
        "first_party": client.first_party,
        "require_pkce": client.require_pkce,
        "refresh_without_offline_access": client.refresh_without_offline_access,
        "signing_alg": client.signing_alg,
        "jwks": client.jwks,
        "created_at": client.created_at,
    }


def _to_client(row: Row[tuple[object, ...]]) -> Client:
    m = row._mapping
    return Client(
        client_id=m["client_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        auth_method=AuthMethod(m["auth_method"]),
        redirect_uris=tuple(m["redirect_uris"].split()),
        post_logout_redirect_uris=tuple(m["post_logout_redirect_uris"].split()),
        backchannel_logout_uri=m["backchannel_logout_uri"],
        grant_types=tuple(GrantType(value) for value in m["grant_types"].split()),
        scopes=tuple(m["scopes"].split()),
        first_party=bool(m["first_party"]),
        require_pkce=bool(m["require_pkce"]),
        refresh_without_offline_access=bool(m["refresh_without_offline_access"]),
        signing_alg=m["signing_alg"],
        jwks=m["jwks"],
        created_at=m["created_at"],
    )
