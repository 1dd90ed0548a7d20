"""The app's few pages, in French (default) or English, as plain HTML (no template engine)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from dossier_patient.oidc import ACR_EMERGENCY

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Dossier patient",
        "subtitle": "Application de démonstration connectée à Quivive (OpenID Connect)",
        "sign_in": "Se connecter avec Quivive",
        "sign_out": "Se déconnecter",
        "signed_out": "Vous n'êtes pas connecté·e.",
        "claims": "Ce que Quivive nous dit de vous (jeton d'identité)",
        "records": "Dossiers patients",
        "records_link": "Ouvrir les dossiers patients (exige AAL2)",
        "records_need": "Les dossiers patients exigent une authentification à deux facteurs "
        "(AAL2). Votre session est au niveau {acr}.",
        "retry": "Renforcer l'authentification",
        "emergency": "ACCÈS D'URGENCE (bris de glace) : session limitée, chaque consultation "
        "est tracée et sera revue par le responsable de la sécurité.",
        "failed": "La connexion a échoué. Veuillez réessayer.",
        "home": "Accueil",
        "patient": "Patient",
        "room": "Chambre",
        "note": "Dernière note",
    },
    "en": {
        "title": "Patient records",
        "subtitle": "Demo application signing in through Quivive (OpenID Connect)",
        "sign_in": "Sign in with Quivive",
        "sign_out": "Sign out",
        "signed_out": "You are not signed in.",
        "claims": "What Quivive tells us about you (ID token)",
        "records": "Patient records",
        "records_link": "Open the patient records (needs AAL2)",
        "records_need": "Patient records need two-factor authentication (AAL2). Your session "
        "is at {acr}.",
        "retry": "Step up the authentication",
        "emergency": "EMERGENCY ACCESS (break-glass): time-limited session; every record opened "
        "is logged and will be reviewed by the security officer.",
        "failed": "Sign-in failed. Please try again.",
        "home": "Home",
        "patient": "Patient",
        "room": "Room",
        "note": "Latest note",
    },
}
SHOWN_CLAIMS = ("name", "preferred_username", "email", "roles", "rpps", "finess", "acr", "amr")
# Invented patients: the app holds no real data.
PATIENTS = (
    ("Mme Jeanne Valette, 84 ans", "112", "Chute nocturne, surveillance neurologique"),
    ("M. Lucien Brard, 67 ans", "118", "Post-opératoire J2, douleur contrôlée"),
    ("Mme Aïcha Tandia, 45 ans", "203", "Bilan diabétique, régime adapté"),
)


def language(accept_language: str | None) -> str:
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "fr"


def page(lang: str, body: str, claims: Mapping[str, Any] | None) -> str:
    t = TEXTS[lang]
    banner = ""
    if claims and claims.get("acr") == ACR_EMERGENCY:
        banner = f'<p class="emergency" role="alert">{escape(t["emergency"])}</p>'
    nav = f'<a href="/">{escape(t["home"])}</a>'
    if claims:
        nav += f' · <a href="/logout">{escape(t["sign_out"])}</a>'
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(t["title"])}</title>
<style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto}}
.emergency{{background:#b00020;color:#fff;padding:1rem;font-weight:bold}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
</style></head><body>{banner}
<h1>{escape(t["title"])}</h1><p>{escape(t["subtitle"])}</p><nav>{nav}</nav>
{body}</body></html>"""


def home(lang: str, claims: Mapping[str, Any] | None) -> str:
    t = TEXTS[lang]
    if not claims:
        body = f'<p>{escape(t["signed_out"])}</p><p><a href="/login">{escape(t["sign_in"])}</a></p>'
        return page(lang, body, None)
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(_show(claims[name]))}</td></tr>"
        for name in SHOWN_CLAIMS
        if name in claims
    )
    body = (
        f'<h2>{escape(t["claims"])}</h2><table id="claims">{rows}</table>'
        f'<p><a href="/records">{escape(t["records_link"])}</a></p>'
    )
    return page(lang, body, claims)


def records(lang: str, claims: Mapping[str, Any]) -> str:
    t = TEXTS[lang]
    head = f"<tr><th>{t['patient']}</th><th>{t['room']}</th><th>{t['note']}</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(c)}</td></tr>"
        for a, b, c in PATIENTS
    )
    body = f'<h2>{escape(t["records"])}</h2><table id="records">{head}{rows}</table>'
    return page(lang, body, claims)


def insufficient(lang: str, claims: Mapping[str, Any]) -> str:
    t = TEXTS[lang]
    need = t["records_need"].format(acr=_show(claims.get("acr", "?")))
    retry = f'<a href="/login?step_up=1&amp;next=/records">{escape(t["retry"])}</a>'
    body = f"<p>{escape(need)}</p><p>{retry}</p>"
    return page(lang, body, claims)


def failed(lang: str) -> str:
    t = TEXTS[lang]
    body = f'<p>{escape(t["failed"])}</p><p><a href="/login">{escape(t["sign_in"])}</a></p>'
    return page(lang, body, None)


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
