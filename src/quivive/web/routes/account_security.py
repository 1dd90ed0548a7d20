"""The security part of the account page: factors, recovery codes, sessions and recent sign-ins."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.sessions import Session, hash_token
from quivive.errors import LastFactorRequired, NotFoundError, ReauthenticationRequired
from quivive.services.mfa import Credential
from quivive.services.sessions import ActiveSession
from quivive.storage.sign_ins import SignIn
from quivive.web import messages
from quivive.web.forms import MAX_FIELD_LENGTH
from quivive.web.mfa_flow import REAUTH_PATH, origin_of, signed_in, with_next
from quivive.web.routes.mfa import show_recovery_codes
from quivive.web.state import WebState, see_other, web_state

router = APIRouter()

ACCOUNT_PATH = "/account"
RECENT_SIGN_INS = 20


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    current: bool
    created_at: datetime
    last_seen_at: datetime
    source_address: str | None
    user_agent: str | None
    aal: int


@dataclass(frozen=True, slots=True)
class FactorRow:
    credential: Credential
    label: str
    removable: bool


def session_id(session: Session) -> str:
    """A public handle for a session: never the stored hash itself, and never the token."""
    return hashlib.sha256(session.token_hash.encode()).hexdigest()[:20]


def account_context(web: WebState, request: Request, active: ActiveSession) -> dict[str, object]:
    """What the account page shows about factors, recovery codes, sessions and sign-ins."""
    user, current = active.user, hash_token(active.token)
    factors = [
        FactorRow(credential, web.translate(request, messages.factor_label(factor.name)), True)
        for factor in web.services.mfa.factors
        if not factor.is_backup
        for credential in factor.credentials(user.id)
    ]
    sessions = [
        SessionRow(
            session_id(session),
            session.token_hash == current,
            session.created_at,
            session.last_seen_at,
            session.source_address,
            session.user_agent,
            int(session.aal),
        )
        for session in web.services.sessions.list_for_user(user.id)
    ]
    sign_ins: list[SignIn] = web.services.sign_ins.recent(user.id, RECENT_SIGN_INS)
    enrol = [
        (web.translate(request, messages.factor_label(factor.name)), factor.enrol_path)
        for factor in web.services.mfa.factors
        if factor.enrol_path
    ]
    return {
        "factors": factors,
        "enrol_links": enrol,
        "recovery": web.services.recovery_codes.status(user.id),
        "sessions": sessions,
        "sign_ins": sign_ins,
        "method_labels": {
            key: web.translate(request, value) for key, value in messages.SIGN_IN_METHODS.items()
        },
    }


async def _posted(request: Request) -> tuple[dict[str, str], ActiveSession | Response]:
    web = web_state(request)
    form = await web.posted_form(request)
    return form, await signed_in(request)


def _back(notice: str | None = None) -> Response:
    return see_other(f"{ACCOUNT_PATH}?notice={notice}" if notice else ACCOUNT_PATH)


@router.post("/account/factors/{factor}/{credential_id}/remove", include_in_schema=False)
async def remove_factor(request: Request, factor: str, credential_id: str) -> Response:
    web = web_state(request)
    _form, gate = await _posted(request)
    if isinstance(gate, Response):
        return gate
    remove = partial(
        web.services.mfa.remove_credential,
        gate.user,
        gate.session,
        factor,
        credential_id,
        origin_of(request),
    )
    try:
        await to_thread.run_sync(remove)
    except ReauthenticationRequired:
        return see_other(with_next(REAUTH_PATH, ACCOUNT_PATH))
    except LastFactorRequired:
        return _back("last_factor")
    except NotFoundError:
        return _back("not_found")
    return _back("factor_removed")


@router.post("/account/factors/{factor}/{credential_id}/rename", include_in_schema=False)
async def rename_factor(request: Request, factor: str, credential_id: str) -> Response:
    web = web_state(request)
    form, gate = await _posted(request)
    if isinstance(gate, Response):
        return gate
    name = form.get("name", "")[:MAX_FIELD_LENGTH]
    rename = partial(
        web.services.mfa.rename_credential,
        gate.user,
        factor,
        credential_id,
        name,
        origin_of(request),
    )
    try:
        await to_thread.run_sync(rename)
    except NotFoundError:
        return _back("not_found")
    return _back("factor_renamed")


@router.post("/account/recovery-codes", include_in_schema=False)
async def regenerate_codes(request: Request) -> Response:
    web = web_state(request)
    _form, gate = await _posted(request)
    if isinstance(gate, Response):
        return gate
    try:
        web.services.mfa.require_recent_auth(gate.session)
    except ReauthenticationRequired:
        return see_other(with_next(REAUTH_PATH, ACCOUNT_PATH))
    if not await to_thread.run_sync(web.services.mfa.factors.primary_credentials, gate.user.id):
        return _back("no_factor")
    codes = await to_thread.run_sync(_regenerate, web, gate, request)
    return show_recovery_codes(request, codes, ACCOUNT_PATH)


def _regenerate(web: WebState, active: ActiveSession, request: Request) -> list[str]:
    codes = web.services.recovery_codes.generate(active.user.id)
    web.services.mfa.record_factor_change(
        "recovery_codes.generated", active.user, "recovery_code", "codes", origin_of(request)
    )
    return codes


@router.post("/account/sessions/{public_id}/revoke", include_in_schema=False)
async def revoke_session(request: Request, public_id: str) -> Response:
    web = web_state(request)
    _form, gate = await _posted(request)
    if isinstance(gate, Response):
        return gate
    ended = await to_thread.run_sync(_revoke_one, web, gate, public_id)
    return _back("session_revoked" if ended else "not_found")


def _revoke_one(web: WebState, active: ActiveSession, public_id: str) -> bool:
    for session in web.services.sessions.list_for_user(active.user.id):
        if session_id(session) == public_id:
            return web.services.sessions.end_for_user(active.user.id, session.token_hash)
    return False


@router.post("/account/sessions/revoke-others", include_in_schema=False)
async def revoke_others(request: Request) -> Response:
    web = web_state(request)
    _form, gate = await _posted(request)
    if isinstance(gate, Response):
        return gate
    end = partial(web.services.sessions.end_all_for_user, gate.user.id, keep_token=gate.token)
    await to_thread.run_sync(end)
    return _back("sessions_revoked")
