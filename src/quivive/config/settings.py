"""The settings themselves: frozen dataclasses, and the security defaults as named constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from quivive.domain.gate import GateSettings
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.passwords import (
    DEFAULT_MIN_LENGTH,
    MIN_LENGTH_FLOOR,
    MIN_MEMORY_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
)
from quivive.domain.sessions import LEVEL_CAPS, AssuranceLevel

ENV_PREFIX = "QUIVIVE_"
CONFIG_FILE_ENV = "QUIVIVE_CONFIG"

# Shared care workstations are often left logged in; REQUIREMENTS (Sessions) sets 15 min.
DEFAULT_IDLE_TIMEOUT = timedelta(minutes=15)
# NIST SP 800-63B-4, AAL2: idle timeout at most 1 h, reauthentication at least every 24 h.
MAX_IDLE_TIMEOUT, MAX_ABSOLUTE_TIMEOUT = LEVEL_CAPS[AssuranceLevel.AAL2]
DEFAULT_ABSOLUTE_TIMEOUT = timedelta(hours=12)  # one care shift
MIN_TIMEOUT = timedelta(minutes=1)  # shorter cannot be used to log in at all
# Audit retention: a year of trail for the yearly review and most incident investigations (CNIL's
# 2021 logging recommendation: 6 months to 1 year), plus a margin so that last year's same month
# is still there. Under 30 days, evidence would go before most intrusions are even noticed.
DEFAULT_AUDIT_RETENTION = timedelta(days=400)
MIN_AUDIT_RETENTION = timedelta(days=30)
MAX_AUDIT_RETENTION = timedelta(days=3650)
MIN_PASSWORD_LENGTH_FLOOR = MIN_LENGTH_FLOOR
DEFAULT_MIN_PASSWORD_LENGTH = DEFAULT_MIN_LENGTH
# NIST: verifiers accept passwords of at least 64 characters, so a longer minimum makes no sense.
MAX_MIN_PASSWORD_LENGTH = 64
ARGON2_MIN_MEMORY_KIB = MIN_MEMORY_KIB
ARGON2_MIN_TIME_COST = MIN_TIME_COST
ARGON2_MIN_PARALLELISM = MIN_PARALLELISM
# Upper bounds catch a typo (an extra zero) before every login takes seconds or the server swaps;
# 4 GiB still admits RFC 9106's first recommended option (2 GiB).
ARGON2_MAX_MEMORY_KIB = 4 * 1024 * 1024
ARGON2_MAX_TIME_COST = 64
ARGON2_MAX_PARALLELISM = 64
MAX_VERIFY_WORKERS = 64
SQLITE_WORKER_THREADS = 4
POSTGRESQL_WORKER_THREADS = 8
MAX_WORKER_THREADS = 64
# Plain http is accepted for these hosts: browsers treat them as secure contexts (WebAuthn works).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class SessionSettings:
    idle_timeout: timedelta
    absolute_timeout: timedelta
    cookie_domain: str | None


@dataclass(frozen=True, slots=True)
class PasswordSettings:
    min_length: int
    hash_memory_kib: int
    hash_time_cost: int
    hash_parallelism: int
    verify_workers: int


# Login throttling (REQUIREMENTS, Attack resistance). NIST SP 800-63B-4 caps consecutive failed
# attempts on one account at 100 before something more than the password is required.
MAX_CONSECUTIVE_FAILURES = 100
DEFAULT_FREE_ATTEMPTS = 5  # per (account, address): typos cost nothing
# Per address, any account: several users behind one NAT mistype too, so more are free.
DEFAULT_ADDRESS_FREE_ATTEMPTS = 20
DEFAULT_MAX_DELAY = timedelta(minutes=15)
DEFAULT_FORGET_AFTER = timedelta(hours=1)
DEFAULT_DETECTION_WINDOW = timedelta(minutes=10)
DEFAULT_SPRAYING_ACCOUNTS = 10
DEFAULT_STUFFING_ACCOUNTS = 20


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    max_failures: int
    free_attempts: int
    address_free_attempts: int
    max_delay: timedelta
    forget_after: timedelta
    detection_window: timedelta
    spraying_accounts: int
    stuffing_accounts: int


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where security notifications (a recovery code was used) are sent from; host None: none."""

    host: str | None
    port: int
    sender: str | None
    username: str | None
    password: str | None = field(repr=False)
    starttls: bool


# OpenID Connect provider. RFC 9068 / OAuth 2.0 Security BCP: short-lived access tokens limit
# what a leaked one is worth; 10 minutes is the default, an hour the most we allow.
DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
MAX_ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
# Refresh tokens rotate on every use; this bounds how long an unused one stays valid (one shift).
DEFAULT_REFRESH_TOKEN_LIFETIME = timedelta(hours=12)
MAX_REFRESH_TOKEN_LIFETIME = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class OidcSettings:
    finess: str | None
    access_token_lifetime: timedelta
    id_token_lifetime: timedelta
    refresh_token_lifetime: timedelta


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where alerts are POSTed as signed JSON; url None: no webhook."""

    url: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    email: str | None = None  # the security officer's address


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    token: str | None = field(default=None, repr=False)
    # Scrapers usually run on the host itself; anything else must come with the token.
    localhost_only: bool = True


@dataclass(frozen=True, slots=True)
class AdminSettings:
    # Console sign-in needs a passkey by default (issue 7): a phished password and TOTP code must
    # not open every account of the establishment. `quivive admin recover` is the way out.
    require_phishing_resistant: bool = True
    # A set-up / re-enrolment link sent from the console: three days covers a weekend.
    enrolment_link_lifetime: timedelta = timedelta(hours=72)


# Emergency access (bris de glace, issue 8). Defaults from domain.emergency; caps keep it short.
MAX_EMERGENCY_DURATION = timedelta(hours=12)  # one shift at most: NIST's AAL3 absolute limit


@dataclass(frozen=True, slots=True)
class EmergencySettings:
    roles: tuple[str, ...] = ()  # empty: emergency access is off
    duration: timedelta = timedelta(hours=2)
    max_uses: int = 3  # per user per 30 days
    min_justification: int = 20
    two_person: bool = False
    review_overdue_days: int = 7
    allow_without_factor: bool = False  # no factor, past the deadline: refused unless true


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str = field(repr=False)  # may hold a password: keep it out of reprs and logs
    public_url: str
    allow_insecure_http: bool
    host: str
    port: int
    language: str
    trusted_proxies: int
    worker_threads: int
    establishment_name: str
    log_format: str
    log_level: str
    audit_retention: timedelta
    session: SessionSettings
    password: PasswordSettings
    throttle: ThrottleSettings
    redis_url: str | None = field(repr=False)  # may hold a password, as database_url
    oidc: OidcSettings
    smtp: SmtpSettings
    secrets_key_file: Path
    source: Path | None  # the TOML file read, if any
    mfa_rules: tuple[MfaRule, ...] = ()  # [[mfa.rules]] in the TOML file (no environment twin)
    # [gate] and [[gate.rules]] (config.gate; no env twin)
    gate: GateSettings = field(default_factory=GateSettings)
    admin: AdminSettings = AdminSettings()
    webhook: WebhookSettings = WebhookSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    emergency: EmergencySettings = EmergencySettings()

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def public_host(self) -> str:
        """Host name of ``public_url``, lower-cased: the WebAuthn relying-party ID."""
        return urlsplit(self.public_url).hostname or ""
