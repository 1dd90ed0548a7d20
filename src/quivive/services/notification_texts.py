"""Plain-text e-mails to users and to the security officer, in French and English.

The user's language is not stored: the establishment's default (``language``) is used. Never a
secret, code or password in these texts: only what happened, when, and what to do about it.
"""

from __future__ import annotations

from datetime import datetime

from quivive.domain.alerts import Alert

SUBJECTS = {
    "fr": {
        "factor.added": "{name} : un facteur d'authentification a été ajouté",
        "factor.removed": "{name} : un facteur d'authentification a été supprimé",
        "password.changed": "{name} : votre mot de passe a été changé",
        "device.new": "{name} : connexion depuis un nouvel appareil",
        "emergency.granted": "{name} : accès d'urgence (bris de glace) à votre compte",
        "alert": "{name} : alerte de sécurité ({kind})",
    },
    "en": {
        "factor.added": "{name}: an authentication factor was added",
        "factor.removed": "{name}: an authentication factor was removed",
        "password.changed": "{name}: your password was changed",
        "device.new": "{name}: sign-in from a new device",
        "emergency.granted": "{name}: emergency access (break-glass) to your account",
        "alert": "{name}: security alert ({kind})",
    },
}

_WHAT = {
    "fr": {
        "factor.added": "Un facteur d'authentification ({factor}) a été ajouté à votre compte",
        "factor.removed": "Un facteur d'authentification ({factor}) a été retiré de votre compte",
        "password.changed": "Le mot de passe de votre compte a été changé",
        "device.new": "Une connexion à votre compte a eu lieu depuis un appareil ou "
        "navigateur que nous ne connaissions pas",
        "emergency.granted": "Un accès d'urgence (bris de glace, sans second facteur) a été "
        "ouvert sur votre compte ; il sera examiné par le responsable de la sécurité",
    },
    "en": {
        "factor.added": "An authentication factor ({factor}) was added to your account",
        "factor.removed": "An authentication factor ({factor}) was removed from your account",
        "password.changed": "The password of your account was changed",
        "device.new": "Your account was signed in to from a device or browser we had not "
        "seen before",
        "emergency.granted": "Emergency access (break-glass, without a second factor) was "
        "opened on your account; the security officer will review it",
    },
}

_USER_BODY = {
    "fr": (
        "Bonjour {user},\n\n{what} le {when}{source}.\n\n"
        "Si c'était vous, vous n'avez rien à faire. Sinon, prévenez tout de suite le support "
        "informatique : quelqu'un d'autre a peut-être accès à votre compte.\n\n— {name}\n"
    ),
    "en": (
        "Hello {user},\n\n{what} on {when}{source}.\n\n"
        "If this was you, there is nothing to do. If not, tell the IT help desk at once: someone "
        "else may have access to your account.\n\n— {name}\n"
    ),
}
_FROM = {"fr": " (adresse {address})", "en": " (address {address})"}

_ALERT_BODY = {
    "fr": "Alerte de sécurité {kind} le {when}.\n\n{summary}\n{source}{details}\n— {name}\n",
    "en": "Security alert {kind} on {when}.\n\n{summary}\n{source}{details}\n— {name}\n",
}
_ALERT_SOURCE = {"fr": "Adresse source : {address}\n", "en": "Source address: {address}\n"}
# An alert's ``summary`` is English (it also goes to the log and the webhook); in a French
# establishment the officer's e-mail says it in French, from the alert's details.
_FRENCH_SUMMARIES = {
    "emergency.granted": "accès d'urgence ouvert par {account} ({reason}) jusqu'au {until} UTC",
    "emergency.limit_reached": "accès d'urgence refusé à {account} : plafond atteint ({limit} "
    "sur 30 jours)",
    "emergency.witness_failed": "accès d'urgence demandé par {account} : la confirmation du "
    "collègue a échoué",
    "attack.spraying": "pulvérisation de mots de passe : un même mot de passe essayé sur "
    "{accounts} comptes ; source {source} bloquée",
    "attack.stuffing": "bourrage d'identifiants : {accounts} comptes en échec depuis {source} ; "
    "source bloquée",
    "throttle.admin": "compte administrateur {account} freiné ({reason})",
    "attack.code_guessing": "devinette de codes : {failures} codes à usage unique erronés de "
    "suite sur {account}, dont le mot de passe est connu ; ses codes sont refusés jusqu'à ce "
    "qu'un administrateur les débloque",
}

FACTOR_NAMES = {
    "fr": {
        "totp": "application d'authentification",
        "passkey": "clé d'accès",
        "recovery_code": "codes de secours",
    },
    "en": {"totp": "authenticator app", "passkey": "passkey", "recovery_code": "recovery codes"},
}


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def user_email(
    language: str,
    establishment: str,
    event: str,
    *,
    user: str,
    at: datetime,
    factor: str | None = None,
    source_address: str | None = None,
) -> tuple[str, str]:
    """(subject, body) telling ``user`` that ``event`` happened on their account."""
    lang = language if language in SUBJECTS else "en"
    factor_name = FACTOR_NAMES[lang].get(factor or "", factor or "")
    source = _FROM[lang].format(address=source_address) if source_address else ""
    body = _USER_BODY[lang].format(
        user=user,
        what=_WHAT[lang][event].format(factor=factor_name),
        when=_when(at),
        source=source,
        name=establishment,
    )
    return SUBJECTS[lang][event].format(name=establishment), body


def alert_email(language: str, establishment: str, alert: Alert) -> tuple[str, str]:
    lang = language if language in SUBJECTS else "en"
    source = (
        _ALERT_SOURCE[lang].format(address=alert.source_address) if alert.source_address else ""
    )
    details = "".join(f"{key}: {value}\n" for key, value in sorted(alert.details.items()))
    body = _ALERT_BODY[lang].format(
        kind=alert.kind,
        when=_when(alert.at),
        summary=_summary(lang, alert),
        source=source,
        details=details,
        name=establishment,
    )
    return SUBJECTS[lang]["alert"].format(name=establishment, kind=alert.kind), body


def _summary(language: str, alert: Alert) -> str:
    template = _FRENCH_SUMMARIES.get(alert.kind) if language == "fr" else None
    if template is None:
        return alert.summary
    values = {**alert.details, "source": alert.source_address or "?"}
    try:
        if "expires_at" in values:
            values["until"] = f"{datetime.fromisoformat(values['expires_at']):%Y-%m-%d %H:%M}"
        return template.format(**values)
    except (KeyError, ValueError):  # details missing or odd: English is better than nothing
        return alert.summary
