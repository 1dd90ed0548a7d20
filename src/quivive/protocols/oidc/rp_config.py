"""What an application's administrator types into their software to sign users in with Quivive.

OpenID Connect Discovery 1.0 §4: a relying party that knows the issuer and the discovery URL finds
every endpoint itself, so each snippet gives those, the client's identifiers and redirect URIs,
and the few settings Quivive insists on (PKCE with S256, the token endpoint authentication
method). The secret is filled in only on the page shown right after it was created or rotated.
"""

from __future__ import annotations

from dataclasses import dataclass

from quivive.domain.clients import AuthMethod, Client, GrantType
from quivive.protocols.oidc.claims import SERVICE_SCOPES
from quivive.protocols.oidc.discovery import DISCOVERY_PATH, TOKEN_PATH

SECRET_PLACEHOLDER = "<the secret shown when the client was created or its secret rotated>"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Snippet:
    key: str  # "generic", "oauth2_proxy", "mod_auth_openidc", "client_credentials"
    title: str  # shown as is (product names and protocol terms need no translation)
    text: str


def snippets(client: Client, issuer: str, secret: str | None = None) -> list[Snippet]:
    """The configuration blocks that fit this client (browser sign-in, service account, or both)."""
    found = [Snippet("generic", "OpenID Connect", generic(client, issuer, secret))]
    if GrantType.AUTHORIZATION_CODE in client.grant_types and client.redirect_uris:
        found.append(Snippet("oauth2_proxy", "oauth2-proxy", oauth2_proxy(client, issuer, secret)))
        found.append(
            Snippet(
                "mod_auth_openidc",
                "Apache mod_auth_openidc",
                mod_auth_openidc(client, issuer, secret),
            )
        )
    if GrantType.CLIENT_CREDENTIALS in client.grant_types and not client.is_public:
        found.append(
            Snippet("client_credentials", "curl", client_credentials(client, issuer, secret))
        )
    return found


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


def generic(client: Client, issuer: str, secret: str | None = None) -> str:
    lines = [
        ("issuer", issuer),
        ("discovery URL", discovery_url(issuer)),
        ("client_id", client.client_id),
        ("client_secret", _secret(client, secret)),
        ("token endpoint authentication", client.auth_method.value),
        ("redirect URIs", " ".join(client.redirect_uris) or "-"),
        ("post-logout redirect URIs", " ".join(client.post_logout_redirect_uris) or "-"),
        ("grant types", " ".join(grant.value for grant in client.grant_types)),
        ("scopes", " ".join(client.scopes)),
        ("PKCE", "required, S256" if client.require_pkce else "optional"),
        ("ID token signing algorithm", client.signing_alg),
    ]
    width = max(len(name) for name, _ in lines) + 2
    return "".join(f"{name + ':':<{width}}{value}\n" for name, value in lines)


def _secret(client: Client, secret: str | None) -> str:
    if client.is_public:
        return "none (public client: PKCE only)"
    if client.auth_method is AuthMethod.PRIVATE_KEY_JWT:
        return "none (private_key_jwt: the application signs with its own key)"
    return secret or SECRET_PLACEHOLDER


def _browser_scopes(client: Client) -> str:
    return " ".join(scope for scope in client.scopes if scope != "offline_access")


def oauth2_proxy(client: Client, issuer: str, secret: str | None = None) -> str:
    return (
        "# oauth2-proxy.cfg\n"
        'provider = "oidc"\n'
        f'oidc_issuer_url = "{issuer}"\n'
        f'client_id = "{client.client_id}"\n'
        f'client_secret = "{_secret(client, secret)}"\n'
        f'redirect_url = "{client.redirect_uris[0]}"\n'
        f'scope = "{_browser_scopes(client)}"\n'
        'code_challenge_method = "S256"\n'
        'email_domains = ["*"]\n'
        'cookie_secret = "<32 random bytes, base64: openssl rand -base64 32 | tr -- +/ -_>"\n'
    )


def mod_auth_openidc(client: Client, issuer: str, secret: str | None = None) -> str:
    return (
        "# Apache, with mod_auth_openidc\n"
        f"OIDCProviderMetadataURL {discovery_url(issuer)}\n"
        f"OIDCClientID {client.client_id}\n"
        f"OIDCClientSecret {_secret(client, secret)}\n"
        f"OIDCRedirectURI {client.redirect_uris[0]}\n"
        f'OIDCScope "{_browser_scopes(client)}"\n'
        "OIDCResponseType code\n"
        "OIDCPKCEMethod S256\n"
        "OIDCCryptoPassphrase <a long random passphrase>\n"
        "<Location />\n"
        "    AuthType openid-connect\n"
        "    Require valid-user\n"
        "</Location>\n"
    )


def client_credentials(client: Client, issuer: str, secret: str | None = None) -> str:
    service_scopes = " ".join(s for s in client.scopes if s in SERVICE_SCOPES) or "openid"
    return (
        "# an access token for a script (client credentials grant)\n"
        f"curl -s -u '{client.client_id}:{_secret(client, secret)}' \\\n"
        f"    -d grant_type=client_credentials -d scope={service_scopes} \\\n"
        f"    {issuer.rstrip('/')}{TOKEN_PATH}\n"
    )
