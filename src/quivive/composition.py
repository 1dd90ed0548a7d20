"""The composition root: builds every service from the settings, once, for web and CLI."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from quivive.clock import Clock, SystemClock
from quivive.config import Settings
from quivive.domain.alerts import AlertSink
from quivive.domain.audit import AuditSink
from quivive.domain.emergency import EmergencyPolicy
from quivive.domain.throttling import DelayCurve, DetectionPolicy, ThrottlePolicy, ThrottleStore
from quivive.protocols.webauthn import RelyingParty
from quivive.services.accounts import AccountService, PasswordRules
from quivive.services.admin import AdminService, AdminStores
from quivive.services.admin_apps import AdminAppsService
from quivive.services.alert_channels import EmailAlertSink, FanOutAlertSink, WebhookAlertSink
from quivive.services.alert_log import LoggingAlertSink
from quivive.services.audit import AuditTrail, ChainedAuditSink, CheckpointSigner
from quivive.services.authentication import PasswordAuthenticator
from quivive.services.code_guard import CodeCheck, CodeGuard
from quivive.services.deliveries import DeliveryService
from quivive.services.devices import DeviceRecognition
from quivive.services.emergency_access import (
    EmergencyAccessService,
    EmergencyStores,
    enrolment_owed_by,
)
from quivive.services.emergency_witness import passkey_witness
from quivive.services.first_admin import FirstAdminSetup
from quivive.services.gate import GateService, RevocationFeed
from quivive.services.gate_rules import GateRuleService
from quivive.services.mailer import (
    EMAIL_KIND,
    MailDelivery,
    Mailer,
    NullMailer,
    QueuedMailer,
    mailer_for,
)
from quivive.services.metrics import MeteredAlertSink, MeteredAuditSink, Metrics
from quivive.services.mfa import FactorRegistry, MfaService
from quivive.services.mfa_policy import MfaPolicyService
from quivive.services.notifications import (
    NOTICE_KIND,
    AccountNoticeDelivery,
    AdminThrottleWatch,
    UserNotifier,
)
from quivive.services.oidc_logout import BACKCHANNEL_KIND
from quivive.services.oidc_provider import OidcProvider, build_oidc
from quivive.services.passkeys import PasskeyFactor, PasskeyService, PasskeyStores
from quivive.services.password_hashing import PasswordHasher
from quivive.services.policies import PolicyService
from quivive.services.posture_report import (
    PostureReportService,
    PostureSources,
    settings_in_force,
)
from quivive.services.recovery_codes import RecoveryCodeFactor
from quivive.services.secret_box import SecretBox
from quivive.services.sessions import SessionPolicy, SessionService
from quivive.services.sign_ins import SignInRecorder
from quivive.services.throttling import LoginThrottle
from quivive.services.totp import TotpFactor
from quivive.services.webhook import WEBHOOK_KIND, WebhookSender
from quivive.storage.admin_queries import AdminQueries
from quivive.storage.audit import AuditRepository
from quivive.storage.data_dir import load_or_create_key, prepare_data_dir
from quivive.storage.database import create_database_engine
from quivive.storage.emergency_accesses import EmergencyAccessRepository
from quivive.storage.factor_presence import FactorPresenceRepository
from quivive.storage.gate_rules import GateRuleRepository
from quivive.storage.known_devices import KnownDeviceRepository
from quivive.storage.mfa_rules import MfaRuleRepository
from quivive.storage.outbound_deliveries import OutboundDeliveryRepository
from quivive.storage.passkeys import PasskeyRepository
from quivive.storage.password_blocklist import ShippedBlocklist
from quivive.storage.policy_overrides import PolicyOverrideRepository
from quivive.storage.posture import PostureRepository
from quivive.storage.recovery_codes import RecoveryCodeRepository
from quivive.storage.session_revocations import (
    RedisRevocationFeed,
    RedisRevocationPublisher,
    SqlRevocationFeed,
    redis_client,
)
from quivive.storage.sessions import SessionRepository
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.storage.sign_ins import SignInRepository
from quivive.storage.throttle_redis import FallbackThrottleStore, RedisThrottleStore, connect
from quivive.storage.throttle_sql import SqlThrottleStore
from quivive.storage.totp import TotpRepository
from quivive.storage.unit_of_work import unit_of_work
from quivive.storage.users import UserRepository
from quivive.storage.webauthn_challenges import CeremonyRepository

# 256-bit key for HMACs over browser-held values (CSRF nonces).
FORM_KEY_BYTES = 32
FORM_KEY_FILE = "form.key"
# 256-bit HMAC key for password fingerprints (spraying detection): never the password itself.
THROTTLE_KEY_BYTES = 32
THROTTLE_KEY_FILE = "throttle.key"
# 256-bit HMAC key for the digests that stand in the audit trail for names matching no account.
PSEUDONYM_KEY_BYTES = 32
PSEUDONYM_KEY_FILE = "pseudonym.key"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    engine: Engine
    audit: AuditSink
    audit_trail: AuditTrail
    hasher: PasswordHasher
    users: UserRepository
    accounts: AccountService
    sessions: SessionService
    emergency: EmergencyAccessService  # emergency access (bris de glace) and its review
    authenticator: PasswordAuthenticator
    throttle: LoginThrottle
    code_guard: CodeGuard  # TOTP and recovery codes under the account's guess limit
    alerts: AlertSink
    first_admin: FirstAdminSetup
    passkeys: PasskeyService
    form_key: bytes
    oidc: OidcProvider
    mfa: MfaService
    mfa_policy: MfaPolicyService
    totp: TotpFactor
    recovery_codes: RecoveryCodeFactor
    sign_ins: SignInRepository
    mailer: Mailer
    gate: GateService
    gate_rules: GateRuleService  # the gate's access rules in force (file + console)
    admin: AdminService
    policies: PolicyService  # session timeouts, password length, throttling (file + console)
    metrics: Metrics
    # Outbound deliveries (e-mail, webhook, back-channel logout), queued in the database.
    outbox: DeliveryService
    devices: DeviceRecognition
    posture: PostureReportService  # the posture report (quivive report, /admin/report)

    @property
    def apps(self) -> AdminAppsService:
        """The console's and API's clients and gate rules (a stateless facade, built on use)."""
        return AdminAppsService(self.admin, self.oidc.clients, self.gate_rules)

    def unit_of_work(self) -> AbstractContextManager[Connection]:
        """One transaction for every repository call inside the block (storage.unit_of_work)."""
        return unit_of_work(self.engine)

    def close(self) -> None:
        self.outbox.close()
        self.hasher.close()
        self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    audit: AuditSink | None = None,
    alerts: AlertSink | None = None,
    schema: str | None = None,
) -> Services:
    """Wire everything. ``schema`` pins a PostgreSQL schema (tests run each in their own)."""
    clock = clock or SystemClock()
    prepare_data_dir(settings.data_dir)
    engine = create_database_engine(settings.database_url, schema=schema)
    audit_trail = AuditTrail(
        AuditRepository(engine), CheckpointSigner.from_data_dir(settings.data_dir), clock
    )
    metrics = Metrics()
    chained = ChainedAuditSink(audit_trail, observe=metrics.audit_append.observe)
    audit = MeteredAuditSink(audit or chained, metrics)
    outbox = DeliveryService(OutboundDeliveryRepository(engine), audit, clock)
    metrics.watch_failed_deliveries(outbox.count_failed)
    mailer = _mail(settings, engine, outbox)
    # Every login.* event of a known user also feeds the account page's recent sign-ins.
    audit = SignInRecorder(audit, UserRepository(engine), SignInRepository(engine))
    if not isinstance(mailer, NullMailer):
        audit = UserNotifier(audit, outbox)
    alerts = MeteredAlertSink(alerts or _alert_channels(settings, mailer, outbox), metrics)
    audit = AdminThrottleWatch(audit, UserRepository(engine), alerts)
    hasher = PasswordHasher(
        memory_kib=settings.password.hash_memory_kib,
        time_cost=settings.password.hash_time_cost,
        parallelism=settings.password.hash_parallelism,
        max_workers=settings.password.verify_workers,
    )
    users = UserRepository(engine)
    policies = PolicyService(settings, PolicyOverrideRepository(engine), audit, clock)
    sessions = SessionService(
        SessionRepository(engine),
        users,
        SessionPolicy(settings.session.idle_timeout, settings.session.absolute_timeout),
        clock,
        timeouts=policies.timeouts,
    )
    blocklist = ShippedBlocklist()
    rules = PasswordRules(
        min_length=settings.password.min_length,
        establishment_name=settings.establishment_name,
        blocklist=blocklist,
    )
    accounts = AccountService(
        users, sessions, hasher, rules, audit, clock, min_length=policies.min_length
    )
    passkeys = _passkeys(settings, engine, users, audit, alerts, clock)
    mfa = _mfa(settings, engine, sessions, audit, clock, passkeys)
    throttle = _login_throttle(settings, engine, audit, alerts, clock, policies)
    code_guard = CodeGuard(
        throttle, {"totp": mfa["totp"].verify, "recovery_code": mfa["recovery_codes"].use}, users
    )
    gate_rules = GateRuleService(settings.gate, GateRuleRepository(engine), audit, clock)
    oidc = build_oidc(settings, engine, users, sessions, audit, clock, outbox)
    outbox.register(BACKCHANNEL_KIND, oidc.logout.sender)
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        audit=audit,
        audit_trail=audit_trail,
        hasher=hasher,
        users=users,
        accounts=accounts,
        sessions=sessions,
        emergency=_emergency(
            settings,
            engine,
            sessions,
            (code_guard.totp_of, passkeys, mfa["mfa"]),
            audit,
            alerts,
            clock,
        ),
        authenticator=PasswordAuthenticator(
            users,
            hasher,
            audit,
            clock,
            throttle=throttle,
            pseudonym_key=load_or_create_key(
                settings.data_dir / PSEUDONYM_KEY_FILE, PSEUDONYM_KEY_BYTES
            ),
            blocklist=blocklist,
            unit_of_work=partial(unit_of_work, engine),
        ),
        throttle=throttle,
        code_guard=code_guard,
        alerts=alerts,
        first_admin=FirstAdminSetup(
            SetupTokenRepository(engine), users, accounts, settings.public_url, clock
        ),
        passkeys=passkeys,
        form_key=load_or_create_key(settings.data_dir / FORM_KEY_FILE, FORM_KEY_BYTES),
        oidc=oidc,
        gate=_gate(settings, engine, sessions, mfa["mfa"], clock, gate_rules),
        gate_rules=gate_rules,
        admin=_admin(
            settings,
            engine,
            users,
            accounts,
            sessions,
            mfa["mfa"],
            throttle,
            audit_trail,
            audit,
            clock,
            mfa["mfa_policy"],
        ),
        policies=policies,
        metrics=metrics,
        outbox=outbox,
        mailer=mailer,
        devices=DeviceRecognition(KnownDeviceRepository(engine), audit, clock),
        posture=_posture(
            settings, engine, users, audit_trail, audit, clock, mfa["mfa_policy"], policies
        ),
        **mfa,
    )


def _emergency(
    settings: Settings,
    engine: Engine,
    sessions: SessionService,
    # The witness's code and passkey; who owes enrolment.
    factors: tuple[CodeCheck, PasskeyService, MfaService],
    audit: AuditSink,
    alerts: AlertSink,
    clock: Clock,
) -> EmergencyAccessService:
    """Emergency access (bris de glace); told when sessions end, to audit an early sign-out."""
    config = settings.emergency
    policy = EmergencyPolicy(
        roles=frozenset(config.roles),
        duration=config.duration,
        max_uses=config.max_uses,
        min_justification=config.min_justification,
        two_person=config.two_person,
        review_overdue=timedelta(days=config.review_overdue_days),
        allow_without_factor=config.allow_without_factor,
    )
    stores = EmergencyStores(EmergencyAccessRepository(engine), UserRepository(engine))
    witness_code, passkeys, mfa = factors
    service = EmergencyAccessService(
        policy,
        stores,
        sessions,
        witness_code,
        audit,
        alerts,
        clock,
        owes_enrolment=enrolment_owed_by(mfa),
        verify_passkey=passkey_witness(passkeys),
    )
    sessions.subscribe(service)
    return service


def _mail(settings: Settings, engine: Engine, outbox: DeliveryService) -> Mailer:
    """E-mail through the queue when an SMTP server is configured; nothing is sent otherwise."""
    smtp = mailer_for(settings.smtp)
    if isinstance(smtp, NullMailer):
        return smtp
    outbox.register(EMAIL_KIND, MailDelivery(smtp))
    notices = AccountNoticeDelivery(
        UserRepository(engine),
        smtp,
        establishment=settings.establishment_name,
        language=settings.language,
    )
    outbox.register(NOTICE_KIND, notices)
    return QueuedMailer(outbox)


def _alert_channels(settings: Settings, mailer: Mailer, outbox: DeliveryService) -> AlertSink:
    """The log always; e-mail to the security officer and the webhook when configured."""
    sinks: list[AlertSink] = [LoggingAlertSink()]
    name = settings.establishment_name
    if settings.alerts.email and not isinstance(mailer, NullMailer):
        sinks.append(
            EmailAlertSink(
                mailer,
                settings.alerts.email,
                establishment=name,
                language=settings.language,
            )
        )
    if settings.webhook.url:
        sender = WebhookSender(settings.webhook.url, settings.webhook.secret, outbox)
        outbox.register(WEBHOOK_KIND, sender)
        sinks.append(WebhookAlertSink(sender, name))
    return FanOutAlertSink(sinks)


def _admin(
    settings: Settings,
    engine: Engine,
    users: UserRepository,
    accounts: AccountService,
    sessions: SessionService,
    mfa: MfaService,
    throttle: LoginThrottle,
    trail: AuditTrail,
    audit: AuditSink,
    clock: Clock,
    policy: MfaPolicyService,
) -> AdminService:
    stores = AdminStores(
        AdminQueries(engine, users),
        users,
        SetupTokenRepository(engine),
        SignInRepository(engine),
        trail,
        OutboundDeliveryRepository(engine),
    )
    return AdminService(
        stores,
        accounts,
        sessions,
        mfa.factors,
        throttle,
        audit,
        clock,
        policy=policy,
    )


def _gate(
    settings: Settings,
    engine: Engine,
    sessions: SessionService,
    mfa: MfaService,
    clock: Clock,
    rules: GateRuleService,
) -> GateService:
    """The forward-auth gate's session cache; revocations via Redis when configured."""
    feed: RevocationFeed = SqlRevocationFeed(engine)
    if settings.redis_url:
        client = redis_client(settings.redis_url)
        feed = RedisRevocationFeed(client, SqlRevocationFeed(engine))
        sessions.subscribe(RedisRevocationPublisher(client, clock))
    gate = GateService(sessions, mfa, feed, clock, rules=rules)
    sessions.subscribe(gate)
    return gate


def _passkeys(
    settings: Settings,
    engine: Engine,
    users: UserRepository,
    audit: AuditSink,
    alerts: AlertSink,
    clock: Clock,
) -> PasskeyService:
    # WebAuthn RP ID = the public host; the only accepted origin = the public URL's origin.
    scheme, _, rest = settings.public_url.partition("://")
    rp = RelyingParty(
        id=settings.public_host,
        name=settings.establishment_name,
        origin=f"{scheme}://{rest.split('/')[0]}",
    )
    stores = PasskeyStores(PasskeyRepository(engine), CeremonyRepository(engine), users)
    return PasskeyService(stores, rp, audit, alerts, clock)


def _mfa(
    settings: Settings,
    engine: Engine,
    sessions: SessionService,
    audit: AuditSink,
    clock: Clock,
    passkeys: PasskeyService,
) -> dict[str, Any]:
    """The second factors and the MFA policy. A new factor (passkeys, ...) joins ``factors``."""
    box = SecretBox(settings.secrets_key_file)
    totp = TotpFactor(TotpRepository(engine), box, settings.establishment_name, clock)
    recovery_codes = RecoveryCodeFactor(RecoveryCodeRepository(engine), clock)
    # Phishing-resistant first: the chooser offers factors in this order.
    factors = FactorRegistry(
        [PasskeyFactor(passkeys), totp, recovery_codes], presence=FactorPresenceRepository(engine)
    )
    policy = MfaPolicyService(settings.mfa_rules, MfaRuleRepository(engine), audit, clock)
    return {
        "mfa": MfaService(factors, policy, sessions, audit, clock, marks=UserRepository(engine)),
        "mfa_policy": policy,
        "totp": totp,
        "recovery_codes": recovery_codes,
        "sign_ins": SignInRepository(engine),
    }


def _login_throttle(
    settings: Settings,
    engine: Engine,
    audit: AuditSink,
    alerts: AlertSink,
    clock: Clock,
    policies: PolicyService,
) -> LoginThrottle:
    limits = settings.throttle
    policy = ThrottlePolicy(
        pair=DelayCurve(limits.free_attempts, limits.max_delay),
        source=DelayCurve(limits.address_free_attempts, limits.max_delay),
        max_failures=limits.max_failures,
        forget_after=limits.forget_after,
    )
    detection = DetectionPolicy(
        limits.detection_window, limits.spraying_accounts, limits.stuffing_accounts
    )
    store: ThrottleStore = SqlThrottleStore(engine)
    if settings.redis_url:
        store = FallbackThrottleStore(RedisThrottleStore(connect(settings.redis_url)), store)
    return LoginThrottle(
        store,
        policy,
        detection,
        fingerprint_key=load_or_create_key(
            settings.data_dir / THROTTLE_KEY_FILE, THROTTLE_KEY_BYTES
        ),
        audit=audit,
        alerts=alerts,
        clock=clock,
        policy_source=policies.throttle_policy,
    )


def _posture(
    settings: Settings,
    engine: Engine,
    users: UserRepository,
    trail: AuditTrail,
    audit: AuditSink,
    clock: Clock,
    policy: MfaPolicyService,
    policies: PolicyService,
) -> PostureReportService:
    sources = PostureSources(PostureRepository(engine), AdminQueries(engine, users), policy, trail)
    checked = settings_in_force(settings, policies)
    return PostureReportService(
        sources, checked, audit, clock, establishment=settings.establishment_name
    )
