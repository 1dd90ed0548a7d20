"""Texts of the posture report's checks, marked for translation (French in locales/fr).

Keyed by the check ids of ``quivive.domain.posture.CHECKS``; a test makes sure every check has
its four texts. ``source`` names the rule as an auditor would look it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quivive.web.i18n import N_


@dataclass(frozen=True, slots=True)
class CheckTexts:
    title: str
    rule: str  # what is required, in plain words
    source: str  # where the rule comes from
    action: str  # what to do when the check fails


CHECK_TEXTS: Mapping[str, CheckTexts] = {
    "password_only": CheckTexts(
        N_("No account signs in with a password alone"),
        N_("Every active account has a second factor (passkey, security key or TOTP)."),
        N_("ANS RIE FAQ: password alone is not compliant from 1 January 2026"),
        N_(
            "Set an MFA rule for each role with a near date, and help the listed people enrol a "
            "passkey or an authenticator app."
        ),
    ),
    "password_only_overdue": CheckTexts(
        N_("No password-only account past its enforcement date"),
        N_("Accounts whose role's MFA deadline has passed have enrolled a second factor."),
        N_("ANS RIE (homologation): MFA rule per role with a date and a grace period"),
        N_(
            "These people have not signed in since the deadline: contact them to enrol at their "
            "next sign-in, or disable the accounts that are no longer used."
        ),
    ),
    "mfa_rule_per_role": CheckTexts(
        N_("Every role has an MFA rule"),
        N_("Each role held by active accounts is covered by a rule requiring a second factor."),
        N_("ANS RIE FAQ; NIST SP 800-63B-4 AAL2"),
        N_(
            "Add a rule for the listed roles on the Policies page or with 'quivive policy set-mfa'."
        ),
    ),
    "phishing_resistant_share": CheckTexts(
        N_("Half of the accounts use a phishing-resistant factor"),
        N_("At least 50 % of active accounts have a passkey or a security key (Quivive target)."),
        N_("NIST SP 800-63B-4 (phishing resistance); ANSSI 2021 MFA guide"),
        N_(
            "Offer passkeys first: a fake sign-in page can steal a password and a TOTP code, "
            "not a passkey. Start with staff who work remotely."
        ),
    ),
    "admins_phishing_resistant": CheckTexts(
        N_("Administrators have a phishing-resistant factor"),
        N_("Every console account (admin, helpdesk, auditor) has a passkey or a security key."),
        N_("ANSSI 2021 MFA guide (privileged accounts); NIST SP 800-63B-4 AAL3"),
        N_(
            "Ask the listed administrators to register a security key or passkey on their "
            "account page this week."
        ),
    ),
    "console_requires_passkey": CheckTexts(
        N_("The console requires a passkey"),
        N_("Signing in to the administration console needs a phishing-resistant factor."),
        N_("ANSSI 2021 MFA guide (privileged accounts)"),
        N_("Set admin.require_phishing_resistant back to true in the configuration."),
    ),
    "dormant_accounts": CheckTexts(
        N_("No dormant accounts"),
        N_("No active account has gone 90 days without a sign-in."),
        N_("ANSSI 2021 guide (account lifecycle); OWASP ASVS 5.0 V6"),
        N_(
            "Check with the managers whether these people still work here; disable the accounts "
            "of those who left."
        ),
    ),
    "blocklisted_passwords": CheckTexts(
        N_("No known-weak passwords in use"),
        N_("No account signed in last with a password from the list of common and breached ones."),
        N_("NIST SP 800-63B-4 (blocklist); CNIL deliberation 2022-100"),
        N_(
            "Ask these people to change their password now; a second factor limits what a "
            "guessed password opens."
        ),
    ),
    "attacks": CheckTexts(
        N_("No password spraying or credential stuffing"),
        N_("No spraying or stuffing attack was detected in the last 30 days."),
        N_("NIST SP 800-63B-4 (throttling); OWASP ASVS 5.0 V6"),
        N_(
            "Look up the sources in the audit trail (attack.*), block them at the firewall, and "
            "make sure the accounts targeted have a second factor."
        ),
    ),
    "throttling_limit": CheckTexts(
        N_("Failed attempts are limited"),
        N_("After at most 100 consecutive failures, a password alone no longer signs in."),
        N_("NIST SP 800-63B-4 (rate limiting)"),
        N_("Set throttle.max_failures to 100 or less."),
    ),
    "emergency_reviewed": CheckTexts(
        N_("Emergency accesses are reviewed"),
        N_("No emergency access use has waited more than 7 days for its review."),
        N_("HIPAA emergency access procedure; DMP practice; CNIL"),
        N_(
            "The security officer reviews the waiting uses in the console and marks each "
            "justified or not, with a comment."
        ),
    ),
    "emergency_unjustified": CheckTexts(
        N_("No unjustified emergency access"),
        N_("No emergency access use of the last 30 days was judged unjustified."),
        N_("HIPAA emergency access procedure; CNIL"),
        N_(
            "Talk with the people concerned and their managers; find out why the normal sign-in "
            "did not work for them (lost key, no enrolled factor)."
        ),
    ),
    "audit_chain": CheckTexts(
        N_("The audit trail is intact"),
        N_("Every audit record's hash and link, and every signed checkpoint, verify."),
        N_("REQUIREMENTS (Audit): hash-chained, append-only records"),
        N_(
            "Treat it as an incident: run 'quivive audit verify', keep a copy of the database, "
            "and find who could write to it."
        ),
    ),
    "idle_timeout": CheckTexts(
        N_("Idle sessions end within an hour"),
        N_("Sessions end after at most 1 hour without activity (15 minutes on shared posts)."),
        N_("NIST SP 800-63B-4 AAL2: idle ≤ 1 h; OWASP ASVS 5.0 V7"),
        N_("Set session.idle_timeout to 15 min for shared care workstations, 1 h at most."),
    ),
    "absolute_timeout": CheckTexts(
        N_("Sessions end within a day"),
        N_("Sessions end at most 24 hours after sign-in, active or not."),
        N_("NIST SP 800-63B-4 AAL2: reauthentication ≤ 24 h; OWASP ASVS 5.0 V7"),
        N_("Set session.absolute_timeout to one shift (12 h) or less."),
    ),
    "password_length": CheckTexts(
        N_("Passwords have at least 12 characters"),
        N_("New passwords have at least 12 characters, without composition rules."),
        N_("CNIL deliberation 2022-100; ANSSI 2021 password guide"),
        N_("Set password.min_length to 12 or more."),
    ),
    "password_hashing": CheckTexts(
        N_("Passwords are stored with Argon2id"),
        N_("Argon2id with at least m=19456 KiB, t=2, p=1."),
        N_("OWASP Password Storage; CNIL deliberation 2022-100"),
        N_("Raise password.hash_memory_kib and password.hash_time_cost to the minimum."),
    ),
}

AUTHENTICATOR_KINDS: Mapping[str, str] = {
    "passkey_device_bound": N_("Device-bound passkeys and security keys"),
    "passkey_synced": N_("Synced passkeys"),
    "totp": N_("Authenticator apps (TOTP)"),
    "recovery_codes": N_("Unused recovery codes"),
    "password_only": N_("Password only"),
}

REPORT_KEPT = N_("The report is kept: the next one will show the trend from it.")
