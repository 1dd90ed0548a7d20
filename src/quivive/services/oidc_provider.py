"""The OpenID Connect provider's services, built together by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from quivive.clock import Clock
from quivive.config import Settings
from quivive.domain.audit import AuditSink
from quivive.services.deliveries import DeliveryService
from quivive.services.oidc import AuthorizationService, ProviderConfig
from quivive.services.oidc_clients import ClientRegistry
from quivive.services.oidc_keys import KeyService
from quivive.services.oidc_logout import LogoutService
from quivive.services.oidc_tokens import TokenService
from quivive.services.sessions import SessionService
from quivive.storage.oidc_clients import ClientRepository
from quivive.storage.oidc_grants import GrantRepository
from quivive.storage.oidc_keys import SigningKeyRepository
from quivive.storage.users import UserRepository


@dataclass(frozen=True, slots=True)
class OidcProvider:
    config: ProviderConfig
    keys: KeyService
    clients: ClientRegistry
    authorization: AuthorizationService
    tokens: TokenService
    logout: LogoutService


def build_oidc(
    settings: Settings,
    engine: Engine,
    users: UserRepository,
    sessions: SessionService,
    audit: AuditSink,
    clock: Clock,
    deliveries: DeliveryService,
) -> OidcProvider:
    config = ProviderConfig(
        issuer=settings.public_url,
        access_token_lifetime=settings.oidc.access_token_lifetime,
        id_token_lifetime=settings.oidc.id_token_lifetime,
        refresh_token_lifetime=settings.oidc.refresh_token_lifetime,
        finess=settings.oidc.finess,
    )
    grants = GrantRepository(engine)
    keys = KeyService(
        SigningKeyRepository(engine), clock, longest_token_lifetime=config.longest_signed_lifetime
    )
    clients = ClientRegistry(
        ClientRepository(engine), audit, clock, allow_http=settings.allow_insecure_http
    )
    logout = LogoutService(config, clients, grants, users, keys, audit, clock, deliveries)
    sessions.subscribe(logout)
    sessions.subscribe_rotation(logout)
    return OidcProvider(
        config=config,
        keys=keys,
        clients=clients,
        authorization=AuthorizationService(config, clients, grants, audit, clock),
        tokens=TokenService(config, clients, grants, users, keys, audit, clock),
        logout=logout,
    )
