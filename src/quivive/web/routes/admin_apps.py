"""The console's applications (OIDC clients) under ``/admin/apps``.

List, register, edit, rotate the secret, remove; each application with copyable configuration
(discovery URL, client_id, redirect URIs, and blocks for common software). A new secret is shown
on the page that answers the POST which created it, marked no-store, and never again: only its
hash is kept. Changes need the CSRF token and an ``admin`` (auditors read, helpdesk sees nothing);
rotating and removing also need the confirmation box ticked.
"""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action
from quivive.domain.clients import SIGNING_ALGS, AuthMethod, Client, GrantType
from quivive.errors import ConflictError, NotFoundError, ValidationError
from quivive.protocols.oidc.claims import SERVICE_SCOPES, SUPPORTED_SCOPES
from quivive.protocols.oidc.rp_config import discovery_url, snippets
from quivive.services.admin import AdminActor
from quivive.services.oidc_clients import ClientChanges, NewClient
from quivive.web import admin_apps_messages as texts
from quivive.web.admin_access import console_actor, console_post
from quivive.web.admin_app_pages import checked, items, page_context, refusal
from quivive.web.routes.admin_console import _not_found
from quivive.web.state import WebState, see_other, web_state

router = APIRouter(prefix="/admin/apps", include_in_schema=False)

GRANTS = tuple(grant.value for grant in GrantType)
SCOPES = (*SUPPORTED_SCOPES, *SERVICE_SCOPES)
# Chosen from the console; private_key_jwt needs the application's keys (JWKS) as well.
AUTH_METHODS = tuple(method.value for method in AuthMethod if method is not AuthMethod.NONE)


def _choices(form: dict[str, str], prefix: str, values: tuple[str, ...]) -> list[str]:
    return [value for value in values if checked(form, f"{prefix}{value}")]


def _form_of(client: Client) -> dict[str, str]:
    """An application's settings as the edit form shows them."""
    form = {
        "name": client.name,
        "redirect_uris": "\n".join(client.redirect_uris),
        "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri or "",
        "signing_alg": client.signing_alg,
    }
    form |= {f"grant_{grant.value}": "yes" for grant in client.grant_types}
    form |= {f"scope_{scope}": "yes" for scope in client.scopes}
    if client.first_party:
        form["first_party"] = "yes"
    if client.refresh_without_offline_access:
        form["refresh_without_offline_access"] = "yes"
    return form


def _choice_context(web: WebState) -> dict[str, object]:
    return {
        "grants": GRANTS,
        "scopes": SCOPES,
        "auth_methods": AUTH_METHODS,
        "signing_algs": SIGNING_ALGS,
        "issuer": web.services.settings.public_url,
        "discovery_url": discovery_url(web.services.settings.public_url),
    }


@router.get("")
async def list_apps(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    clients = await to_thread.run_sync(partial(web.services.apps.clients, actor))
    context = page_context(request, actor, clients=clients, **_choice_context(web))
    return web.render_form(request, "admin_apps.html", context)


@router.get("/new")
async def new_app(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    web.services.admin.authorize(actor, Action.MANAGE_APPS)
    form = {"grant_authorization_code": "yes", "grant_refresh_token": "yes"}
    form |= {f"scope_{scope}": "yes" for scope in ("openid", "profile", "email")}
    return _new_page(request, actor, form, None)


def _new_page(
    request: Request, actor: AdminActor, form: dict[str, str], error: str | None
) -> Response:
    web = web_state(request)
    context = page_context(request, actor, form=form, error=error, **_choice_context(web))
    status = 400 if error else 200
    return web.render_form(request, "admin_app_new.html", context, status_code=status)


@router.post("")
async def create_app(request: Request) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    public = form.get("kind") == "public"
    new = NewClient(
        name=form.get("name", ""),
        redirect_uris=items(form.get("redirect_uris", "")),
        public=public,
        post_logout_redirect_uris=items(form.get("post_logout_redirect_uris", "")),
        backchannel_logout_uri=form.get("backchannel_logout_uri", "").strip() or None,
        grant_types=_choices(form, "grant_", GRANTS),
        scopes=_choices(form, "scope_", SCOPES),
        first_party=checked(form, "first_party"),
        auth_method=None if public else form.get("auth_method") or None,
        signing_alg=form.get("signing_alg") or "RS256",
        refresh_without_offline_access=checked(form, "refresh_without_offline_access"),
        jwks=form.get("jwks") or None,
    )
    try:
        client, secret = await to_thread.run_sync(
            partial(web.services.apps.create_client, actor, new)
        )
    except (ValidationError, ConflictError) as exc:
        return _new_page(request, actor, form, _client_refusal(web, request, exc))
    return await _app_page(request, actor, client, secret=secret, notice="created")


def _client_refusal(web: WebState, request: Request, exc: ValidationError | ConflictError) -> str:
    return refusal(web, request, exc, texts.CLIENT_FIELDS, texts.CLIENT_NAME_TAKEN)


@router.get("/{client_id}")
async def app_page(request: Request, client_id: str) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    try:
        client = await to_thread.run_sync(partial(web.services.apps.client, actor, client_id))
    except NotFoundError:
        return _not_found(request)
    return await _app_page(request, actor, client)


async def _app_page(
    request: Request,
    actor: AdminActor,
    client: Client,
    *,
    secret: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    """An application's page; ``secret`` only in the answer to the POST that made it."""
    web = web_state(request)
    issuer = web.services.settings.public_url
    context = page_context(
        request,
        actor,
        client=client,
        secret=secret,
        secret_once=web.translate(request, texts.SECRET_ONCE) if secret else None,
        snippets=snippets(client, issuer, secret),
        form=form or _form_of(client),
        error=error,
        **_choice_context(web),
    )
    if notice and not error:
        context["notice"] = web.translate(request, texts.NOTICES[notice])
    status = 400 if error else 200
    return web.render_form(request, "admin_app.html", context, status_code=status)  # no-store


@router.post("/{client_id}/edit")
async def edit_app(request: Request, client_id: str) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    changes = ClientChanges(
        name=form.get("name", ""),
        redirect_uris=items(form.get("redirect_uris", "")),
        post_logout_redirect_uris=items(form.get("post_logout_redirect_uris", "")),
        backchannel_logout_uri=form.get("backchannel_logout_uri", "").strip(),
        grant_types=_choices(form, "grant_", GRANTS),
        scopes=_choices(form, "scope_", SCOPES),
        first_party=checked(form, "first_party"),
        refresh_without_offline_access=checked(form, "refresh_without_offline_access"),
        signing_alg=form.get("signing_alg") or None,
    )
    try:
        await to_thread.run_sync(
            partial(web.services.apps.update_client, actor, client_id, changes)
        )
    except NotFoundError:
        return see_other("/admin/apps?notice=not_found")
    except (ValidationError, ConflictError) as exc:
        client = await to_thread.run_sync(partial(web.services.apps.client, actor, client_id))
        error = _client_refusal(web, request, exc)
        return await _app_page(request, actor, client, form=form, error=error)
    return see_other(f"/admin/apps/{client_id}?notice=updated")


@router.post("/{client_id}/rotate")
async def rotate_secret(request: Request, client_id: str) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, _, actor = post
    if refused := post.unconfirmed(Action.MANAGE_APPS, f"/admin/apps/{client_id}"):
        return refused
    try:
        client, secret = await to_thread.run_sync(
            partial(web.services.apps.rotate_secret, actor, client_id)
        )
    except NotFoundError:
        return see_other("/admin/apps?notice=not_found")
    except ValidationError as exc:
        client = await to_thread.run_sync(partial(web.services.apps.client, actor, client_id))
        error = _client_refusal(web, request, exc)
        return await _app_page(request, actor, client, error=error)
    return await _app_page(request, actor, client, secret=secret)


@router.post("/{client_id}/remove")
async def remove_app(request: Request, client_id: str) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, _, actor = post
    if refused := post.unconfirmed(Action.MANAGE_APPS, f"/admin/apps/{client_id}"):
        return refused
    try:
        await to_thread.run_sync(partial(web.services.apps.remove_client, actor, client_id))
    except NotFoundError:
        return see_other("/admin/apps?notice=not_found")
    return see_other("/admin/apps?notice=removed")
