"""The admin API's ``clients`` (OIDC applications) and ``rules`` (forward-auth gate) resources.

Included in the ``/api/admin/v1`` sub-application by ``admin_api``, with its error bodies. Lists
are short (an establishment has tens of applications), sorted by name or by host and path, and
paged with an opaque cursor naming the last item seen, so a page boundary survives additions and
removals in between.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.clients import Client
from quivive.errors import ValidationError
from quivive.services.admin import AdminActor
from quivive.services.gate_rules import RuleInForce, as_entry
from quivive.services.oidc_clients import ClientChanges, NewClient
from quivive.web.admin_access import api_actor
from quivive.web.admin_app_schemas import (
    ClientCreate,
    ClientCreated,
    ClientList,
    ClientOut,
    ClientPatch,
    ClientSecret,
    RuleIn,
    RuleList,
    RuleOut,
    RulePatch,
)
from quivive.web.state import WebState, web_state

T = TypeVar("T")
MAX_RULE_ID = 2**31 - 1


def _web(request: Request) -> WebState:
    return web_state(request)


Web = Annotated[WebState, Depends(_web)]
Actor = Annotated[AdminActor, Depends(api_actor)]
Cursor = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_=-]{1,2800}$", description="From next_cursor")
]
Limit = Annotated[int, Query(ge=1, le=200)]
ClientId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
RuleId = Annotated[int, Path(ge=1, le=MAX_RULE_ID)]

router = APIRouter()


def page(
    items: Sequence[T], key: Callable[[T], list[str]], cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """The items after the one ``cursor`` names (items are sorted by ``key``), and the next
    cursor; the cursor is the last key seen, base64url-encoded JSON."""
    after = _decoded(cursor) if cursor else None
    rest = [item for item in items if after is None or key(item) > after]
    chosen = rest[:limit]
    following = None
    if len(rest) > limit:
        raw = json.dumps(key(chosen[-1]), separators=(",", ":")).encode()
        following = base64.urlsafe_b64encode(raw).decode()
    return chosen, following


def _decoded(cursor: str) -> list[str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        value = None
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise ValidationError("cursor: not one this API gave", field="cursor")
    return value


def _client_key(client: Client) -> list[str]:
    return [client.name.casefold(), client.client_id]


def _rule_key(item: RuleInForce) -> list[str]:
    return [item.rule.host, item.rule.path_prefix]


def _issuer(web: WebState) -> str:
    return web.services.settings.public_url


# --- clients -----------------------------------------------------------------------------------


@router.get("/clients", response_model=ClientList, tags=["clients"])
def list_clients(web: Web, actor: Actor, cursor: Cursor = None, limit: Limit = 50) -> ClientList:
    """The OpenID Connect applications, by name (never their secrets)."""
    clients = sorted(web.services.apps.clients(actor), key=_client_key)
    chosen, following = page(clients, _client_key, cursor, limit)
    items = [ClientOut.of(client, _issuer(web)) for client in chosen]
    return ClientList(items=items, next_cursor=following)


@router.post("/clients", response_model=ClientCreated, status_code=201, tags=["clients"])
def create_client(web: Web, actor: Actor, body: ClientCreate) -> ClientCreated:
    """Register an application; its secret is in this answer and never again."""
    new = NewClient(
        name=body.name,
        redirect_uris=body.redirect_uris,
        public=body.public,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        backchannel_logout_uri=body.backchannel_logout_uri,
        grant_types=body.grant_types,
        scopes=body.scopes,
        first_party=body.first_party,
        auth_method=body.auth_method,
        signing_alg=body.signing_alg,
        refresh_without_offline_access=body.refresh_without_offline_access,
        jwks=body.jwks_text(),
    )
    client, secret = web.services.apps.create_client(actor, new)
    out = ClientOut.of(client, _issuer(web))
    return ClientCreated(**out.model_dump(), client_secret=secret)


@router.get("/clients/{client_id}", response_model=ClientOut, tags=["clients"])
def get_client(web: Web, actor: Actor, client_id: ClientId) -> ClientOut:
    return ClientOut.of(web.services.apps.client(actor, client_id), _issuer(web))


@router.patch("/clients/{client_id}", response_model=ClientOut, tags=["clients"])
def patch_client(web: Web, actor: Actor, client_id: ClientId, body: ClientPatch) -> ClientOut:
    """Change an application's settings (its authentication method stays as registered)."""
    changes = ClientChanges(**body.model_dump())
    return ClientOut.of(web.services.apps.update_client(actor, client_id, changes), _issuer(web))


@router.post("/clients/{client_id}/rotate-secret", response_model=ClientSecret, tags=["clients"])
def rotate_secret(web: Web, actor: Actor, client_id: ClientId) -> ClientSecret:
    """A new secret, in this answer only; the previous one stops working at once."""
    client, secret = web.services.apps.rotate_secret(actor, client_id)
    return ClientSecret(client_id=client.client_id, client_secret=secret)


@router.delete("/clients/{client_id}", status_code=204, tags=["clients"])
def delete_client(web: Web, actor: Actor, client_id: ClientId) -> Response:
    """Remove an application: its tokens stop working."""
    web.services.apps.remove_client(actor, client_id)
    return Response(status_code=204)


# --- rules -------------------------------------------------------------------------------------


@router.get("/rules", response_model=RuleList, tags=["rules"])
def list_rules(web: Web, actor: Actor, cursor: Cursor = None, limit: Limit = 50) -> RuleList:
    """Every gate rule in force, by host then path: the configuration file's (``source``
    config, read-only here) and those set here, which replace a file rule of the same host and
    path."""
    chosen, following = page(web.services.apps.rules(actor), _rule_key, cursor, limit)
    return RuleList(items=[RuleOut.of(item) for item in chosen], next_cursor=following)


@router.post("/rules", response_model=RuleOut, status_code=201, tags=["rules"])
def create_rule(web: Web, actor: Actor, body: RuleIn) -> RuleOut:
    """Add a rule (in force on every node within about a second)."""
    entry = body.model_dump(exclude_none=True)
    return RuleOut.of(web.services.apps.add_rule(actor, entry))


@router.get("/rules/{rule_id}", response_model=RuleOut, tags=["rules"])
def get_rule(web: Web, actor: Actor, rule_id: RuleId) -> RuleOut:
    return RuleOut.of(web.services.apps.rule(actor, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut, tags=["rules"])
def patch_rule(web: Web, actor: Actor, rule_id: RuleId, body: RulePatch) -> RuleOut:
    """Change some of a rule's keys; the rule as a whole is checked again."""
    apps = web.services.apps
    entry = as_entry(apps.rule(actor, rule_id).rule)
    entry.update(body.model_dump(exclude_none=True))
    if entry.get("networks_min_aal") == 0:
        del entry["networks_min_aal"]
    return RuleOut.of(apps.update_rule(actor, rule_id, entry))


@router.delete("/rules/{rule_id}", status_code=204, tags=["rules"])
def delete_rule(web: Web, actor: Actor, rule_id: RuleId) -> Response:
    """Remove a rule set here (a file rule it replaced applies again)."""
    web.services.apps.remove_rule(actor, rule_id)
    return Response(status_code=204)
