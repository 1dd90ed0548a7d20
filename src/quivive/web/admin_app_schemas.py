"""Bodies of the admin API's ``clients`` and ``rules`` resources, as its OpenAPI shows them.

Values are checked by the services the CLI uses too (so an unknown grant type is a 400 with the
same explanation everywhere); the models only bound sizes and shapes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quivive.domain.clients import Client
from quivive.protocols.oidc.rp_config import discovery_url
from quivive.services.gate_rules import RuleInForce

MAX_ITEMS = 64
Uri = Annotated[str, Field(min_length=1, max_length=2048)]
Word = Annotated[str, Field(min_length=1, max_length=64)]
Path = Annotated[str, Field(min_length=1, max_length=1024)]
Network = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientOut(BaseModel):
    client_id: str
    name: str
    public: bool = Field(description="No secret: a browser or mobile app, PKCE only")
    auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    grant_types: list[str]
    scopes: list[str]
    first_party: bool
    refresh_without_offline_access: bool
    signing_alg: str
    discovery_url: str = Field(description="What the application needs to find every endpoint")
    created_at: datetime

    @classmethod
    def of(cls, client: Client, issuer: str) -> ClientOut:
        return cls(
            client_id=client.client_id,
            name=client.name,
            public=client.is_public,
            auth_method=client.auth_method.value,
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            backchannel_logout_uri=client.backchannel_logout_uri,
            grant_types=[grant.value for grant in client.grant_types],
            scopes=list(client.scopes),
            first_party=client.first_party,
            refresh_without_offline_access=client.refresh_without_offline_access,
            signing_alg=client.signing_alg,
            discovery_url=discovery_url(issuer),
            created_at=client.created_at,
        )


class ClientCreated(ClientOut):
    client_secret: str | None = Field(
        description="Shown this once (null for public and private_key_jwt clients)"
    )


class ClientList(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: end")


class ClientCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=MAX_ITEMS)
    public: bool = Field(default=False, description="No secret (browser or mobile app)")
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=MAX_ITEMS)
    backchannel_logout_uri: Uri | None = None
    grant_types: list[Word] = Field(
        default_factory=list,
        max_length=8,
        description="authorization_code, refresh_token, client_credentials (default: first two)",
    )
    scopes: list[Word] = Field(default_factory=list, max_length=16)
    first_party: bool = Field(default=False, description="No consent page")
    auth_method: Word | None = Field(
        default=None,
        description="client_secret_basic (default), client_secret_post, private_key_jwt",
    )
    signing_alg: Word = "RS256"
    refresh_without_offline_access: bool = False
    jwks: dict[str, Any] | None = Field(default=None, description="Public keys, private_key_jwt")

    def jwks_text(self) -> str | None:
        return None if self.jwks is None else json.dumps(self.jwks)


class ClientPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    redirect_uris: list[Uri] | None = Field(default=None, max_length=MAX_ITEMS)
    post_logout_redirect_uris: list[Uri] | None = Field(default=None, max_length=MAX_ITEMS)
    backchannel_logout_uri: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, description='"": none'
    )
    grant_types: list[Word] | None = Field(default=None, max_length=8)
    scopes: list[Word] | None = Field(default=None, max_length=16)
    first_party: bool | None = None
    refresh_without_offline_access: bool | None = None
    signing_alg: Word | None = None


class ClientSecret(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown this once; the previous one stops working")


class RuleOut(BaseModel):
    id: int | None = Field(description="Rules set here; null for the configuration file's")
    source: Literal["database", "config"]
    host: str
    path_prefix: str
    roles: list[str]
    min_aal: int
    networks: list[str]
    networks_min_aal: int | None
    deny_outside_networks: bool
    bypass: list[str]
    allow_emergency: bool
    replaces_file_rule: bool = Field(description="Replaces the file's rule for this host and path")
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, item: RuleInForce) -> RuleOut:
        rule = item.rule
        return cls(
            id=item.id,
            source="database" if item.source == "database" else "config",
            host=rule.host,
            path_prefix=rule.path_prefix,
            roles=list(rule.roles),
            min_aal=int(rule.min_aal),
            networks=[str(network) for network in rule.networks],
            networks_min_aal=None if rule.networks_min_aal is None else int(rule.networks_min_aal),
            deny_outside_networks=rule.deny_outside_networks,
            bypass=list(rule.bypass),
            allow_emergency=rule.allow_emergency,
            replaces_file_rule=item.replaces_file_rule,
            updated_at=item.updated_at,
            updated_by=item.updated_by,
        )


class RuleList(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: end")


class RuleIn(Strict):
    """A rule with the keys of a ``[[gate.rules]]`` table (docs/gate.md)."""

    host: str = Field(min_length=1, max_length=253, description='"app.example" or "*.example"')
    path_prefix: Path = "/"
    roles: list[Word] = Field(default_factory=list, max_length=MAX_ITEMS)
    min_aal: int = Field(default=1, description="1 password, 2 two factors, 3 a security key")
    networks: list[Network] = Field(default_factory=list, max_length=MAX_ITEMS)
    networks_min_aal: int | None = None
    deny_outside_networks: bool = False
    bypass: list[Path] = Field(default_factory=list, max_length=MAX_ITEMS)
    allow_emergency: bool = False


class RulePatch(Strict):
    host: str | None = Field(default=None, min_length=1, max_length=253)
    path_prefix: Path | None = None
    roles: list[Word] | None = Field(default=None, max_length=MAX_ITEMS)
    min_aal: int | None = None
    networks: list[Network] | None = Field(default=None, max_length=MAX_ITEMS)
    networks_min_aal: int | None = Field(default=None, description="0: none")
    deny_outside_networks: bool | None = None
    bypass: list[Path] | None = Field(default=None, max_length=MAX_ITEMS)
    allow_emergency: bool | None = None
